"""Latest prices are rewritten every 5 s, all of them: on PostgreSQL the table keeps half of each page
free so the new row versions fit on the same page (heap-only updates, no index entry written). The
table holds one short row per tracked ticker; the space it costs is nothing."""

from django.db import migrations

TABLE = "market_latestprice"


def set_fillfactor(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE {TABLE} SET (fillfactor = {value})")

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("market", "0002_ticker_directory"),
    ]

    operations = [
        migrations.RunPython(set_fillfactor(50), set_fillfactor(100), elidable=False),
    ]

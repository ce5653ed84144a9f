from django.apps import AppConfig


class FinallySiteConfig(AppConfig):
    name = "finally_site"
    verbose_name = "FinAlly site"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)

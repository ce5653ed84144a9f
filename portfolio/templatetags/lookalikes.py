"""``name|script_marked``: a name, with a visible note when it mixes scripts, so a look-alike such as
"Default" spelt with a Cyrillic e shows as ``Default [Latin + Cyrillic]`` wherever it is rendered.

A builtin library (``TEMPLATES`` in settings): templates use the filter without ``{% load %}``.
"""

from django import template
from django.utils.html import format_html

from portfolio import names

register = template.Library()


@register.filter
def script_marked(name) -> str:
    """``name`` escaped; when it mixes scripts, followed by ``<span class="mixed-script">`` naming them."""
    text = "" if name is None else str(name)
    if not names.mixes_scripts(text):
        return format_html("{}", text)
    scripts = " + ".join(script.replace("_", " ").title() for script in names.scripts_of(text))
    return format_html(
        '{}<span class="mixed-script" title="This name mixes letters of several scripts: it may imitate '
        'another name."> [{}]</span>',
        text,
        scripts,
    )

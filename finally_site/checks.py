"""System checks for the project's environment configuration."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.compatibility)
def check_environment(app_configs=None, **kwargs):
    """Report each bad environment variable as one named error instead of a traceback later."""
    return [
        Error(problem, hint="See README.md, 'Configuration'.", id=f"finally.E{index:03d}")
        for index, problem in enumerate(getattr(settings, "CONFIG_PROBLEMS", []), start=1)
    ]

"""Logging filters of the market app (installed by ``settings.LOGGING``)."""

import logging


class StaleHealthzFilter(logging.Filter):
    """Drops ``django.request``'s record of a 503 from ``/healthz``.

    A stale feed is reported by ``/healthz``'s body and status; Django would also log every 503 probe
    as an ERROR ("Service Unavailable: /healthz"), flooding the log of a monitored server. Django puts
    ``status_code`` and ``request`` on the records of that logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = getattr(request, "path", "")
        return not (getattr(record, "status_code", None) == 503 and path.rstrip("/") == "/healthz")

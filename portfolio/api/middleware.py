"""Every error under /api/ is JSON ``{"error"}``, also those Django answers before or around a view.

For a request under /api/, ``ApiErrorsMiddleware``:

- reads the body up front, so that the limits Django applies lazily when a body is first read
  (``DATA_UPLOAD_MAX_MEMORY_SIZE``, ``DATA_UPLOAD_MAX_NUMBER_FIELDS``, a form it cannot parse) are
  answered here: 413 for a body too large, 400 for too many fields, whatever the endpoint;
- turns an error answered in another format (Django's 404 for an unknown path, ninja's plain-text
  405, Django's 500 page or its DEBUG pages) into ``{"error"}`` with the same status and headers.

Other paths are left exactly as they were. Put it near the top of ``MIDDLEWARE``: it converts only
what the middleware below it answers. (daphne itself answers a bare 400 to a multipart body without
a boundary, before Django runs: that one cannot be JSON.)
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from .errors import as_json, exception_response, is_api_request


def _read_body(request):
    """None once the body is read and parsed, else the JSON answer to what Django refused."""
    try:
        request.body  # noqa: B018 (reading it is the point)
        request.POST  # noqa: B018
    except Exception as exc:
        return exception_response(request, exc)
    return None


class ApiErrorsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if not is_api_request(request):
            return self.get_response(request)
        refused = _read_body(request)
        if refused is not None:
            return refused
        return as_json(request, self.get_response(request))

    async def __acall__(self, request):
        if not is_api_request(request):
            return await self.get_response(request)
        refused = _read_body(request)
        if refused is not None:
            return refused
        return as_json(request, await self.get_response(request))

"""Pages answer a ``Forbidden`` raised anywhere below the view (a service refusing an action
that names no object) with the 403 page instead of a server error."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from fincrm.platform.errors import Forbidden
from fincrm.web.views import forbidden


class ForbiddenPageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Forbidden):
            return forbidden(request, exception)
        return None

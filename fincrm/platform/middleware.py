"""Request context: a request id (echoed in X-Request-ID), the client address, the user agent."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse

from fincrm.platform import context
from fincrm.platform.client_ip import client_ip
from fincrm.platform.errors import Forbidden

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        address = client_ip(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        request.client_ip = address  # type: ignore[attr-defined]
        user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
        with context.operation(request_id=request_id, client_ip=address, user_agent=user_agent):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ForbiddenPageMiddleware:
    """Pages answer a ``Forbidden`` raised below the view with the 403 page (handler403), never a 500.
    The API maps it to its own error body before it gets here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Forbidden):
            return response_for_exception(request, PermissionDenied(exception.permission))
        return None

"""The API base: one error body everywhere, mapped from the errors services raise.

Every answer that is not a success has the body ``{code, message, fields, request_id}``:
validation errors (422), malformed JSON (400), authentication (401), permission (403),
not found, including an unknown path under the API (404), a method the path does not
accept (405), a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE (413), the rate limit (429,
with Retry-After) and unexpected errors (500, logged with the request id, no traceback).

Authentication is attached by the caller (fincrm/api.py): ``build_api(auth=[...])``; this
module imports no app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, re_path
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.constants import NOT_SET
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import JSONRenderer

from fincrm.platform.errors import Forbidden, ServiceError
from fincrm.platform.ratelimit import RateLimited

logger = logging.getLogger("fincrm.api")

_MALFORMED_BODY = "Cannot parse request body"

# The API's renderer, shared with the views that serialize their own payload (platform.api_output).
RENDERER = JSONRenderer()


class ErrorOut(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] = {}
    request_id: str = ""


def error_body(
    request: HttpRequest, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "fields": fields or {},
        "request_id": getattr(request, "request_id", ""),
    }


def error_response(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
) -> HttpResponse:
    return api.create_response(request, error_body(request, code, message, fields), status=status)


def _field_name(location: tuple[object, ...]) -> str:
    # ninja reports ("body", "payload", "name"); integrators know the field as "name".
    parts = [
        str(part) for part in location if part not in ("body", "payload", "query", "path", "ninja_pagination")
    ]
    return ".".join(parts) or "__all__"


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
}


class FincrmNinjaAPI(NinjaAPI):
    """NinjaAPI whose every URL answers errors in the common body, including paths it does not know."""

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        patterns: list[URLResolver | URLPattern] = []
        for pattern in super()._get_urls():
            if isinstance(pattern, URLPattern):
                pattern = URLPattern(
                    pattern.pattern, self._guard(pattern.callback), pattern.default_args, pattern.name
                )
            patterns.append(pattern)
        # Last: anything else under the API's prefix is a JSON 404, never the HTML page.
        patterns.append(re_path(r"", self._guard(self._unknown_path), name="api-unknown-path"))
        return patterns

    def _unknown_path(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return error_response(self, request, 404, "not_found", _("There is no such API endpoint."))

    def _guard(self, view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        api = self

        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response(
                    api, request, 400, "bad_request", _("The Content-Length header is not valid.")
                )
            if declared > _body_limit(request):
                return _too_large(api, request)
            try:
                response = view(request, *args, **kwargs)
            except Http404:
                return error_response(api, request, 404, "not_found", _("Not found."))
            except RequestDataTooBig:
                return _too_large(api, request)
            if isinstance(response, HttpResponseNotAllowed):
                allowed = response["Allow"]
                response = error_response(
                    api, request, 405, "method_not_allowed", _("This endpoint does not accept that method.")
                )
                response["Allow"] = allowed
            return response

        # ninja marks its views csrf_exempt (CSRF is checked by the session authentication).
        guarded.csrf_exempt = True  # type: ignore[attr-defined]
        return guarded


def _body_limit(request: HttpRequest) -> int:
    """File uploads (multipart) stream to upload handlers, so they may be as large as an import
    file; Django still caps their other fields at DATA_UPLOAD_MAX_MEMORY_SIZE. Other bodies are
    read into memory: the API's own limit."""
    if request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
        # The largest upload any endpoint takes (a feed's zip: four import files); each endpoint
        # enforces its own, smaller cap while the file streams in.
        return max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, 4 * int(settings.FINCRM_IMPORT_MAX_BYTES))
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def _too_large(api: NinjaAPI, request: HttpRequest) -> HttpResponse:
    return error_response(
        api,
        request,
        413,
        "payload_too_large",
        _("The request body is larger than %(limit)d bytes.") % {"limit": _body_limit(request)},
    )


def build_api(*, auth: Sequence[Any] | None = None) -> NinjaAPI:
    api = FincrmNinjaAPI(
        title="fincrm API",
        version="1",
        urls_namespace="api-1",
        docs_url="/docs",
        openapi_url="/openapi.json",
        auth=list(auth) if auth else NOT_SET,
        renderer=RENDERER,
    )

    @api.exception_handler(NinjaValidationError)
    def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        fields: dict[str, list[str]] = {}
        for error in exc.errors:
            fields.setdefault(_field_name(tuple(error.get("loc", ()))), []).append(str(error.get("msg", "")))
        return error_response(
            api, request, 422, "validation_error", _("Please correct the marked fields."), fields
        )

    @api.exception_handler(ServiceError)
    def service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
        return error_response(api, request, exc.status, exc.code, str(exc.message), exc.fields)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        # NotFound (out of scope or missing) included: the same answer, so existence never leaks.
        return error_response(api, request, 404, "not_found", _("Not found."))

    @api.exception_handler(Forbidden)
    def forbidden(request: HttpRequest, exc: Forbidden) -> HttpResponse:
        return error_response(api, request, 403, "forbidden", _("You do not have permission to do this."))

    @api.exception_handler(PermissionDenied)
    def permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(api, request, 403, "forbidden", _("You do not have permission to do this."))

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = error_response(
            api, request, 401, "unauthenticated", _("Sign in or send a valid API token.")
        )
        response["WWW-Authenticate"] = 'Bearer realm="fincrm"'
        return response

    @api.exception_handler(AuthorizationError)
    def unauthorized(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
        return error_response(api, request, 403, "forbidden", _("You do not have permission to do this."))

    @api.exception_handler(RequestDataTooBig)
    def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return _too_large(api, request)

    @api.exception_handler(RateLimited)
    def rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
        response = error_response(
            api,
            request,
            429,
            "rate_limited",
            _("Too many requests: wait %(seconds)d seconds.") % {"seconds": exc.retry_after},
        )
        response["Retry-After"] = str(exc.retry_after)
        return response

    @api.exception_handler(Throttled)
    def throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        return error_response(api, request, 429, "rate_limited", _("Too many requests: try again later."))

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        status = exc.status_code
        if status == 400 and str(exc).startswith(_MALFORMED_BODY):
            return error_response(
                api, request, 400, "malformed_body", _("The request body is not valid JSON.")
            )
        return error_response(api, request, status, _STATUS_CODES.get(status, "error"), str(exc))

    @api.exception_handler(Exception)
    def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception(
            "unexpected error in %s %s (request %s)",
            request.method,
            request.path,
            getattr(request, "request_id", ""),
        )
        return error_response(
            api,
            request,
            500,
            "server_error",
            _("Something went wrong on our side. Quote the request id when you report it."),
        )

    return api

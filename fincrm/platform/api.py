"""The API base: one error body everywhere, mapped from the errors services raise."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from fincrm.platform.errors import Forbidden, NotFound, ServiceError


class ErrorOut(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] = {}
    request_id: str = ""


def error_response(
    api: NinjaAPI, request: HttpRequest, status: int, code: str, message: str,
    fields: dict[str, list[str]] | None = None,
) -> HttpResponse:
    body = {
        "code": code,
        "message": message,
        "fields": fields or {},
        "request_id": getattr(request, "request_id", ""),
    }
    return api.create_response(request, body, status=status)


def _field_name(location: tuple[object, ...]) -> str:
    # ninja reports ("body", "payload", "name"); integrators know the field as "name".
    parts = [str(part) for part in location if part not in ("body", "payload", "query", "path")]
    return ".".join(parts) or "__all__"


def build_api() -> NinjaAPI:
    api = NinjaAPI(
        title="fincrm API",
        version="1",
        urls_namespace="api-1",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )

    @api.exception_handler(NinjaValidationError)
    def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        fields: dict[str, list[str]] = {}
        for error in exc.errors:
            fields.setdefault(_field_name(tuple(error.get("loc", ()))), []).append(str(error.get("msg", "")))
        return error_response(api, request, 422, "validation_error", _("Please correct the marked fields."), fields)

    @api.exception_handler(ServiceError)
    def service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
        return error_response(api, request, exc.status, exc.code, str(exc.message), exc.fields)

    @api.exception_handler(NotFound)
    def not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
        return error_response(api, request, 404, "not_found", _("Not found."))

    @api.exception_handler(Forbidden)
    def forbidden(request: HttpRequest, exc: Forbidden) -> HttpResponse:
        return error_response(api, request, 403, "forbidden", _("You do not have permission to do this."))

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(api, request, 401, "unauthenticated", _("Sign in or send a valid API token."))

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(api, request, exc.status_code, "error", str(exc))

    return api

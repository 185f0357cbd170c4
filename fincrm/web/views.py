"""The home page, the notifications partial and the error pages."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from fincrm.users.roles import builtin_name
from fincrm.users.selectors.sessions import own_roles

logger = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    roles = [builtin_name(role.code, role.name) for role in own_roles(actor=request.actor)]  # type: ignore[attr-defined]
    return render(request, "web/home.html", {"roles": roles})


@require_GET
@never_cache
def notifications(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        if request.headers.get("HX-Request") == "true":
            # A background poll after the session ended: send the whole page to sign-in.
            current = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
            response = redirect_to_login(current)
            answer = HttpResponse(status=401)
            answer["HX-Redirect"] = response["Location"]
            return answer
        return redirect_to_login(request.get_full_path())
    return render(request, "web/partials/notifications.html")


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    context = {
        "status": status,
        "error_title": title,
        "error_message": message,
        "request_id": getattr(request, "request_id", ""),
    }
    return render(request, "web/error.html", context, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, _("Bad request"), _("The request could not be understood."))


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request, 403, _("Access denied"), _("You do not have permission to open this page or do this action.")
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request, 404, _("Page not found"), _("The page does not exist, or it is not available to you.")
    )


def server_error(request: HttpRequest) -> HttpResponse:
    context = {
        "status": 500,
        "error_title": _("Server error"),
        "error_message": _("Something went wrong on our side. The error has been logged."),
        "request_id": getattr(request, "request_id", ""),
    }
    try:
        return render(request, "web/error.html", context, status=500)
    except Exception:
        # The shell needs the database and the actor; the cause of the 500 may be either.
        logger.exception("the 500 page fell back to the minimal template")
        html = loader.get_template("web/error_minimal.html").render(context)
        return HttpResponse(html, status=500)

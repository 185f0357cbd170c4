"""The URL configuration for shell tests: the real one plus a few views that fail on purpose.

If an app has not landed yet, its namespace is replaced by stubs at the real paths, so the
navigation tests do not depend on which apps exist (the session policy caches these paths).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, URLPattern, URLResolver, include, path, reverse

from fincrm import urls as real
from fincrm.platform.errors import Forbidden
from fincrm.platform.views import permission_required_page


def stub(request: HttpRequest) -> HttpResponse:
    return HttpResponse("stub")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


def refuse(request: HttpRequest) -> HttpResponse:
    raise Forbidden("settings.manage")


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("tampered")


def message_then_home(request: HttpRequest) -> HttpResponse:
    messages.success(request, "Saved.")
    messages.error(request, "Could not save.")
    return redirect("web:home")


@permission_required_page("user.manage")
def manage_users(request: HttpRequest) -> HttpResponse:
    return HttpResponse("managed")


# namespace -> (prefix in fincrm/urls.py, {url name: path below the prefix})
NEEDED = {
    "users": (
        "",
        {
            "sign-in": "signin/",
            "mfa-verify": "signin/verify/",
            "sign-out": "signout/",
            "account": "account/",
            "password-change": "account/password/",
            "session-list": "account/sessions/",
            "mfa-setup": "account/mfa/",
            "token-list": "account/tokens/",
            "user-list": "admin/users/",
            "role-list": "admin/roles/",
            "approval-list": "admin/approvals/",
        },
    ),
    "org": ("admin/org/", {"unit-list": "", "team-list": "teams/"}),
    "audit": ("security/", {"alert-list": "alerts/", "event-list": "audit/"}),
}


def _complete(namespace: str, names: dict[str, str]) -> bool:
    for name in names:
        try:
            reverse(f"{namespace}:{name}", urlconf=real)
        except NoReverseMatch:
            return False
    return True


def _patterns() -> list[Any]:
    stubbed = {ns for ns, (_prefix, names) in NEEDED.items() if not _complete(ns, names)}
    patterns: list[URLPattern | URLResolver] = []
    for entry in real.urlpatterns:
        if isinstance(entry, URLResolver) and entry.namespace in stubbed:
            continue
        patterns.append(entry)
    for namespace in sorted(stubbed):
        prefix, names = NEEDED[namespace]
        stubs = [path(route, stub, name=name) for name, route in names.items()]
        patterns.insert(0, path(prefix, include((stubs, namespace))))
    return patterns


urlpatterns = [
    path("test/boom/", boom),
    path("test/refuse/", refuse),
    path("test/suspicious/", suspicious),
    path("test/manage-users/", manage_users),
    path("test/message/", message_then_home),
    *_patterns(),
]

handler400 = "fincrm.web.views.bad_request"
handler403 = "fincrm.web.views.forbidden"
handler404 = "fincrm.web.views.not_found"
handler500 = "fincrm.web.views.server_error"

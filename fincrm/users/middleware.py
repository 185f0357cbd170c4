"""request.actor for pages, and the session policy: idle timeout, absolute lifetime,
forced password change and MFA enrolment before anything else."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from fincrm.platform.actor import Actor
from fincrm.users.actors import actor_for_user
from fincrm.users.services.mfa import user_requires_mfa
from fincrm.users.services.sessions import (
    user_session_exists,
    user_session_forget,
    user_session_touch,
)
from fincrm.users.sessions import SESSION_AUTH_AT, SESSION_LAST_ACTIVITY, SESSION_MFA_OK, SESSION_REGISTERED


def _actor(request: HttpRequest) -> Actor:
    user = request.user
    if user.is_authenticated:
        return actor_for_user(user)
    return Actor.anonymous()


class ActorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.actor = SimpleLazyObject(lambda: _actor(request))  # type: ignore[attr-defined]
        return self.get_response(request)


# A user's activity is written at most this often (seconds): every request need not write two rows.
ACTIVITY_RESOLUTION_SECONDS = 15
BACKGROUND_HEADER = "X-Fincrm-Background"


@functools.cache
def _paths() -> dict[str, str]:
    return {
        "sign_in": reverse("users:sign-in"),
        "mfa_verify": reverse("users:mfa-verify"),
        "sign_out": reverse("users:sign-out"),
        "password_change": reverse("users:password-change"),
        "mfa_setup": reverse("users:mfa-setup"),
    }


def _static_prefix() -> str:
    static_url = str(settings.STATIC_URL or "/static/")
    return static_url if static_url.startswith("/") else "/" + static_url


class SessionPolicyMiddleware:
    """For signed-in users: end sessions past the idle or absolute limit, or whose UserSession
    row is gone (ended by the user elsewhere or by an administrator); confine a user who must
    change the password, or who needs a second factor and has not given one, to that page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith((_static_prefix(), "/i18n/")) or not request.user.is_authenticated:
            return self.get_response(request)
        is_api = path.startswith("/api/")
        answer_401 = is_api or "HX-Request" in request.headers
        session = request.session
        now = time.time()
        auth_at = session.get(SESSION_AUTH_AT)
        last_activity = session.get(SESSION_LAST_ACTIVITY)
        if (
            not isinstance(auth_at, int | float)
            or not isinstance(last_activity, int | float)
            or now - auth_at > settings.FINCRM_SESSION_ABSOLUTE_SECONDS
            or now - last_activity > settings.FINCRM_SESSION_IDLE_SECONDS
            or not session.session_key
        ):
            return self._end(request, answer_401)
        # A session whose row is gone was ended elsewhere (by its user or an administrator).
        if not session.get(SESSION_REGISTERED) or not user_session_exists(session_key=session.session_key):
            return self._end(request, answer_401)
        if (
            request.headers.get(BACKGROUND_HEADER) != "1"
            and now - last_activity >= ACTIVITY_RESOLUTION_SECONDS
        ):
            session[SESSION_LAST_ACTIVITY] = int(now)
            user_session_touch(session_key=session.session_key)
        paths = _paths()
        if is_api or path in (paths["sign_in"], paths["mfa_verify"], paths["sign_out"]):
            return self.get_response(request)
        user = request.user
        confined_to = ""
        if getattr(user, "must_change_password", False):
            confined_to = paths["password_change"]
        elif not session.get(SESSION_MFA_OK) and user_requires_mfa(user_id=user.pk):
            confined_to = paths["mfa_setup"]
        # The page shell hides navigation and background polling while the user is confined.
        request.confined_to = confined_to  # type: ignore[attr-defined]
        if confined_to and path != confined_to:
            return self._confine(confined_to, answer_401)
        return self.get_response(request)

    @staticmethod
    def _confine(target: str, answer_401: bool) -> HttpResponse:
        if answer_401:
            return HttpResponseForbidden()
        return HttpResponseRedirect(target)

    @staticmethod
    def _end(request: HttpRequest, answer_401: bool) -> HttpResponse:
        if request.session.session_key:
            user_session_forget(session_key=request.session.session_key)
        logout(request)
        message = _("Your session has ended; please sign in again")
        if "HX-Request" in request.headers and not request.path_info.startswith("/api/"):
            # A page's background request: send the whole page to sign-in, with the message.
            messages.info(request, message)
            current = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
            answer = HttpResponse(status=401)
            answer["HX-Redirect"] = redirect_to_login(current)["Location"]
            return answer
        if answer_401:
            body: dict[str, object] = {
                "code": "session_ended",
                "message": str(message),
                "fields": {},
                "request_id": getattr(request, "request_id", ""),
            }
            return JsonResponse(body, status=401)
        messages.info(request, message)
        if request.method == "GET":
            return redirect_to_login(request.get_full_path())
        return HttpResponseRedirect(_paths()["sign_in"])

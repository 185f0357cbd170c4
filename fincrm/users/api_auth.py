"""How an API call proves who it is: a bearer token or the browser's signed-in session.

Both set ``request.actor`` and count the call against the per-minute rate limit (per token,
or per user for session calls). A bearer request needs no CSRF token (a browser never adds
the header by itself); a session request changing something must carry one.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from fincrm.platform import hooks, ratelimit
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.users.actors import actor_for_user
from fincrm.users.models import ApiToken, User
from fincrm.users.services.mfa import user_requires_mfa
from fincrm.users.services.tokens import Rejection, api_token_authenticate
from fincrm.users.sessions import SESSION_MFA_OK

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
_RATE_WINDOW_SECONDS = 60


def _count_call(key: str) -> None:
    ratelimit.enforce(key, settings.FINCRM_API_RATE_LIMIT_PER_MINUTE, _RATE_WINDOW_SECONDS)


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer fcrm_<prefix>_<secret>``. A bad token is a 401, never a fallback."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get(self.header, "")
        if not header:
            return None
        scheme, _space, credential = header.partition(" ")
        if scheme.lower() != self.openapi_scheme:
            raise AuthenticationError
        return self.authenticate(request, credential.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        result = api_token_authenticate(token)
        if isinstance(result, Rejection):
            hooks.security_recorder()(
                Actor.anonymous(),
                "api.token.rejected",
                severity="warning",
                detail={"reason": result.reason, "prefix": result.prefix},
                user_id=result.owner_id,
            )
            raise AuthenticationError
        owner: User = result.owner
        request.user = owner
        request.actor = actor_for_user(owner, token=result)  # type: ignore[attr-defined]
        request.api_token = result  # type: ignore[attr-defined]
        _count_call(f"api:token:{result.pk}")
        return result


class SessionAuth(APIKeyCookie):
    """The browser's Django session; CSRF is required for anything but a read."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        # csrf=True tells ninja's docs page to send the CSRF token; the check itself is below,
        # after authentication, so an anonymous call answers 401 rather than a CSRF failure.
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any:
        user = request.user
        if not user.is_authenticated:
            return None
        unsafe = request.method not in _SAFE_METHODS and not getattr(request, "_ninja_csrf_exempt", False)
        if unsafe and check_csrf(request) is not None:
            raise ServiceError(
                _("The CSRF check failed: reload the page and try again."), code="csrf_failed", status=403
            )
        # The pages confine such a session to the password or MFA page; the API refuses it.
        if getattr(user, "must_change_password", False):
            raise ServiceError(
                _("Change your password before using the API."), code="password_change_required", status=403
            )
        if not request.session.get(SESSION_MFA_OK) and user_requires_mfa(user_id=user.pk):
            raise ServiceError(
                _("Set up your second factor before using the API."), code="mfa_required", status=403
            )
        request.actor = actor_for_user(user)  # type: ignore[attr-defined]
        request.api_token = None  # type: ignore[attr-defined]
        _count_call(f"api:user:{user.pk}")
        return user

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # pragma: no cover - see __call__
        return None


def default_auth() -> list[Any]:
    """Every endpoint, unless it says otherwise: a bearer token first, else the session."""
    return [BearerTokenAuth(), SessionAuth()]

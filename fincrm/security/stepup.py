"""Step-up: the signed-in user re-confirms who they are (password, or a TOTP code when they have a
second factor) before a sensitive action: unmasking, exports, overrides (DOMAIN.md, ASVS 4.0.3 V4.3).

A step-up lasts ``settings.FINCRM_STEP_UP_SECONDS`` (default 15 minutes) in the browser session::

    from fincrm.security.stepup import step_up_is_recent

    if not step_up_is_recent(request):
        return redirect(f"{reverse('security:step-up')}?next={request.get_full_path()}")

A page that asks for the secret inline (a modal) calls ``step_up_verify(request=..., secret=...)``,
which records the step-up when it succeeds. An API call cannot keep a session: it sends the
password or a current TOTP code in the ``X-Fincrm-Step-Up`` header of the very request that needs
it (``step_up_from_header``); it is checked the same way (rate-limited, audited) and never stored.

Checks reuse the users app: the password through Django's ``authenticate`` (the staff backend:
a locked or deactivated account never passes), the code through ``mfa_code_check`` (a code is
accepted once). A failure counts like a failed sign-in (``sign_in_failure_record``): it slows the
address down and locks the account after the configured number of failures, so a stolen session
cannot guess the password. On top of that each user gets at most ``STEP_UP_ATTEMPTS`` tries per
window (fincrm.platform.ratelimit).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest

from fincrm.audit.services import audit_record
from fincrm.platform import hooks, ratelimit
from fincrm.platform.actor import Actor, ActorKind
from fincrm.users.models import User
from fincrm.users.services.mfa import confirmed_device, mfa_code_check
from fincrm.users.services.signin import ip_wait_seconds, sign_in_failure_record

SESSION_STEP_UP_AT = "fincrm_step_up_at"  # epoch seconds of the last successful step-up
HEADER = "X-Fincrm-Step-Up"
DEFAULT_WINDOW_SECONDS = 15 * 60
# Attempts (right or wrong) per user per window; a person needs one every 15 minutes at most.
STEP_UP_ATTEMPTS = 10
STEP_UP_ATTEMPT_WINDOW_SECONDS = 15 * 60


class StepUpMethod(StrEnum):
    PASSWORD = "password"  # noqa: S105 - a method name, not a secret
    TOTP = "totp"


class StepUpOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class StepUpResult:
    outcome: StepUpOutcome
    wait_seconds: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == StepUpOutcome.OK


def step_up_window_seconds() -> int:
    return int(getattr(settings, "FINCRM_STEP_UP_SECONDS", DEFAULT_WINDOW_SECONDS))


def _now() -> float:
    return time.time()


def _session_user(request: HttpRequest) -> User | None:
    user = getattr(request, "user", None)
    if isinstance(user, User) and user.is_authenticated:
        return user
    return None


def step_up_method(user: User) -> StepUpMethod:
    """TOTP when the user has a confirmed second factor, else the password."""
    return StepUpMethod.TOTP if confirmed_device(user_id=user.pk) is not None else StepUpMethod.PASSWORD


def step_up_is_recent(request: HttpRequest) -> bool:
    """True when the signed-in user stepped up in this session within the window."""
    if _session_user(request) is None or not hasattr(request, "session"):
        return False
    at = request.session.get(SESSION_STEP_UP_AT)
    if not isinstance(at, int | float):
        return False
    age = _now() - float(at)
    return 0 <= age <= step_up_window_seconds()


def step_up_remaining_seconds(request: HttpRequest) -> int:
    """Seconds the current step-up still lasts (0: none or expired)."""
    if not step_up_is_recent(request):
        return 0
    return max(0, int(float(request.session[SESSION_STEP_UP_AT]) + step_up_window_seconds() - _now()))


def record_step_up(request: HttpRequest) -> None:
    """Mark the session as stepped up now (after a successful check)."""
    request.session[SESSION_STEP_UP_AT] = int(_now())


def step_up_clear(request: HttpRequest) -> None:
    request.session.pop(SESSION_STEP_UP_AT, None)


def _actor(request: HttpRequest, user: User) -> Actor:
    actor = getattr(request, "actor", None)
    if isinstance(actor, Actor) and actor.user_id == user.pk:
        return actor
    from fincrm.users.actors import actor_for_user

    return actor_for_user(user)


def _audit(actor: Actor, user: User, *, result: str, method: StepUpMethod, channel: str) -> None:
    audit_record(
        actor,
        "security.step_up",
        object_type="user",
        object_id=str(user.pk),
        after={"result": result, "method": str(method), "channel": channel},
    )


def _check(request: HttpRequest, user: User, secret: str, *, channel: str) -> StepUpResult:
    actor = _actor(request, user)
    method = step_up_method(user)
    client_ip = getattr(request, "client_ip", "") or ""
    wait = ip_wait_seconds(client_ip=client_ip) if client_ip else 0
    if wait <= 0:
        allowed, wait = ratelimit.hit(
            f"stepup:user:{user.pk}", STEP_UP_ATTEMPTS, STEP_UP_ATTEMPT_WINDOW_SECONDS
        )
        wait = 0 if allowed else wait
    if wait > 0:
        hooks.security_recorder()(
            actor,
            "security.step_up_throttled",
            severity="warning",
            detail={"username": user.username, "wait_seconds": wait, "channel": channel},
            user_id=user.pk,
        )
        _audit(actor, user, result="throttled", method=method, channel=channel)
        return StepUpResult(StepUpOutcome.THROTTLED, wait_seconds=wait)
    secret = secret or ""
    ok = False
    if secret and len(secret) <= 256:
        if method == StepUpMethod.TOTP:
            ok = (
                user.is_active
                and not user.is_locked
                and mfa_code_check(actor=actor, user_id=user.pk, code=secret) is not None
            )
        else:
            ok = authenticate(request, username=user.username, password=secret) == user
    if not ok:
        sign_in_failure_record(username=user.username, user=user, client_ip=client_ip, stage="step_up")
        _audit(actor, user, result="failure", method=method, channel=channel)
        return StepUpResult(StepUpOutcome.FAILED)
    _audit(actor, user, result="success", method=method, channel=channel)
    return StepUpResult(StepUpOutcome.OK)


def step_up_verify(*, request: HttpRequest, secret: str) -> StepUpResult:
    """Check the signed-in user's password or TOTP code; on success the session is stepped up."""
    user = _session_user(request)
    if user is None:
        return StepUpResult(StepUpOutcome.FAILED)
    result = _check(request, user, secret, channel="session")
    if result.ok:
        record_step_up(request)
    return result


def step_up_from_header(request: HttpRequest) -> StepUpResult | None:
    """For the API: check ``X-Fincrm-Step-Up`` (password or TOTP) for this one request.

    None when the header is absent. A browser session that stepped up recently needs no header."""
    secret = request.headers.get(HEADER, "")
    if not secret:
        return None
    user = getattr(request, "user", None)
    actor = getattr(request, "actor", None)
    if not isinstance(user, User) or not isinstance(actor, Actor) or actor.kind == ActorKind.ANONYMOUS:
        return StepUpResult(StepUpOutcome.FAILED)
    return _check(request, user, secret, channel="api")


def request_is_stepped_up(request: HttpRequest) -> StepUpResult:
    """The API's answer: a recent session step-up (browser calls), else the header, else FAILED.

    A bearer-token call never counts the session (it has none): only the header."""
    if getattr(request, "api_token", None) is None and step_up_is_recent(request):
        return StepUpResult(StepUpOutcome.OK)
    result = step_up_from_header(request)
    return result if result is not None else StepUpResult(StepUpOutcome.FAILED)

"""Signing staff in: password check with account lockout and a per-address slow-down, the
second-factor step, starting the session (with new-address and off-hours alerts), unlocking.

Every attempt leaves a LoginAttempt; failures and successes leave security and audit events
(never the password). A locked or unknown account answers exactly like a wrong password.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest
from django.utils import timezone

from fincrm.audit.selectors import audit_last_occurred
from fincrm.platform import hooks, transaction
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor
from fincrm.users.actors import actor_for_user
from fincrm.users.models import LoginAttempt, User
from fincrm.users.services.mfa import confirmed_device
from fincrm.users.services.sessions import user_session_forget, user_session_register
from fincrm.users.sessions import SESSION_AUTH_AT, SESSION_LAST_ACTIVITY, SESSION_MFA_OK, SESSION_REGISTERED

BACKEND = "fincrm.users.backends.StaffBackend"
# Between a correct password and the second factor: who, until when, and where to go next.
SESSION_MFA_PENDING_USER = "fincrm_mfa_pending_user"
SESSION_MFA_PENDING_UNTIL = "fincrm_mfa_pending_until"
SESSION_NEXT = "fincrm_signin_next"


class Outcome(StrEnum):
    SIGNED_IN = "signed_in"
    MFA_NEEDED = "mfa_needed"
    FAILED = "failed"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class SignInResult:
    outcome: Outcome
    user: User | None = None
    wait_seconds: int = 0


def ip_wait_seconds(*, client_ip: str, now: datetime | None = None) -> int:
    """Seconds this address must still wait before its next attempt (0: go ahead).

    Beyond the free failures in the window, each failure doubles the wait after the last one,
    up to the cap. Nothing sleeps: a request inside the wait is refused.
    """
    moment = now or timezone.now()
    window_start = moment - timedelta(seconds=settings.FINCRM_LOCKOUT_WINDOW_SECONDS)
    failures = LoginAttempt.objects.filter(
        client_ip=client_ip, succeeded=False, attempted_at__gte=window_start
    )
    count = failures.count()
    excess = count - settings.FINCRM_LOGIN_IP_FREE_FAILURES
    if excess <= 0:
        return 0
    delay = min(2**excess, settings.FINCRM_LOGIN_IP_DELAY_CAP_SECONDS)
    last = failures.order_by("-attempted_at").values_list("attempted_at", flat=True).first()
    if last is None:
        return 0
    remaining = (last + timedelta(seconds=delay) - moment).total_seconds()
    return max(0, math.ceil(remaining))


def _failures_counted_since(user: User, moment: datetime) -> datetime:
    """Failures count from the window start, but not before the last success or unlock."""
    since = moment - timedelta(seconds=settings.FINCRM_LOCKOUT_WINDOW_SECONDS)
    last_success = (
        LoginAttempt.objects.filter(user=user, succeeded=True)
        .order_by("-attempted_at")
        .values_list("attempted_at", flat=True)
        .first()
    )
    last_unlock = audit_last_occurred(action="user.unlocked", object_type="user", object_id=user.pk)
    for marker in (last_success, last_unlock):
        if marker is not None and marker > since:
            since = marker
    return since


@transaction.atomic
def sign_in_failure_record(*, username: str, user: User | None, client_ip: str, stage: str) -> None:
    """A failed password or second-factor step: record it, lock the account on the Nth failure."""
    moment = timezone.now()
    LoginAttempt.objects.create(
        username=username[:150], user=user, client_ip=client_ip, succeeded=False, attempted_at=moment
    )
    actor = Actor.anonymous()
    detail = {"username": username[:150], "stage": stage}
    security = hooks.security_recorder()
    security(actor, "auth.failed", severity="warning", detail=detail, user_id=user.pk if user else None)
    hooks.audit_recorder()(
        actor, "auth.failed", object_type="user", object_id=str(user.pk) if user else "", after=detail
    )
    if user is None or user.locked_at is not None:
        return
    since = _failures_counted_since(user, moment)
    failures = LoginAttempt.objects.filter(user=user, succeeded=False, attempted_at__gte=since).count()
    if failures >= settings.FINCRM_LOCKOUT_FAILURES:
        User.objects.filter(pk=user.pk, locked_at__isnull=True).update(locked_at=moment)
        hooks.audit_recorder()(
            actor,
            "auth.locked",
            object_type="user",
            object_id=str(user.pk),
            before={"locked_at": None},
            after={"locked_at": moment.isoformat(), "failures": failures},
        )
        security(
            actor,
            "auth.lockout",
            severity="alert",
            detail={"username": user.username, "failures": failures},
            user_id=user.pk,
        )


def password_sign_in(*, request: HttpRequest, username: str, password: str) -> SignInResult:
    """The first step: refuse a throttled address without checking anything, else check the password."""
    client_ip = request.client_ip  # type: ignore[attr-defined]
    wait = ip_wait_seconds(client_ip=client_ip)
    if wait > 0:
        hooks.security_recorder()(
            Actor.anonymous(),
            "auth.throttled",
            severity="warning",
            detail={"username": username[:150], "wait_seconds": wait},
        )
        return SignInResult(Outcome.THROTTLED, wait_seconds=wait)
    user = authenticate(request, username=username, password=password)
    if not isinstance(user, User):
        known = User.objects.filter(username=username).first() if username else None
        sign_in_failure_record(username=username, user=known, client_ip=client_ip, stage="password")
        return SignInResult(Outcome.FAILED)
    if confirmed_device(user_id=user.pk) is not None:
        return SignInResult(Outcome.MFA_NEEDED, user=user)
    return SignInResult(Outcome.SIGNED_IN, user=user)


def mfa_pending_set(request: HttpRequest, user: User, next_url: str) -> None:
    request.session[SESSION_MFA_PENDING_USER] = user.pk
    request.session[SESSION_MFA_PENDING_UNTIL] = int(time.time()) + settings.FINCRM_MFA_PENDING_SECONDS
    request.session[SESSION_NEXT] = next_url


def mfa_pending_user(request: HttpRequest) -> User | None:
    """The user who gave a correct password and owes the second factor, while that is still fresh."""
    user_id = request.session.get(SESSION_MFA_PENDING_USER)
    until = request.session.get(SESSION_MFA_PENDING_UNTIL, 0)
    if user_id is None:
        return None
    if time.time() > until:
        mfa_pending_clear(request)
        return None
    return User.objects.select_related("org_unit").filter(pk=user_id).first()


def mfa_pending_clear(request: HttpRequest) -> str:
    request.session.pop(SESSION_MFA_PENDING_USER, None)
    request.session.pop(SESSION_MFA_PENDING_UNTIL, None)
    return str(request.session.pop(SESSION_NEXT, ""))


def _outside_working_hours(moment: datetime) -> bool:
    start, end = settings.FINCRM_WORKING_HOURS
    local = moment.astimezone(ZoneInfo(settings.TIME_ZONE)).time()
    if start <= end:
        return not (start <= local < end)
    return end <= local < start  # working hours across midnight


@transaction.atomic
def session_start(request: HttpRequest, user: User, *, mfa_ok: bool) -> None:
    """Log the user in (a new session id), register the session, record the sign-in and alerts."""
    moment = timezone.now()
    client_ip = request.client_ip  # type: ignore[attr-defined]
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    earlier = LoginAttempt.objects.filter(user=user, succeeded=True)
    had_earlier = earlier.exists()
    seen_ip = had_earlier and earlier.filter(client_ip=client_ip).exists()

    login(request, user, backend=BACKEND)  # cycles the session key
    now_epoch = int(time.time())
    request.session[SESSION_AUTH_AT] = now_epoch
    request.session[SESSION_LAST_ACTIVITY] = now_epoch
    request.session[SESSION_MFA_OK] = mfa_ok
    request.session[SESSION_REGISTERED] = True
    request.session.save()
    session_key = request.session.session_key or ""
    user_session_register(
        user_id=user.pk, session_key=session_key, client_ip=client_ip, user_agent=user_agent, now=moment
    )
    LoginAttempt.objects.create(
        username=user.username, user=user, client_ip=client_ip, succeeded=True, attempted_at=moment
    )

    actor = actor_for_user(user)
    security = hooks.security_recorder()
    detail = {"username": user.username, "mfa": mfa_ok}
    security(actor, "auth.signed_in", severity="info", detail=detail, user_id=user.pk)
    hooks.audit_recorder()(actor, "auth.signed_in", object_type="user", object_id=str(user.pk), after=detail)
    if had_earlier and not seen_ip:
        security(
            actor,
            "auth.new_ip",
            severity="alert",
            detail={"username": user.username, "ip": client_ip},
            user_id=user.pk,
        )
    if _outside_working_hours(moment):
        local = moment.astimezone(ZoneInfo(settings.TIME_ZONE))
        security(
            actor,
            "auth.off_hours",
            severity="alert",
            detail={"username": user.username, "local_time": local.strftime("%Y-%m-%d %H:%M")},
            user_id=user.pk,
        )


@transaction.atomic
def sign_out_session(request: HttpRequest) -> None:
    """Sign out server-side: the session row and its UserSession row are deleted."""
    user = request.user
    if user.is_authenticated:
        hooks.audit_recorder()(
            actor_for_user(user), "auth.signed_out", object_type="user", object_id=str(user.pk)
        )
        if request.session.session_key:
            user_session_forget(session_key=request.session.session_key)
    logout(request)  # flushes the session on the server and gives a new, empty one


@transaction.atomic
def user_unlock(*, actor: Actor, user_id: object) -> User:
    """An administrator unlocks an account; failures before now no longer count toward lockout."""
    user = access_object(
        User.objects.visible_to(actor, "user.manage").select_for_update(),
        user_id,
        actor=actor,
        action="user.manage",
        object_type="user",
    )
    before = {"locked_at": user.locked_at.isoformat() if user.locked_at else None}
    user.locked_at = None
    user.save(update_fields=["locked_at", "updated_at"])
    hooks.audit_recorder()(
        actor,
        "user.unlocked",
        object_type="user",
        object_id=str(user.pk),
        before=before,
        after={"locked_at": None},
    )
    return user

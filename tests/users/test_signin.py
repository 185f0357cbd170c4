"""Sign-in: success, failures that all look alike, lockout and unlock, the per-address
slow-down, the trusted proxy header, new-address and off-hours alerts, sign-out."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils import timezone

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.platform.errors import NotFound
from fincrm.users.actors import actor_for_user
from fincrm.users.backends import StaffBackend
from fincrm.users.models import LoginAttempt, User, UserSession
from fincrm.users.services import signin as signin_services
from fincrm.users.services.signin import user_unlock
from fincrm.users.sessions import SESSION_AUTH_AT, SESSION_LAST_ACTIVITY, SESSION_MFA_OK
from tests.support.world import PASSWORD, World

pytestmark = pytest.mark.django_db

SIGN_IN = "/signin/"
FAILED = "The username or password is not correct."
CSRF = re.compile(rb'(name="csrfmiddlewaretoken" value|name="csrf-token" content)="[^"]*"')


def post_sign_in(client: Client, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(SIGN_IN, {"username": username, "password": password}, **extra)


def page_without_token(response: Any) -> bytes:
    return CSRF.sub(b"", response.content)


def _events(kind: str, user: User | None = None) -> list[SecurityEvent]:
    events = SecurityEvent.objects.filter(kind=kind)
    if user is not None:
        events = events.filter(user_id=user.pk)
    return list(events)


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en", HTTP_USER_AGENT="pytest-browser/1.0")


def test_sign_in_page_renders(client: Client) -> None:
    response = client.get(SIGN_IN)
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_sign_in_success_starts_a_registered_session(world: World, client: Client) -> None:
    user = World.user("peer_a")
    response = post_sign_in(client, "peer_a")
    assert response.status_code == 302
    assert response["Location"] == "/"
    key = client.session.session_key
    row = UserSession.objects.get(session_key=key)
    assert (row.user_id, row.client_ip, row.user_agent) == (user.pk, "127.0.0.1", "pytest-browser/1.0")
    assert client.session[SESSION_MFA_OK] is False
    assert isinstance(client.session[SESSION_AUTH_AT], int)
    attempt = LoginAttempt.objects.get(user=user)
    assert (attempt.username, attempt.client_ip, attempt.succeeded) == ("peer_a", "127.0.0.1", True)
    assert AuditEvent.objects.filter(action="auth.signed_in", object_id=str(user.pk)).count() == 1
    assert [event.severity for event in _events("auth.signed_in", user)] == ["info"]
    assert client.get("/account/").status_code == 200


def test_username_is_case_insensitive_and_trimmed(world: World, client: Client) -> None:
    assert post_sign_in(client, "  Peer_A ").status_code == 302


def test_sign_in_gives_a_new_session_id(world: World, client: Client) -> None:
    before = client.session
    before["x"] = "y"
    before.save()
    old_key = before.session_key
    assert post_sign_in(client, "peer_a").status_code == 302
    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()


def test_wrong_password_is_refused_and_recorded_without_the_password(world: World, client: Client) -> None:
    user = World.user("peer_a")
    response = post_sign_in(client, "peer_a", "wrong-password-123")
    assert response.status_code == 200
    assert FAILED.encode() in response.content
    assert "_auth_user_id" not in client.session
    attempt = LoginAttempt.objects.get(user=user)
    assert (attempt.succeeded, attempt.client_ip) == (False, "127.0.0.1")
    [event] = _events("auth.failed", user)
    assert event.severity == "warning"
    assert event.detail == {"username": "peer_a", "stage": "password"}
    audit = AuditEvent.objects.get(action="auth.failed")
    for stored in (str(event.detail), str(audit.after), str(audit.before)):
        assert "wrong-password-123" not in stored


def test_unknown_user_gets_the_same_page(world: World, client: Client) -> None:
    wrong = post_sign_in(client, "peer_a", "wrong-password-123")
    unknown = post_sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), "nobody_here", "wrong-password-123")
    assert unknown.status_code == wrong.status_code == 200
    assert FAILED.encode() in unknown.content
    assert page_without_token(unknown).replace(b"nobody_here", b"peer_a") == page_without_token(wrong)
    attempt = LoginAttempt.objects.get(username="nobody_here")
    assert attempt.user is None
    assert not attempt.succeeded


@override_settings(FINCRM_LOCKOUT_FAILURES=5, FINCRM_LOGIN_IP_FREE_FAILURES=100)
def test_fifth_failure_locks_and_a_locked_account_looks_like_a_wrong_password(
    world: World, client: Client
) -> None:
    for _attempt in range(4):
        post_sign_in(client, "peer_a", "wrong-password-123")
    assert User.objects.get(username="peer_a").locked_at is None
    post_sign_in(client, "peer_a", "wrong-password-123")
    user = User.objects.get(username="peer_a")
    assert user.locked_at is not None
    [lockout] = _events("auth.lockout", user)
    assert lockout.severity == "alert"
    assert lockout.detail == {"username": "peer_a", "failures": 5}
    [locked] = AuditEvent.objects.filter(action="auth.locked", object_id=str(user.pk))
    assert locked.before == {"locked_at": None}
    assert locked.after is not None
    assert locked.after["failures"] == 5

    correct = post_sign_in(client, "peer_a", PASSWORD)
    wrong = post_sign_in(client, "peer_a", "wrong-password-123")
    assert correct.status_code == wrong.status_code == 200
    assert page_without_token(correct) == page_without_token(wrong)
    assert "_auth_user_id" not in client.session
    assert len(_events("auth.lockout", user)) == 1  # locking once, not on every later failure
    assert AuditEvent.objects.filter(action="auth.locked", object_id=str(user.pk)).count() == 1


@override_settings(FINCRM_LOCKOUT_FAILURES=5, FINCRM_LOGIN_IP_FREE_FAILURES=100)
def test_failures_outside_the_window_or_before_a_success_do_not_count(world: World, client: Client) -> None:
    user = World.user("peer_a")
    old = timezone.now() - timedelta(seconds=settings.FINCRM_LOCKOUT_WINDOW_SECONDS + 5)
    LoginAttempt.objects.bulk_create(
        LoginAttempt(username="peer_a", user=user, client_ip="10.9.9.9", succeeded=False, attempted_at=old)
        for _ in range(10)
    )
    for _attempt in range(3):
        post_sign_in(client, "peer_a", "wrong-password-123")
    assert post_sign_in(client, "peer_a").status_code == 302
    other = Client()
    for _attempt in range(4):
        post_sign_in(other, "peer_a", "wrong-password-123")
    assert User.objects.get(pk=user.pk).locked_at is None


@override_settings(FINCRM_LOCKOUT_FAILURES=5, FINCRM_LOGIN_IP_FREE_FAILURES=100)
def test_administrator_unlocks_an_account(world: World, client: Client) -> None:
    for _attempt in range(5):
        post_sign_in(client, "peer_a", "wrong-password-123")
    user = User.objects.get(username="peer_a")
    assert user.locked_at is not None
    admin = actor_for_user(World.user("system_admin_a"))
    user_unlock(actor=admin, user_id=user.pk)
    assert User.objects.get(pk=user.pk).locked_at is None
    event = AuditEvent.objects.get(action="user.unlocked")
    assert (event.actor_user_id, event.object_id, event.after) == (
        admin.user_id,
        str(user.pk),
        {"locked_at": None},
    )
    # Failures before the unlock no longer count: one more failure does not lock again.
    post_sign_in(client, "peer_a", "wrong-password-123")
    assert User.objects.get(pk=user.pk).locked_at is None
    assert post_sign_in(client, "peer_a").status_code == 302


def test_unlock_needs_user_manage_in_scope(world: World) -> None:
    target = World.user("peer_a")
    User.objects.filter(pk=target.pk).update(locked_at=timezone.now())
    for username in ("peer_b", "team_lead_a", "auditor_a"):
        with pytest.raises(NotFound):
            user_unlock(actor=actor_for_user(World.user(username)), user_id=target.pk)
    assert User.objects.get(pk=target.pk).locked_at is not None
    assert not AuditEvent.objects.filter(action="user.unlocked").exists()


def _failures_from(ip: str, count: int, last_seconds_ago: float) -> None:
    moment = timezone.now() - timedelta(seconds=last_seconds_ago)
    LoginAttempt.objects.bulk_create(
        LoginAttempt(
            username="someone", client_ip=ip, succeeded=False, attempted_at=moment - timedelta(seconds=i)
        )
        for i in range(count)
    )


@override_settings(
    FINCRM_LOGIN_IP_FREE_FAILURES=2, FINCRM_LOGIN_IP_DELAY_CAP_SECONDS=60, FINCRM_LOCKOUT_FAILURES=99
)
def test_address_slow_down_refuses_without_checking_the_password(
    world: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failures_from("127.0.0.1", 4, last_seconds_ago=1)  # 2 beyond the free ones: wait 4 s after the last

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the password was checked during the wait")

    monkeypatch.setattr(StaffBackend, "authenticate", must_not_run)
    attempts = LoginAttempt.objects.count()
    response = post_sign_in(client, "peer_a")
    assert response.status_code == 429
    assert b"Too many attempts from your network; try again in 3 seconds" in response.content
    assert LoginAttempt.objects.count() == attempts
    assert "_auth_user_id" not in client.session
    monkeypatch.undo()
    # Once the wait is over (move the failures back instead of sleeping), the password is checked.
    LoginAttempt.objects.update(attempted_at=timezone.now() - timedelta(seconds=5))
    assert post_sign_in(client, "peer_a").status_code == 302


@override_settings(FINCRM_LOGIN_IP_FREE_FAILURES=2, FINCRM_LOGIN_IP_DELAY_CAP_SECONDS=60)
def test_address_slow_down_is_capped_and_per_address(world: World, client: Client) -> None:
    _failures_from("127.0.0.1", 20, last_seconds_ago=1)
    assert signin_services.ip_wait_seconds(client_ip="127.0.0.1") == 59
    assert signin_services.ip_wait_seconds(client_ip="10.1.1.1") == 0
    assert post_sign_in(client, "peer_a", REMOTE_ADDR="10.1.1.1").status_code == 302


@override_settings(FINCRM_LOGIN_IP_FREE_FAILURES=3)
def test_free_failures_need_no_wait(world: World) -> None:
    _failures_from("127.0.0.1", 3, last_seconds_ago=0)
    assert signin_services.ip_wait_seconds(client_ip="127.0.0.1") == 0
    _failures_from("127.0.0.1", 1, last_seconds_ago=0)
    assert signin_services.ip_wait_seconds(client_ip="127.0.0.1") == 2


def test_proxy_header_ignored_unless_configured(world: World, client: Client) -> None:
    post_sign_in(client, "peer_a", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert LoginAttempt.objects.get().client_ip == "10.0.0.1"


@override_settings(FINCRM_TRUSTED_PROXY_HEADER="X-Forwarded-For")
def test_configured_proxy_header_is_respected(world: World, client: Client) -> None:
    post_sign_in(client, "peer_a", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert LoginAttempt.objects.get().client_ip == "203.0.113.7"
    assert UserSession.objects.get().client_ip == "203.0.113.7"


def test_new_address_alert_only_after_earlier_sign_ins_elsewhere(world: World) -> None:
    user = World.user("peer_a")
    assert post_sign_in(Client(), "peer_a", REMOTE_ADDR="10.0.0.1").status_code == 302
    assert _events("auth.new_ip", user) == []  # the first sign-in ever is no alert
    assert post_sign_in(Client(), "peer_a", REMOTE_ADDR="10.0.0.1").status_code == 302
    assert _events("auth.new_ip", user) == []
    assert post_sign_in(Client(), "peer_a", REMOTE_ADDR="10.0.0.2").status_code == 302
    [alert] = _events("auth.new_ip", user)
    assert alert.severity == "alert"
    assert alert.detail == {"username": "peer_a", "ip": "10.0.0.2"}
    assert alert.client_ip == "10.0.0.2"


@override_settings(FINCRM_WORKING_HOURS=(time(0, 0), time(0, 0)))
def test_off_hours_alert(world: World, client: Client) -> None:
    user = World.user("peer_a")
    assert post_sign_in(client, "peer_a").status_code == 302
    [alert] = _events("auth.off_hours", user)
    assert alert.severity == "alert"
    assert set(alert.detail) == {"username", "local_time"}


@override_settings(FINCRM_WORKING_HOURS=(time(0, 0), time(23, 59, 59, 999999)))
def test_no_off_hours_alert_inside_working_hours(world: World, client: Client) -> None:
    assert post_sign_in(client, "peer_a").status_code == 302
    assert _events("auth.off_hours") == []


@pytest.mark.parametrize(
    ("utc_time", "hours", "outside"),
    [
        ((0, 30), (time(7), time(21)), False),  # 08:30 in Shanghai
        ((12, 59), (time(7), time(21)), False),  # 20:59
        ((13, 0), (time(7), time(21)), True),  # 21:00
        ((22, 59), (time(7), time(21)), True),  # 06:59
        ((15, 0), (time(22), time(6)), False),  # 23:00, night shift
        ((23, 0), (time(22), time(6)), True),  # 07:00
    ],
)
@override_settings(TIME_ZONE="Asia/Shanghai")
def test_working_hours_in_local_time(
    utc_time: tuple[int, int], hours: tuple[time, time], outside: bool
) -> None:
    moment = datetime(2026, 3, 2, *utc_time, tzinfo=UTC)
    with override_settings(FINCRM_WORKING_HOURS=hours):
        assert signin_services._outside_working_hours(moment) is outside


def test_sign_out_is_post_only_and_ends_the_session_on_the_server(world: World, client: Client) -> None:
    post_sign_in(client, "peer_a")
    key = client.session.session_key
    assert client.get("/signout/").status_code == 405
    response = client.post("/signout/")
    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert not Session.objects.filter(session_key=key).exists()
    assert not UserSession.objects.filter(session_key=key).exists()
    assert AuditEvent.objects.filter(action="auth.signed_out").count() == 1
    assert client.get("/account/").status_code == 302


def test_next_is_followed_only_on_this_site(world: World) -> None:
    response = Client().post(
        SIGN_IN + "?next=/account/sessions/", {"username": "peer_a", "password": PASSWORD}
    )
    assert response["Location"] == "/account/sessions/"
    response = Client().post(
        SIGN_IN, {"username": "peer_a", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_session_keys_match_the_test_helper(world: World, client: Client) -> None:
    post_sign_in(client, "peer_a")
    session = client.session
    assert {SESSION_AUTH_AT, SESSION_LAST_ACTIVITY, SESSION_MFA_OK} <= set(session.keys())


def test_production_uses_argon2id() -> None:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='fincrm.settings'; django.setup(); "
        "from django.conf import settings; from django.contrib.auth.hashers import get_hasher; "
        "print(settings.PASSWORD_HASHERS[0]); "
        "print(get_hasher().encode('x' * 12, get_hasher().salt()).split('$')[0])"
    )
    env = {
        "FINCRM_PROFILE": "production",
        "FINCRM_SECRET_KEY": "s" * 50,
        # Production refuses to start without a master key (docs/security-keys.md).
        "FINCRM_MASTER_KEY": "A" * 43 + "=",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    )
    assert result.stdout.split() == ["django.contrib.auth.hashers.Argon2PasswordHasher", "argon2"]
    assert "argon2id" in _argon2_variant()


def _argon2_variant() -> str:
    from django.contrib.auth.hashers import Argon2PasswordHasher

    return Argon2PasswordHasher().encode("x" * 12, "saltsaltsalt")

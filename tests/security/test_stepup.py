"""Step-up: password or TOTP re-confirmation, its window, safe redirects, rate limit, audit."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from fincrm.audit.models import AuditEvent
from fincrm.security import stepup
from fincrm.users.models import LoginAttempt, MfaDevice, User
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import PASSWORD, World

__all__ = ["client", "english"]

pytestmark = pytest.mark.django_db

STEP_UP = "/sensitive/step-up/"


@pytest.fixture(autouse=True)
def clear_rate_limits() -> None:
    cache.clear()


def signed_in(username: str) -> Client:
    return sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), World.user(username))


def enrol_totp(username: str) -> str:
    secret = pyotp.random_base32()
    MfaDevice.objects.create(user=World.user(username), secret=secret, confirmed_at=timezone.now())
    return secret


def step_up_events(result: str | None = None) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action="security.step_up").order_by("sequence")
    if result is not None:
        events = events.filter(after__result=result)
    return list(events)


def test_anonymous_goes_to_sign_in(world: World, client: Client) -> None:
    response = client.get(STEP_UP)
    assert response.status_code == 302
    assert response["Location"].startswith("/signin/")


def test_password_step_up_records_the_session_and_redirects_to_next(world: World) -> None:
    browser = signed_in("account_manager_a")
    page = browser.get(STEP_UP + "?next=/customers/")
    assert page.status_code == 200
    assert b'type="password"' in page.content
    assert page["Cache-Control"].startswith("max-age=0")
    response = browser.post(STEP_UP, {"secret": PASSWORD, "next": "/customers/"})
    assert (response.status_code, response["Location"]) == (302, "/customers/")
    assert stepup.SESSION_STEP_UP_AT in browser.session
    [event] = step_up_events()
    assert event.after == {"result": "success", "method": "password", "channel": "session"}
    assert event.actor_user_id == World.user("account_manager_a").pk
    assert PASSWORD not in str(event.after)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "http://testserver.evil/"]
)
def test_next_to_another_host_is_ignored(world: World, target: str) -> None:
    browser = signed_in("account_manager_a")
    response = browser.post(STEP_UP, {"secret": PASSWORD, "next": target})
    assert (response.status_code, response["Location"]) == (302, "/")


def test_wrong_password_fails_is_audited_and_counts_as_a_sign_in_failure(world: World) -> None:
    browser = signed_in("account_manager_a")
    response = browser.post(STEP_UP, {"secret": "wrong-password-123", "next": "/customers/"})
    assert response.status_code == 200
    assert b"Your password is not correct." in response.content
    assert stepup.SESSION_STEP_UP_AT not in browser.session
    [event] = step_up_events()
    assert event.after == {"result": "failure", "method": "password", "channel": "session"}
    user = World.user("account_manager_a")
    assert LoginAttempt.objects.filter(user=user, succeeded=False).count() == 1


def test_repeated_failures_lock_the_account_like_sign_in(world: World) -> None:
    browser = signed_in("account_manager_a")
    with override_settings(FINCRM_LOCKOUT_FAILURES=3):
        for _ in range(3):
            browser.post(STEP_UP, {"secret": "wrong-password-123"})
    assert User.objects.get(username="account_manager_a").locked_at is not None
    # A locked account is signed out on its next request; the right password no longer helps.
    response = browser.post(STEP_UP, {"secret": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/signin/")


def test_attempts_per_user_are_rate_limited(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stepup, "STEP_UP_ATTEMPTS", 2)
    browser = signed_in("account_manager_a")
    with override_settings(FINCRM_LOCKOUT_FAILURES=50, FINCRM_LOGIN_IP_FREE_FAILURES=50):
        browser.post(STEP_UP, {"secret": "wrong-password-123"})
        browser.post(STEP_UP, {"secret": "wrong-password-123"})
        response = browser.post(STEP_UP, {"secret": PASSWORD})
    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert stepup.SESSION_STEP_UP_AT not in browser.session
    assert [event.after["result"] for event in step_up_events()] == ["failure", "failure", "throttled"]


def test_user_with_a_second_factor_steps_up_with_a_code_not_the_password(world: World) -> None:
    secret = enrol_totp("risk_officer_a")
    browser = signed_in("risk_officer_a")
    page = browser.get(STEP_UP)
    assert b'autocomplete="one-time-code"' in page.content
    assert browser.post(STEP_UP, {"secret": PASSWORD}).status_code == 200
    assert stepup.SESSION_STEP_UP_AT not in browser.session
    response = browser.post(STEP_UP, {"secret": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert stepup.SESSION_STEP_UP_AT in browser.session
    assert [event.after["method"] for event in step_up_events()] == ["totp", "totp"]
    # The same code is never accepted twice.
    browser.session.pop(stepup.SESSION_STEP_UP_AT, None)
    fresh = signed_in("risk_officer_a")
    assert fresh.post(STEP_UP, {"secret": pyotp.TOTP(secret).now()}).status_code == 200


def request_with_session(user: User, step_up_at: Any = None) -> Any:
    request = RequestFactory().get("/")
    request.user = user
    request.session = {} if step_up_at is None else {stepup.SESSION_STEP_UP_AT: step_up_at}
    return request


def test_window_is_a_setting(world: World) -> None:
    user = World.user("account_manager_a")
    now = int(time.time())
    assert not stepup.step_up_is_recent(request_with_session(user))
    assert stepup.step_up_is_recent(request_with_session(user, now - 899))
    assert not stepup.step_up_is_recent(request_with_session(user, now - 901))
    assert not stepup.step_up_is_recent(request_with_session(user, now + 60))  # from the future
    assert not stepup.step_up_is_recent(request_with_session(user, "yesterday"))
    with override_settings(FINCRM_STEP_UP_SECONDS=60):
        assert not stepup.step_up_is_recent(request_with_session(user, now - 61))
        assert stepup.step_up_is_recent(request_with_session(user, now - 59))


def test_record_step_up_marks_the_session(world: World) -> None:
    request = request_with_session(World.user("account_manager_a"))
    stepup.record_step_up(request)
    assert stepup.step_up_is_recent(request)
    assert 0 < stepup.step_up_remaining_seconds(request) <= stepup.step_up_window_seconds()
    stepup.step_up_clear(request)
    assert not stepup.step_up_is_recent(request)


def test_recent_step_up_is_shown_on_the_page(world: World) -> None:
    browser = signed_in("account_manager_a")
    browser.post(STEP_UP, {"secret": PASSWORD})
    assert b"You confirmed recently" in browser.get(STEP_UP).content

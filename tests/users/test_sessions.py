"""Session policy (idle, absolute, ended elsewhere, background polling), the session list,
password change and the administrator's password reset."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from fincrm.audit.models import AuditEvent
from fincrm.platform.errors import NotFound, ServiceError
from fincrm.users.actors import actor_for_user
from fincrm.users.models import User, UserSession
from fincrm.users.roles import BUILTIN_ROLES
from fincrm.users.services.sessions import sessions_end_all_for_user, user_password_reset
from fincrm.users.sessions import SESSION_AUTH_AT, SESSION_LAST_ACTIVITY
from tests.support.auth import sign_in
from tests.support.world import PASSWORD, World

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Quiet-Harbour-Lantern-42"
ENDED = b"Your session has ended; please sign in again"


def signed_in(username: str, address: str = "127.0.0.1", password: str = PASSWORD) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=address, HTTP_USER_AGENT=f"browser-{address}")
    response = client.post("/signin/", {"username": username, "password": password})
    assert response.status_code == 302, response.content[:300]
    return client


def shift(client: Client, key: str, seconds: int) -> None:
    session = client.session
    session[key] = session[key] - seconds
    session.save()


def test_idle_timeout_ends_the_session(world: World, settings: Any) -> None:
    client = signed_in("peer_a")
    key = client.session.session_key
    shift(client, SESSION_LAST_ACTIVITY, settings.FINCRM_SESSION_IDLE_SECONDS - 20)
    assert client.get("/account/").status_code == 200  # still inside the limit
    shift(client, SESSION_LAST_ACTIVITY, settings.FINCRM_SESSION_IDLE_SECONDS + 1)
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"] == "/signin/?next=/account/"
    assert ENDED in client.get(response["Location"]).content
    assert not Session.objects.filter(session_key=key).exists()
    assert not UserSession.objects.filter(session_key=key).exists()


def test_absolute_lifetime_ends_an_active_session(world: World, settings: Any) -> None:
    client = signed_in("peer_a")
    shift(client, SESSION_AUTH_AT, settings.FINCRM_SESSION_ABSOLUTE_SECONDS + 1)
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/signin/")


def test_ended_session_answers_htmx_and_api_with_401(world: World, settings: Any) -> None:
    client = signed_in("peer_a")
    shift(client, SESSION_LAST_ACTIVITY, settings.FINCRM_SESSION_IDLE_SECONDS + 1)
    response = client.get(
        "/account/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/admin/"}
    )
    assert response.status_code == 401
    # htmx sends the whole page to sign-in, which then says why.
    assert response["HX-Redirect"] == "/signin/?next=/admin/"
    page = client.get("/signin/?next=/admin/")
    assert "Your session has ended; please sign in again" in page.content.decode()
    client = signed_in("peer_a")
    shift(client, SESSION_AUTH_AT, settings.FINCRM_SESSION_ABSOLUTE_SECONDS + 1)
    assert client.get("/api/v1/me").status_code == 401


def test_background_requests_do_not_count_as_activity(world: World) -> None:
    client = signed_in("peer_a")
    shift(client, SESSION_LAST_ACTIVITY, 100)
    before = client.session[SESSION_LAST_ACTIVITY]
    row_before = UserSession.objects.get().last_activity_at
    client.get("/account/", headers={"X-Fincrm-Background": "1"})
    assert client.session[SESSION_LAST_ACTIVITY] == before
    assert UserSession.objects.get().last_activity_at == row_before
    client.get("/account/")
    assert client.session[SESSION_LAST_ACTIVITY] >= int(time.time()) - 2
    assert UserSession.objects.get().last_activity_at > row_before


def test_deleted_session_row_signs_the_browser_out(world: World) -> None:
    client = signed_in("peer_a")
    UserSession.objects.all().delete()
    assert client.get("/account/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_test_helper_sessions_get_a_row(world: World) -> None:
    client = sign_in(Client(), World.user("peer_a"))
    assert client.get("/account/sessions/").status_code == 200
    assert UserSession.objects.filter(user__username="peer_a").count() == 1


def test_session_list_shows_own_sessions_and_marks_the_current(world: World) -> None:
    first = signed_in("peer_a", "10.0.0.1")
    signed_in("peer_a", "10.0.0.2")
    signed_in("peer_b", "10.0.0.3")
    body = first.get("/account/sessions/").content.decode()
    assert "10.0.0.1" in body
    assert "10.0.0.2" in body
    assert "10.0.0.3" not in body
    assert body.count('data-current="1"') == 1
    assert "browser-10.0.0.2" in body


def test_end_one_of_own_sessions(world: World) -> None:
    first = signed_in("peer_a", "10.0.0.1")
    second = signed_in("peer_a", "10.0.0.2")
    other_row = UserSession.objects.get(client_ip="10.0.0.2")
    response = first.post(f"/account/sessions/{other_row.pk}/end/")
    assert response.status_code == 302
    assert not UserSession.objects.filter(pk=other_row.pk).exists()
    assert second.get("/account/").status_code == 302
    assert first.get("/account/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.session_ended", object_id=str(other_row.pk)).count() == 1


def test_ending_someone_elses_session_is_not_found(world: World) -> None:
    mine = signed_in("peer_a", "10.0.0.1")
    theirs = signed_in("peer_b", "10.0.0.3")
    their_row = UserSession.objects.get(client_ip="10.0.0.3")
    assert mine.post(f"/account/sessions/{their_row.pk}/end/").status_code == 404
    assert UserSession.objects.filter(pk=their_row.pk).exists()
    assert theirs.get("/account/").status_code == 200
    assert mine.post("/account/sessions/999999/end/").status_code == 404
    assert mine.get(f"/account/sessions/{their_row.pk}/end/").status_code == 405


def test_end_all_other_sessions(world: World) -> None:
    first = signed_in("peer_a", "10.0.0.1")
    others = [signed_in("peer_a", "10.0.0.2"), signed_in("peer_a", "10.0.0.4")]
    bystander = signed_in("peer_b", "10.0.0.3")
    assert first.post("/account/sessions/end-others/").status_code == 302
    assert [client.get("/account/").status_code for client in others] == [302, 302]
    assert first.get("/account/").status_code == 200
    assert bystander.get("/account/").status_code == 200
    assert UserSession.objects.filter(user__username="peer_a").count() == 1


def test_password_change_ends_other_sessions(world: World) -> None:
    current = signed_in("peer_a", "10.0.0.1")
    other = signed_in("peer_a", "10.0.0.2")
    response = current.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert current.get("/account/").status_code == 200  # this session goes on
    assert UserSession.objects.filter(session_key=current.session.session_key).exists()
    assert other.get("/account/").status_code == 302
    user = User.objects.get(username="peer_a")
    assert user.check_password(NEW_PASSWORD)
    assert user.password_changed_at is not None
    event = AuditEvent.objects.get(action="auth.password_changed")
    assert event.after == {"sessions_ended": 1}
    assert NEW_PASSWORD not in str(event.before) + str(event.after)
    signed_in("peer_a", password=NEW_PASSWORD)


@pytest.mark.parametrize(
    ("old", "new", "again", "field"),
    [
        ("wrong-old-password", NEW_PASSWORD, NEW_PASSWORD, b"Your current password is not correct."),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", b"The two new passwords differ."),
        (PASSWORD, "short1", "short1", b"This password is too short."),
        (PASSWORD, "password1234", "password1234", b"This password is too common."),
        (PASSWORD, PASSWORD, PASSWORD, b"Choose a password different from the current one."),
    ],
)
def test_password_change_errors_change_nothing(
    world: World, old: str, new: str, again: str, field: bytes
) -> None:
    client = signed_in("peer_a")
    response = client.post(
        "/account/password/", {"old_password": old, "new_password": new, "new_password_again": again}
    )
    assert response.status_code == 200
    assert field in response.content
    assert User.objects.get(username="peer_a").check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="auth.password_changed").exists()


def test_administrator_password_reset_forces_a_change(world: World) -> None:
    victim_browser = signed_in("peer_a")
    admin = actor_for_user(World.user("system_admin_a"))
    user_password_reset(actor=admin, user_id=World.user("peer_a").pk, new_password=NEW_PASSWORD)
    assert victim_browser.get("/account/").status_code == 302  # sessions ended at once
    user = User.objects.get(username="peer_a")
    assert user.must_change_password is True
    event = AuditEvent.objects.get(action="user.password_reset")
    assert event.after == {"must_change_password": True, "sessions_ended": 1}
    assert NEW_PASSWORD not in str(event.after)

    client = signed_in("peer_a", password=NEW_PASSWORD)
    for path in ("/", "/account/", "/account/sessions/", "/account/mfa/"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/account/password/"), path
    assert client.get("/account/password/").status_code == 200
    final = "Amber-Meadow-Compass-77"
    response = client.post(
        "/account/password/",
        {"old_password": NEW_PASSWORD, "new_password": final, "new_password_again": final},
    )
    assert response.status_code == 302
    assert User.objects.get(username="peer_a").must_change_password is False
    assert client.get("/account/").status_code == 200


def test_password_reset_validates_and_checks_scope(world: World) -> None:
    admin = actor_for_user(World.user("system_admin_a"))
    target = World.user("peer_a")
    with pytest.raises(ServiceError) as error:
        user_password_reset(actor=admin, user_id=target.pk, new_password="short")
    assert "new_password" in error.value.fields
    for username in ("peer_b", "branch_manager_a", "auditor_a"):
        with pytest.raises(NotFound):
            user_password_reset(
                actor=actor_for_user(World.user(username)), user_id=target.pk, new_password=NEW_PASSWORD
            )
    assert User.objects.get(pk=target.pk).check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="user.password_reset").exists()


def test_sessions_end_all_for_user_is_exact(world: World) -> None:
    a1, a2, b = signed_in("peer_a"), signed_in("peer_a"), signed_in("peer_b")
    assert sessions_end_all_for_user(user_id=World.user("peer_a").pk, except_key=a1.session.session_key) == 1
    assert (a1.get("/account/").status_code, a2.get("/account/").status_code) == (200, 302)
    assert b.get("/account/").status_code == 200


@pytest.mark.parametrize("role", [spec.code for spec in BUILTIN_ROLES] + ["peer"])
def test_every_signed_in_user_reaches_their_account_pages(world: World, role: str) -> None:
    client = sign_in(Client(), World.user(f"{role}_a"))
    for path in ("/account/", "/account/password/", "/account/sessions/", "/account/mfa/"):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/account/"),
        ("get", "/account/password/"),
        ("get", "/account/sessions/"),
        ("get", "/account/mfa/"),
        ("post", "/account/sessions/1/end/"),
        ("post", "/account/sessions/end-others/"),
        ("post", "/account/mfa/remove/"),
        ("post", "/account/mfa/recovery-codes/"),
    ],
)
def test_account_pages_need_sign_in(world: World, method: str, path: str) -> None:
    response = getattr(Client(), method)(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/signin/?next=")

"""API tokens: made (service, API, page, command line), shown once, stored hashed, checked on every call."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, Forbidden, NotFound, ServiceError
from fincrm.users.actors import actor_for_user
from fincrm.users.models import ApiToken, RoleAssignment, User
from fincrm.users.roles import BUILTIN_BY_CODE
from fincrm.users.services.tokens import (
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
    split_token,
)
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db

TOKEN_SHAPE = re.compile(r"^fcrm_[a-z0-9]{8}_[A-Za-z0-9_-]{40,}$")
OPERATIONS_PERMISSIONS = sorted(BUILTIN_BY_CODE["operations"].permissions)


@pytest.fixture(autouse=True)
def fresh_counters() -> None:
    cache.clear()


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def bearer(plaintext: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def make(username: str = "operations_a", **kwargs: Any) -> tuple[ApiToken, str]:
    kwargs.setdefault("name", "core feed")
    return api_token_create(actor=Actor.cli(), owner_id=World.user(username).pk, **kwargs)


# --- Creating -------------------------------------------------------------------------------


def test_own_token_defaults_to_current_permissions_and_90_days(world: World) -> None:
    before = timezone.now()
    token, plaintext = api_token_create(
        actor=actor("operations_a"), owner_id=World.user("operations_a").pk, name="  core feed  "
    )
    assert TOKEN_SHAPE.match(plaintext)
    assert plaintext.startswith(f"fcrm_{token.prefix}_")
    assert token.name == "core feed"
    assert token.scopes == OPERATIONS_PERMISSIONS
    assert token.created_by == "user:operations_a"
    assert timedelta(days=90) <= token.expires_at - before < timedelta(days=90, minutes=1)


def test_stored_as_a_digest_never_in_clear(world: World) -> None:
    token, plaintext = make()
    row = ApiToken.objects.get(pk=token.pk)
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    secret = plaintext.split("_", 2)[2]
    for model_rows in (ApiToken.objects.values_list(), AuditEvent.objects.values_list()):
        dumped = json.dumps([list(map(str, values)) for values in model_rows])
        assert secret not in dumped
        assert plaintext not in dumped


def test_creation_is_audited_without_the_secret(world: World) -> None:
    token, plaintext = make(scopes=["customer.view"], expires_days=7, name="reports")
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor_label.startswith("cli:")
    assert event.object_type == "api_token"
    assert event.object_id == str(token.pk)
    assert event.after == {
        "owner_id": token.owner_id,
        "name": "reports",
        "prefix": token.prefix,
        "scopes": ["customer.view"],
        "expires_at": token.expires_at.isoformat(),
        "revoked_at": None,
    }
    assert plaintext not in json.dumps(event.after)
    assert token.key_hash not in json.dumps(event.after)


def test_without_api_token_use_nobody_makes_their_own(world: World) -> None:
    with pytest.raises(Forbidden):
        api_token_create(
            actor=actor("account_manager_a"), owner_id=World.user("account_manager_a").pk, name="x"
        )
    assert ApiToken.objects.count() == 0


def test_user_manage_makes_tokens_for_users_in_scope(world: World) -> None:
    token, _plaintext = api_token_create(
        actor=actor("system_admin_a"),
        owner_id=World.user("operations_b").pk,
        name="for b",
        scopes=["org.view"],
    )
    assert token.owner.username == "operations_b"
    assert token.created_by == "user:system_admin_a"


def test_another_users_token_needs_user_manage(world: World) -> None:
    with pytest.raises(NotFound):
        api_token_create(actor=actor("operations_a"), owner_id=World.user("operations_b").pk, name="x")
    assert ApiToken.objects.count() == 0


def test_scopes_must_be_known_and_held_by_the_owner(world: World) -> None:
    with pytest.raises(ServiceError) as unknown:
        make(scopes=["customer.view", "no.such.thing"])
    assert unknown.value.fields == {"scopes": ["Unknown permissions: no.such.thing."]}
    with pytest.raises(ServiceError) as not_held:
        make(scopes=["customer.view", "audit.view"])
    assert not_held.value.fields == {
        "scopes": ["The token's owner does not hold these permissions: audit.view."]
    }
    with pytest.raises(ServiceError) as empty:
        make(scopes=[])
    assert empty.value.fields == {"scopes": ["Choose at least one permission."]}
    assert ApiToken.objects.count() == 0


def test_an_owner_without_permissions_gets_no_token(world: World) -> None:
    with pytest.raises(ServiceError) as raised:
        make("peer_a")
    assert list(raised.value.fields) == ["scopes"]


def test_a_token_cannot_make_a_wider_token(world: World) -> None:
    parent, _plaintext = make(scopes=["api.token.use", "org.view"])
    token_actor = actor_for_user(World.user("operations_a"), token=parent)
    with pytest.raises(ServiceError) as raised:
        api_token_create(
            actor=token_actor, owner_id=World.user("operations_a").pk, name="child", scopes=["customer.edit"]
        )
    assert list(raised.value.fields) == ["scopes"]
    child, _child_plaintext = api_token_create(
        actor=token_actor, owner_id=World.user("operations_a").pk, name="c"
    )
    assert child.scopes == ["api.token.use", "org.view"]


def test_name_is_required(world: World) -> None:
    with pytest.raises(ServiceError) as raised:
        make(name="   ")
    assert list(raised.value.fields) == ["name"]


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(days=st.integers(min_value=-1000, max_value=1000))
def test_expiry_is_one_to_365_days(world: World, days: int) -> None:
    if 1 <= days <= 365:
        token, _plaintext = make(expires_days=days)
        assert (token.expires_at - timezone.now()).days in (days - 1, days)
    else:
        with pytest.raises(ServiceError) as raised:
            make(expires_days=days)
        assert raised.value.fields == {"expires_days": ["Choose from 1 to 365 days."]}


def test_inactive_owner_gets_no_token(world: World) -> None:
    User.objects.filter(username="operations_a").update(is_active=False)
    with pytest.raises(ServiceError) as raised:
        make()
    assert list(raised.value.fields) == ["owner"]


# --- Revoking -------------------------------------------------------------------------------


def test_owner_revokes_their_token_once(world: World) -> None:
    token, _plaintext = make()
    revoked = api_token_revoke(actor=actor("operations_a"), token_id=token.pk)
    assert revoked.revoked_at is not None
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor_label == "user:operations_a"
    assert event.before is not None
    assert event.before["revoked_at"] is None
    assert event.after is not None
    assert event.after["revoked_at"] == revoked.revoked_at.isoformat()
    with pytest.raises(Conflict):
        api_token_revoke(actor=actor("operations_a"), token_id=token.pk)


def test_others_revoke_only_with_user_manage_in_scope(world: World) -> None:
    token, _plaintext = make("operations_b")
    for username in ("operations_a", "branch_manager_a", "peer_b"):
        with pytest.raises(NotFound):
            api_token_revoke(actor=actor(username), token_id=token.pk)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    api_token_revoke(actor=actor("system_admin_a"), token_id=token.pk)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


# --- Authenticating -------------------------------------------------------------------------


def test_a_valid_token_authenticates_and_acts_as_its_owner(client: Client, world: World) -> None:
    token, plaintext = make(scopes=["customer.view", "org.view"])
    response = client.get("/api/v1/me", **bearer(plaintext))
    assert response.status_code == 200
    data = response.json()
    assert data["username"] == "operations_a"
    assert data["token"]["prefix"] == token.prefix
    assert [grant["permission"] for grant in data["permissions"]] == ["customer.view", "org.view"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"revoked_at": timezone.now()}, "revoked"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
    ],
)
def test_revoked_or_expired_tokens_get_401(
    client: Client, world: World, change: dict[str, Any], reason: str
) -> None:
    token, plaintext = make()
    ApiToken.objects.filter(pk=token.pk).update(**change)
    response = client.get("/api/v1/me", **bearer(plaintext))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    event = SecurityEvent.objects.get(kind="api.token.rejected")
    assert event.detail == {"reason": reason, "prefix": token.prefix}
    assert event.user_id == token.owner_id


@pytest.mark.parametrize("change", [{"is_active": False}, {"locked_at": timezone.now()}])
def test_inactive_or_locked_owners_tokens_get_401(
    client: Client, world: World, change: dict[str, Any]
) -> None:
    _token, plaintext = make()
    User.objects.filter(username="operations_a").update(**change)
    assert client.get("/api/v1/me", **bearer(plaintext)).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer fcrm_abcdefgh_" + "x" * 43,  # unknown prefix
        "Bearer nonsense",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token fcrm_abcdefgh_" + "x" * 43,
    ],
)
def test_malformed_or_unknown_credentials_get_401(client: Client, world: World, header: str) -> None:
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert set(response.json()) == {"code", "message", "fields", "request_id"}


def test_a_right_prefix_with_a_wrong_secret_gets_401(client: Client, world: World) -> None:
    token, plaintext = make()
    forged = plaintext[:-4] + ("aaaa" if not plaintext.endswith("aaaa") else "bbbb")
    assert client.get("/api/v1/me", **bearer(forged)).status_code == 401
    assert SecurityEvent.objects.get(kind="api.token.rejected").detail == {
        "reason": "mismatch",
        "prefix": token.prefix,
    }


def test_a_bad_token_does_not_fall_back_to_the_session(client: Client, world: World) -> None:
    sign_in(client, World.user("operations_a"))
    assert client.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer fcrm_zzzzzzzz_" + "y" * 43).status_code == 401


def test_split_token_accepts_only_the_documented_shape() -> None:
    assert split_token("fcrm_abcd1234_" + "s" * 40) == "abcd1234"
    assert split_token("fcrm_abcd1234_" + "s" * 39) is None
    assert split_token("fcrm_ABCD1234_" + "s" * 40) is None
    assert split_token("fcrm_abcd123_" + "s" * 41) is None
    assert split_token("xxxx_abcd1234_" + "s" * 40) is None


def test_scopes_follow_the_owners_current_roles(client: Client, world: World) -> None:
    _token, plaintext = make(scopes=["api.token.use", "customer.view"])
    me = client.get("/api/v1/me", **bearer(plaintext)).json()
    assert [grant["permission"] for grant in me["permissions"]] == ["api.token.use", "customer.view"]
    # A token scope the owner no longer holds is gone at once (no service involved: the row is removed).
    RoleAssignment.objects.filter(user__username="operations_a").delete()
    me = client.get("/api/v1/me", **bearer(plaintext)).json()
    assert me["permissions"] == []
    response = client.post(
        "/api/v1/tokens", {"name": "more"}, content_type="application/json", **bearer(plaintext)
    )
    assert response.status_code == 403


def test_a_token_without_a_scope_cannot_use_it(client: Client, world: World) -> None:
    _token, plaintext = make(scopes=["customer.view"])
    response = client.post(
        "/api/v1/tokens", {"name": "more"}, content_type="application/json", **bearer(plaintext)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_last_used_is_written_at_most_once_a_minute(client: Client, world: World) -> None:
    token, plaintext = make()
    assert token.last_used_at is None
    client.get("/api/v1/me", **bearer(plaintext))
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    client.get("/api/v1/me", **bearer(plaintext))
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    later = first + timedelta(seconds=59)
    api_token_authenticate(plaintext, now=later)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    later = first + timedelta(seconds=60)
    api_token_authenticate(plaintext, now=later)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == later


# --- The API --------------------------------------------------------------------------------


def test_api_create_shows_the_token_once(client: Client, world: World) -> None:
    sign_in(client, World.user("operations_a"))
    response = client.post(
        "/api/v1/tokens",
        {"name": "nightly", "scopes": ["customer.view"], "expires_days": 30},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    data = response.json()
    assert TOKEN_SHAPE.match(data["token"])
    assert data["name"] == "nightly"
    assert data["scopes"] == ["customer.view"]
    assert data["revoked_at"] is None
    listed = client.get("/api/v1/tokens")
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [data["id"]]
    assert data["token"] not in listed.content.decode()
    assert "token" not in listed.json()["items"][0]
    # The new token works.
    assert client.get("/api/v1/me", **bearer(data["token"])).json()["token"]["id"] == data["id"]


def test_api_create_field_errors(client: Client, world: World) -> None:
    sign_in(client, World.user("operations_a"))
    response = client.post(
        "/api/v1/tokens", {"name": "x", "scopes": ["audit.view"]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "scopes": ["The token's owner does not hold these permissions: audit.view."]
    }


def test_api_lists_only_own_tokens(client: Client, world: World) -> None:
    mine, _plaintext = make("operations_a")
    make("operations_b")
    sign_in(client, World.user("operations_a"))
    assert [item["id"] for item in client.get("/api/v1/tokens").json()["items"]] == [mine.pk]


def test_api_revoke(client: Client, world: World) -> None:
    token, plaintext = make()
    response = client.delete(f"/api/v1/tokens/{token.pk}", **bearer(plaintext))
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    # The revoked token no longer works, itself included.
    assert client.get("/api/v1/me", **bearer(plaintext)).status_code == 401


def test_api_revoke_twice_is_a_conflict(client: Client, world: World) -> None:
    token, _plaintext = make()
    sign_in(client, World.user("operations_a"))
    assert client.delete(f"/api/v1/tokens/{token.pk}").status_code == 200
    response = client.delete(f"/api/v1/tokens/{token.pk}")
    assert response.status_code == 409
    assert response.json()["code"] == "already_revoked"


def test_session_writes_need_the_csrf_token(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    sign_in(client, World.user("operations_a"))
    response = client.post("/api/v1/tokens", {"name": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert ApiToken.objects.count() == 0
    # Reads need none; a page hands out the token.
    assert client.get("/api/v1/tokens").status_code == 200
    client.get("/account/tokens/new/")
    csrf = client.cookies[django_settings.CSRF_COOKIE_NAME].value
    response = client.post(
        "/api/v1/tokens", {"name": "x"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert response.status_code == 201


def test_bearer_writes_need_no_csrf_token(world: World) -> None:
    _token, plaintext = make()
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/tokens", {"name": "x"}, content_type="application/json", **bearer(plaintext)
    )
    assert response.status_code == 201


# --- Pages ----------------------------------------------------------------------------------


def test_token_page_create_shows_it_once(client: Client, world: World) -> None:
    sign_in(client, World.user("operations_a"))
    form = client.get("/account/tokens/new/")
    assert form.status_code == 200
    html = form.content.decode()
    offered = re.findall(r'name="scopes" value="([^"]+)"', html)
    assert offered == OPERATIONS_PERMISSIONS
    response = client.post(
        "/account/tokens/new/", {"name": "spreadsheet", "scopes": ["customer.view"], "expires_days": "14"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    shown = re.findall(r"fcrm_[a-z0-9]{8}_[A-Za-z0-9_-]{40,}", response.content.decode())
    assert len(set(shown)) == 1
    assert hashlib.sha256(shown[0].encode()).hexdigest() == token.key_hash
    assert token.scopes == ["customer.view"]
    assert token.name == "spreadsheet"
    listing = client.get("/account/tokens/")
    assert listing.status_code == 200
    assert shown[0] not in listing.content.decode()
    assert token.prefix in listing.content.decode()
    assert "spreadsheet" in listing.content.decode()


def test_token_page_rejects_scopes_not_offered(client: Client, world: World) -> None:
    sign_in(client, World.user("operations_a"))
    response = client.post(
        "/account/tokens/new/", {"name": "x", "scopes": ["audit.view"], "expires_days": "14"}
    )
    assert response.status_code == 200
    assert 'class="invalid-feedback d-block"' in response.content.decode()
    assert ApiToken.objects.count() == 0


def test_token_page_revoke(client: Client, world: World) -> None:
    token, _plaintext = make()
    sign_in(client, World.user("operations_a"))
    response = client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"] == "/account/tokens/"
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    page = client.get("/account/tokens/").content.decode()
    assert "badge bg-danger-lt" in page


def test_token_page_revoke_needs_post(client: Client, world: World) -> None:
    token, _plaintext = make()
    sign_in(client, World.user("operations_a"))
    assert client.get(f"/account/tokens/{token.pk}/revoke/").status_code == 405
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


# --- Command line ---------------------------------------------------------------------------


def test_cli_prints_the_token_once_and_is_audited_as_cli(world: World) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "token",
        "create",
        "--user",
        "operations_a",
        "--scopes",
        "customer.view,org.view",
        "--expires",
        "10",
        "--name",
        "core feed",
        stdout=out,
        stderr=err,
    )
    printed = out.getvalue().strip()
    assert TOKEN_SHAPE.match(printed)
    token = ApiToken.objects.get()
    assert hashlib.sha256(printed.encode()).hexdigest() == token.key_hash
    assert token.scopes == ["customer.view", "org.view"]
    assert token.name == "core feed"
    assert token.prefix in err.getvalue()
    assert printed not in err.getvalue()
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor_label.startswith("cli:")
    assert token.created_by.startswith("cli:")


def test_cli_defaults(world: World) -> None:
    out = io.StringIO()
    call_command("token", "create", "--user", "auditor_b", stdout=out, stderr=io.StringIO())
    token = ApiToken.objects.get()
    assert token.owner.username == "auditor_b"
    assert token.name == "cli"
    assert token.scopes == sorted(BUILTIN_BY_CODE["auditor"].permissions)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--user", "nobody"], "no user named 'nobody'"),
        (["--user", "operations_a", "--scopes", "audit.view"], "scopes:"),
        (["--user", "operations_a", "--expires", "400"], "expires_days:"),
    ],
)
def test_cli_errors(world: World, arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError) as raised:
        call_command("token", "create", *arguments, stdout=io.StringIO(), stderr=io.StringIO())
    assert message in str(raised.value)
    assert ApiToken.objects.count() == 0


def test_a_session_without_the_required_second_factor_cannot_use_the_api(
    client: Client, world: World
) -> None:
    sign_in(client, World.user("system_admin_a"), mfa_ok=False)
    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json()["code"] == "mfa_required"
    # A role that needs no second factor is not held back.
    other = Client()
    sign_in(other, World.user("operations_a"), mfa_ok=False)
    assert other.get("/api/v1/me").status_code == 200


def test_a_session_that_must_change_its_password_cannot_use_the_api(client: Client, world: World) -> None:
    User.objects.filter(username="operations_a").update(must_change_password=True)
    sign_in(client, World.user("operations_a"))
    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json()["code"] == "password_change_required"

"""Signing in reads little and caches nothing: a bearer token with its owner, roles and teams is
one statement; a session's grants and teams are one. Every change is seen at the next request."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from fincrm.org.models import Team
from fincrm.platform.actor import Actor, Scope
from fincrm.users.actors import access_of_user, actor_for_user, grants_for_user, token_access
from fincrm.users.backends import StaffBackend
from fincrm.users.models import ApiToken, Role, RoleAssignment, TeamMembership, User
from fincrm.users.selectors.tokens import token_for_prefix
from fincrm.users.services.tokens import api_token_authenticate, api_token_create
from tests.support.world import World

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters() -> None:
    cache.clear()


def _token(username: str, scopes: list[str] | None = None) -> tuple[ApiToken, str]:
    return api_token_create(actor=Actor.cli(), owner_id=World.user(username).pk, name="feed", scopes=scopes)


def _teams(user_id: int) -> frozenset[int]:
    return frozenset(
        TeamMembership.objects.filter(user_id=user_id, team__is_active=True).values_list("team_id", flat=True)
    )


def _second_role(user: User) -> None:
    """A second role with another scope and an overlapping permission, and a second team."""
    role = Role.objects.create(code="extra", name="Extra", scope=Scope.BRANCH)
    role.permission_rows.create(permission="customer.view")
    role.permission_rows.create(permission="org.view")
    RoleAssignment.objects.create(user=user, role=role)
    team = Team.objects.create(code="T-X", name="Team X", org_unit=user.org_unit)
    TeamMembership.objects.create(user=user, team=team)


@pytest.mark.parametrize("username", ["operations_a", "account_manager_a", "risk_officer_b", "peer_a"])
def test_one_statement_gives_the_same_grants_and_teams(world: World, username: str) -> None:
    user = World.user(username)
    if username == "account_manager_a":
        _second_role(user)
    assert access_of_user(user.pk) == (grants_for_user(user.pk), _teams(user.pk))


def test_the_token_query_reads_the_owners_grants_and_teams(world: World) -> None:
    user = World.user("account_manager_a")
    _second_role(user)
    token, _plaintext = _token("account_manager_a")
    found = token_for_prefix(token.prefix)
    assert found is not None
    assert token_access(found) == (grants_for_user(user.pk), _teams(user.pk))
    assert grants_for_user(user.pk)["customer.view"] == frozenset({Scope.OWN, Scope.BRANCH})


def _values(instance: Any) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_the_token_statement_loads_what_the_orm_loads(world: World) -> None:
    """token_for_prefix writes its statement by hand: the token, its owner and the owner's unit
    are the instances a queryset would give, every field converted alike."""
    token, plaintext = _token("account_manager_a", scopes=["customer.view"])
    api_token_authenticate(plaintext)  # last_used_at set: a datetime to convert
    found = token_for_prefix(token.prefix)
    orm = ApiToken.objects.select_related("owner__org_unit").get(prefix=token.prefix)
    assert found is not None
    assert _values(found) == _values(orm)
    assert found.scopes == ["customer.view"]
    assert found.last_used_at is not None
    assert _values(found.owner) == _values(orm.owner)
    assert _values(found.owner.org_unit) == _values(orm.owner.org_unit)
    assert found.owner._state.adding is False
    assert token_for_prefix("nosuchprefix") is None


def test_the_session_user_statement_loads_what_the_orm_loads(world: World) -> None:
    user = World.user("account_manager_a")
    found = StaffBackend().get_user(user.pk)
    orm = User.objects.select_related("org_unit").get(pk=user.pk)
    assert found is not None
    assert _values(found) == _values(orm)
    assert _values(found.org_unit) == _values(orm.org_unit)
    assert found.check_password("x") is False  # a usable instance: its password hash loaded
    assert StaffBackend().get_user(10**9) is None
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert StaffBackend().get_user(user.pk) is None


def test_an_owner_without_roles_or_teams_reads_empty(world: World) -> None:
    token, _plaintext = _token("operations_a")
    user = World.user("operations_a")
    RoleAssignment.objects.filter(user=user).delete()
    TeamMembership.objects.filter(user=user).delete()
    found = token_for_prefix(token.prefix)
    assert found is not None
    assert token_access(found) == ({}, frozenset())


def test_token_sign_in_is_one_query(world: World, django_assert_num_queries: Any) -> None:
    token, plaintext = _token("operations_a", scopes=["customer.view", "org.view"])
    api_token_authenticate(plaintext)  # last_used_at is now fresh: no write below
    with django_assert_num_queries(1):
        result = api_token_authenticate(plaintext)
        assert isinstance(result, ApiToken)
        actor = actor_for_user(result.owner, token=result)
    assert actor.token_id == token.pk
    assert actor.permissions == frozenset({"customer.view", "org.view"})
    assert actor.team_ids == _teams(token.owner_id)
    assert actor.org_unit_path == World.user("operations_a").org_unit.path


def test_session_actor_is_one_query(world: World, django_assert_num_queries: Any) -> None:
    user = World.user("account_manager_a")
    with django_assert_num_queries(1):
        actor = actor_for_user(user)
    assert actor.grants == grants_for_user(user.pk)
    assert actor.team_ids == _teams(user.pk)


def test_changes_are_seen_at_the_next_request(client: Client, world: World) -> None:
    """Nothing about a token's owner is cached: a role change, a team closed, a deactivation
    and a revocation each apply to the very next call (the bound is zero)."""
    token, plaintext = _token("operations_a", scopes=["customer.view", "org.view", "api.token.use"])
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}

    def permissions() -> list[str]:
        response = client.get("/api/v1/me", **bearer)
        assert response.status_code == 200
        return [grant["permission"] for grant in response.json()["permissions"]]

    assert permissions() == ["api.token.use", "customer.view", "org.view"]
    user = World.user("operations_a")
    role = RoleAssignment.objects.get(user=user).role
    role.permission_rows.filter(permission="org.view").delete()
    assert permissions() == ["api.token.use", "customer.view"]

    team_id = TeamMembership.objects.get(user=user).team_id
    Team.objects.filter(pk=team_id).update(is_active=False)
    result = api_token_authenticate(plaintext)
    assert isinstance(result, ApiToken)
    assert actor_for_user(result.owner, token=result).team_ids == frozenset()

    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get("/api/v1/me", **bearer).status_code == 401
    User.objects.filter(pk=user.pk).update(is_active=True)
    assert client.get("/api/v1/me", **bearer).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=token.created_at)
    assert client.get("/api/v1/me", **bearer).status_code == 401

"""visible_to(): each data scope reaches exactly its rows; several roles give the union."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db.models import Q

from fincrm.org.models import OrgUnit, Team
from fincrm.platform.actor import Actor, Scope
from fincrm.users.actors import actor_for_user
from fincrm.users.models import Role, RoleAssignment, RolePermission, User
from tests.support.world import World

pytestmark = pytest.mark.django_db


def visible_usernames(actor: Actor) -> set[str]:
    return set(User.objects.visible_to(actor, "user.view").values_list("username", flat=True))


def with_grants(username: str, **grants: set[Scope]) -> Actor:
    actor = actor_for_user(World.user(username))
    return replace(
        actor, grants={name.replace("_", "."): frozenset(scopes) for name, scopes in grants.items()}
    )


def test_own_scope_reaches_only_the_actor(world: World) -> None:
    actor = with_grants("account_manager_a", user_view={Scope.OWN})
    assert visible_usernames(actor) == {"account_manager_a"}


def test_team_scope_reaches_team_members_only(world: World) -> None:
    actor = actor_for_user(World.user("team_lead_a"))
    visible = visible_usernames(actor)
    assert "peer_a" in visible
    assert "account_manager_a" in visible
    assert not any(name.endswith("_b") for name in visible)


def test_subtree_scope_follows_the_materialized_path(world: World) -> None:
    manager = World.user("branch_manager_a")
    manager.org_unit_id = world.branch_a
    manager.save(update_fields=["org_unit"])
    actor = actor_for_user(World.user("branch_manager_a"))
    visible = visible_usernames(actor)
    assert "peer_a" in visible  # sub-branch A1 lies under branch A
    assert "peer_b" not in visible
    assert set(OrgUnit.objects.visible_to(actor, "org.view").values_list("code", flat=True)) == {
        "BR-A",
        "SB-A1",
    }
    assert set(Team.objects.visible_to(actor, "org.view").values_list("code", flat=True)) == {"T-A1"}


def test_branch_scope_is_the_actor_unit_exactly(world: World) -> None:
    actor = with_grants("peer_a", user_view={Scope.BRANCH})
    assert visible_usernames(actor) == set(
        User.objects.filter(org_unit_id=world.sub_a1).values_list("username", flat=True)
    )


def test_institution_scope_reaches_everyone(world: World) -> None:
    actor = actor_for_user(World.user("auditor_a"))
    assert visible_usernames(actor) == set(User.objects.values_list("username", flat=True))


def test_several_roles_give_the_union(world: World) -> None:
    """Team scope from one role and branch scope from another: team A1's members and branch B1's staff."""
    user = World.user("team_lead_a")
    branch_reader = Role.objects.create(code="branch_reader", name="Branch reader", scope=Scope.BRANCH)
    RolePermission.objects.create(role=branch_reader, permission="user.view")
    RoleAssignment.objects.create(user=user, role=branch_reader)
    user.org_unit_id = world.sub_b1
    user.save(update_fields=["org_unit"])
    actor = actor_for_user(World.user("team_lead_a"))
    assert actor.scopes_for("user.view") == {Scope.TEAM, Scope.BRANCH}
    visible = visible_usernames(actor)
    assert {"peer_a", "peer_b", "account_manager_a", "account_manager_b"} <= visible
    assert visible == set(
        User.objects.filter(
            Q(team_memberships__team_id=world.team_a1) | Q(org_unit_id=world.sub_b1)
        ).values_list("username", flat=True)
    )


def test_no_permission_sees_nothing(world: World) -> None:
    actor = actor_for_user(World.user("peer_a"))
    assert visible_usernames(actor) == set()
    assert not User.objects.visible_to(actor, "user.view").exists()


def test_visible_to_uses_exists_not_joins(world: World) -> None:
    actor = actor_for_user(World.user("team_lead_a"))
    sql = str(User.objects.visible_to(actor, "user.view").query).upper()
    assert "EXISTS" in sql
    assert "JOIN" not in sql
    assert "DISTINCT" not in sql
    assert User.objects.visible_to(actor, "user.view").count() == len(visible_usernames(actor))

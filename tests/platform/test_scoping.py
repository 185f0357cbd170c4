"""visible_to(): each data scope reaches exactly its rows; several roles give the union."""

from __future__ import annotations

import pytest

from fincrm.org.models import OrgUnit, Team
from fincrm.platform.actor import Actor, Scope
from fincrm.users.actors import actor_for_user
from fincrm.users.models import RoleAssignment, User
from tests.support.world import World

pytestmark = pytest.mark.django_db


def visible_usernames(actor: Actor) -> set[str]:
    return set(User.objects.visible_to(actor, "user.view").values_list("username", flat=True))


def test_own_scope_reaches_only_the_actor(world: World) -> None:
    actor = actor_for_user(World.user("account_manager_a"))
    assert actor.scopes_for("user.view") == {Scope.OWN}
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
    actor = actor_for_user(World.user("peer_a"))
    object.__setattr__(actor, "grants", {"user.view": frozenset({Scope.BRANCH})})
    assert visible_usernames(actor) == set(
        User.objects.filter(org_unit_id=world.sub_a1).values_list("username", flat=True)
    )


def test_institution_scope_reaches_everyone(world: World) -> None:
    actor = actor_for_user(World.user("auditor_a"))
    assert visible_usernames(actor) == set(User.objects.values_list("username", flat=True))


def test_several_roles_give_the_union(world: World) -> None:
    user = World.user("account_manager_a")
    RoleAssignment.objects.create(user=user, role_id=World.user("team_lead_a").roles.get().pk)
    actor = actor_for_user(user)
    assert actor.scopes_for("user.view") == {Scope.OWN, Scope.TEAM}
    assert "peer_a" in visible_usernames(actor)


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

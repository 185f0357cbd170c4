"""Org selectors: every read is scoped with visible_to."""

from __future__ import annotations

import pytest

from fincrm.org import selectors, services
from fincrm.org.models import OrgUnit
from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound
from tests.org.conftest import actor_of
from tests.support.world import World

pytestmark = pytest.mark.django_db


def codes(units: object) -> list[str]:
    return [unit.code for unit in units]  # type: ignore[attr-defined]


def test_branch_manager_at_branch_a_sees_a_subtree_only(world: World, admin: Actor) -> None:
    a2 = services.org_unit_create(
        actor=admin, parent_id=world.branch_a, code="SB-A2", name="A2", kind="sub_branch"
    )
    services.team_create(actor=admin, org_unit_id=a2.pk, code="T-A2", name="Team A2")
    manager = World.user("branch_manager_a")
    manager.org_unit_id = world.branch_a
    manager.save(update_fields=["org_unit"])
    actor = actor_of("branch_manager_a")

    assert codes(row.unit for row in selectors.org_tree(actor=actor)) == ["BR-A", "SB-A1", "SB-A2"]
    assert [row.level for row in selectors.org_tree(actor=actor)] == [0, 1, 1]
    assert codes(selectors.team_list(actor=actor)) == ["T-A1", "T-A2"]
    assert codes(selectors.team_list(actor=actor, org_unit_id=a2.pk)) == ["T-A2"]
    assert selectors.access_org_unit(actor, world.sub_a1, "org.view").code == "SB-A1"
    with pytest.raises(NotFound):
        selectors.access_org_unit(actor, world.branch_b, "org.view")
    with pytest.raises(NotFound):
        selectors.access_org_unit(actor, world.hq, "org.view")
    with pytest.raises(NotFound):
        selectors.access_team(actor, world.team_b1, "org.view")


def test_team_lead_sees_own_unit_and_own_team(world: World) -> None:
    actor = actor_of("team_lead_a")
    assert codes(selectors.org_unit_list(actor=actor)) == ["SB-A1"]
    assert codes(selectors.team_list(actor=actor)) == ["T-A1"]


def test_institution_scope_sees_the_whole_tree_depth_first(world: World, admin: Actor) -> None:
    # Each unit right after its parent (siblings by id), whatever the database collation.
    b2 = services.org_unit_create(
        actor=admin, parent_id=world.branch_a, code="BR-A2", name="A2", kind="branch"
    )
    tree = selectors.org_tree(actor=actor_of("auditor_a"))
    assert [(row.unit.code, row.level) for row in tree] == [
        ("HQ", 0),
        ("BR-A", 1),
        ("SB-A1", 2),
        ("BR-A2", 2),
        ("BR-B", 1),
        ("SB-B1", 2),
    ]
    assert tree[3].unit.pk == b2.pk


def test_path_key_orders_numerically() -> None:
    paths = ["/1/10/", "/1/2/", "/1/2/30/", "/1/"]
    assert sorted(paths, key=selectors.path_key) == ["/1/", "/1/2/", "/1/2/30/", "/1/10/"]


def test_nothing_without_the_permission(world: World) -> None:
    actor = actor_of("service_agent_a")
    assert selectors.org_tree(actor=actor) == []
    assert not selectors.team_list(actor=actor).exists()


def test_manage_scope_is_separate_from_view_scope(world: World) -> None:
    actor = actor_of("auditor_a")
    assert len(selectors.org_tree(actor=actor)) == OrgUnit.objects.count()
    assert selectors.org_tree(actor=actor, action="org.manage") == []

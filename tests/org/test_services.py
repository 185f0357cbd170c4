"""Org unit and team services: the tree's path/depth, kind rules, validation, deactivation, audit."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer
from fincrm.org import services
from fincrm.org.models import OrgUnit, Team
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, Forbidden, NotFound, ServiceError
from fincrm.users.models import User
from tests.org.conftest import actor_of
from tests.support.world import World

pytestmark = pytest.mark.django_db

K = OrgUnit.Kind


def unit(pk: int) -> OrgUnit:
    return OrgUnit.objects.get(pk=pk)


def create(actor: Actor, parent: int, code: str, kind: str = K.BRANCH) -> OrgUnit:
    return services.org_unit_create(actor=actor, parent_id=parent, code=code, name=f"Unit {code}", kind=kind)


def field_error(excinfo: pytest.ExceptionInfo[ServiceError]) -> dict[str, list[str]]:
    return excinfo.value.fields


# ---------------------------------------------------------------- create


def test_create_sets_path_and_depth_from_the_parent(world: World, admin: Actor) -> None:
    branch = create(admin, world.branch_a, "BR-A2", K.BRANCH)
    sub = create(admin, branch.pk, "SB-A21", K.SUB_BRANCH)
    subsub = create(admin, sub.pk, "SB-A211", K.SUB_BRANCH)
    hq, branch_a = unit(world.hq), unit(world.branch_a)
    assert branch.path == f"{branch_a.path}{branch.pk}/" == f"/{hq.pk}/{branch_a.pk}/{branch.pk}/"
    assert (branch.depth, sub.depth, subsub.depth) == (2, 3, 4)
    assert unit(subsub.pk).path == f"{branch.path}{sub.pk}/{subsub.pk}/"
    assert unit(sub.pk).parent_id == branch.pk


def test_create_records_an_audit_event_with_the_plain_fields(world: World, admin: Actor) -> None:
    branch = create(admin, world.hq, "BR-C")
    event = AuditEvent.objects.get(action="org.unit.created", object_id=str(branch.pk))
    assert event.object_type == "org_unit"
    assert event.actor_label == "user:system_admin_a"
    assert event.before is None
    assert event.after == {
        "code": "BR-C",
        "name": "Unit BR-C",
        "kind": "branch",
        "parent_id": world.hq,
        "path": f"/{world.hq}/{branch.pk}/",
        "depth": 1,
        "is_active": True,
    }


@pytest.mark.parametrize(
    ("kind", "parent", "allowed"),
    [
        (K.BRANCH, "hq", True),
        (K.BRANCH, "branch_a", True),
        (K.BRANCH, "sub_a1", False),
        (K.SUB_BRANCH, "hq", False),
        (K.SUB_BRANCH, "branch_a", True),
        (K.SUB_BRANCH, "sub_a1", True),
        (K.DEPARTMENT, "hq", True),
        (K.DEPARTMENT, "branch_a", True),
        (K.DEPARTMENT, "sub_a1", False),
        (K.INSTITUTION, "hq", False),
    ],
)
def test_kind_rules(world: World, admin: Actor, kind: str, parent: str, allowed: bool) -> None:
    parent_id = getattr(world, parent)
    if allowed:
        created = create(admin, parent_id, "NEW-1", kind)
        assert (created.kind, created.parent_id) == (kind, parent_id)
        return
    count = OrgUnit.objects.count()
    with pytest.raises(ServiceError) as excinfo:
        create(admin, parent_id, "NEW-1", kind)
    assert list(field_error(excinfo)) == ["parent_id"]
    assert excinfo.value.code == "kind_rule"
    assert OrgUnit.objects.count() == count


def test_kind_rule_messages_say_where_a_unit_may_sit(world: World, admin: Actor) -> None:
    with pytest.raises(ServiceError) as excinfo:
        create(admin, world.sub_a1, "NEW-1", K.BRANCH)
    assert field_error(excinfo) == {
        "parent_id": ["A branch must sit under the institution or another branch."]
    }


@pytest.mark.parametrize(
    ("code", "name", "kind", "field"),
    [
        ("", "Name", K.BRANCH, "code"),
        ("has space", "Name", K.BRANCH, "code"),
        ("-LEAD", "Name", K.BRANCH, "code"),
        ("X" * 33, "Name", K.BRANCH, "code"),
        ("HQ", "Name", K.BRANCH, "code"),  # taken
        ("br-a", "Name", K.BRANCH, "code"),  # taken, case aside
        ("NEW-1", "   ", K.BRANCH, "name"),
        ("NEW-1", "N" * 101, K.BRANCH, "name"),
        ("NEW-1", "Name", "bank", "kind"),
    ],
)
def test_create_validation_names_the_field(
    world: World, admin: Actor, code: str, name: str, kind: str, field: str
) -> None:
    before = OrgUnit.objects.count()
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_create(actor=admin, parent_id=world.hq, code=code, name=name, kind=kind)
    assert list(field_error(excinfo)) == [field]
    assert OrgUnit.objects.count() == before
    assert not AuditEvent.objects.filter(action="org.unit.created").exists()


def test_create_without_parent_needs_one_unless_institution(world: World, admin: Actor) -> None:
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_create(actor=admin, parent_id=None, code="NEW-1", name="New", kind=K.BRANCH)
    assert list(field_error(excinfo)) == ["parent_id"]


def test_create_under_an_inactive_parent_is_refused(world: World, admin: Actor) -> None:
    OrgUnit.objects.filter(pk=world.branch_b).update(is_active=False)
    with pytest.raises(ServiceError) as excinfo:
        create(admin, world.branch_b, "NEW-1", K.SUB_BRANCH)
    assert field_error(excinfo) == {"parent_id": ["The chosen parent unit is inactive."]}


def test_create_needs_org_manage(world: World) -> None:
    before = OrgUnit.objects.count()
    with pytest.raises(Forbidden):
        create(actor_of("branch_manager_a"), world.sub_a1, "NEW-1", K.SUB_BRANCH)
    assert OrgUnit.objects.count() == before


def test_create_under_a_parent_outside_the_managers_scope_is_not_found(world: World) -> None:
    # A custom role: org.manage over a subtree only.
    actor = actor_of("branch_manager_a")
    object.__setattr__(actor, "grants", {**actor.grants, "org.manage": actor.grants["org.view"]})
    created = create(actor, world.sub_a1, "NEW-1", K.SUB_BRANCH)
    assert created.parent_id == world.sub_a1
    with pytest.raises(NotFound):
        create(actor, world.sub_b1, "NEW-2", K.SUB_BRANCH)
    assert not OrgUnit.objects.filter(code="NEW-2").exists()


# ---------------------------------------------------------------- institution


def test_only_one_institution_exists(world: World) -> None:
    with pytest.raises(Conflict):
        services.institution_bootstrap(actor=Actor.cli(), code="HQ2", name="Second")
    assert OrgUnit.objects.filter(kind=K.INSTITUTION).count() == 1


def test_only_an_operator_creates_the_root(world: World, admin: Actor) -> None:
    OrgUnit.objects.all().update(parent=None)
    Customer.objects.all().delete()  # the world's customers name their managers
    User.objects.all().delete()
    Team.objects.all().delete()
    OrgUnit.objects.all().delete()
    with pytest.raises(Forbidden):
        services.org_unit_create(actor=admin, parent_id=None, code="BANK", name="Bank", kind=K.INSTITUTION)
    assert not OrgUnit.objects.exists()

    root = services.institution_bootstrap(actor=Actor.cli(), code="BANK", name="The Bank")
    assert (root.kind, root.parent_id, root.path, root.depth) == (K.INSTITUTION, None, f"/{root.pk}/", 0)
    event = AuditEvent.objects.get(action="org.unit.created", object_id=str(root.pk))
    assert event.actor_label.startswith("cli:")
    branch = create(Actor.cli(), root.pk, "BR-1")
    assert branch.path == f"/{root.pk}/{branch.pk}/"


# ---------------------------------------------------------------- update and deactivation


def test_update_changes_fields_and_audits_before_and_after(world: World, admin: Actor) -> None:
    updated = services.org_unit_update(
        actor=admin, unit_id=world.branch_b, name=" Branch  Bee ", code="BR-BEE"
    )
    assert (updated.name, updated.code) == ("Branch Bee", "BR-BEE")
    event = AuditEvent.objects.get(action="org.unit.updated")
    assert event.before is not None
    assert event.after is not None
    assert (event.before["name"], event.before["code"]) == ("Branch B", "BR-B")
    assert (event.after["name"], event.after["code"]) == ("Branch Bee", "BR-BEE")


def test_update_without_a_change_writes_nothing(world: World, admin: Actor) -> None:
    services.org_unit_update(
        actor=admin, unit_id=world.branch_b, name="Branch B", code="BR-B", is_active=True
    )
    assert not AuditEvent.objects.filter(action="org.unit.updated").exists()


def test_update_refuses_a_code_in_use(world: World, admin: Actor) -> None:
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_update(actor=admin, unit_id=world.branch_b, code="BR-A")
    assert field_error(excinfo) == {"code": ["Another org unit already uses this code."]}
    assert unit(world.branch_b).code == "BR-B"


def test_deactivation_refused_while_active_children_exist(world: World, admin: Actor) -> None:
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_update(actor=admin, unit_id=world.branch_b, is_active=False)
    assert excinfo.value.code == "active_children"
    assert field_error(excinfo) == {"is_active": ["Deactivate or move this unit's active sub-units first."]}
    assert unit(world.branch_b).is_active


def test_deactivation_refused_while_active_users_exist(world: World, admin: Actor) -> None:
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_update(actor=admin, unit_id=world.sub_b1, is_active=False)
    assert field_error(excinfo) == {"is_active": ["Move or deactivate this unit's active users first."]}


def test_deactivation_refused_while_active_teams_exist(world: World, admin: Actor) -> None:
    User.objects.filter(org_unit_id=world.sub_b1).update(is_active=False)
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_update(actor=admin, unit_id=world.sub_b1, is_active=False)
    assert field_error(excinfo) == {"is_active": ["Deactivate this unit's active teams first."]}


def test_deactivation_and_reactivation(world: World, admin: Actor) -> None:
    User.objects.filter(org_unit_id=world.sub_b1).update(is_active=False)
    services.team_update(actor=admin, team_id=world.team_b1, is_active=False)
    assert services.org_unit_update(actor=admin, unit_id=world.sub_b1, is_active=False).is_active is False
    assert services.org_unit_update(actor=admin, unit_id=world.branch_b, is_active=False).is_active is False
    # A child comes back only after its parent.
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_update(actor=admin, unit_id=world.sub_b1, is_active=True)
    assert field_error(excinfo) == {"is_active": ["Activate the parent unit first."]}
    services.org_unit_update(actor=admin, unit_id=world.branch_b, is_active=True)
    assert services.org_unit_update(actor=admin, unit_id=world.sub_b1, is_active=True).is_active is True


def test_update_needs_org_manage_and_changes_nothing(world: World) -> None:
    with pytest.raises(NotFound):
        services.org_unit_update(actor=actor_of("branch_manager_a"), unit_id=world.sub_a1, name="Mine")
    assert unit(world.sub_a1).name == "Sub-branch A1"


# ---------------------------------------------------------------- move


def test_move_a_three_level_subtree_updates_every_descendant(world: World, admin: Actor) -> None:
    # Branch A ── A1 ── A11 ── A111 (plus A1's sibling A2, which must not move)
    a11 = create(admin, world.sub_a1, "SB-A11", K.SUB_BRANCH)
    a111 = create(admin, a11.pk, "SB-A111", K.SUB_BRANCH)
    a2 = create(admin, world.branch_a, "SB-A2", K.SUB_BRANCH)
    hq, branch_b = world.hq, world.branch_b

    moved = services.org_unit_move(actor=admin, unit_id=world.sub_a1, new_parent_id=branch_b)

    a1 = world.sub_a1
    assert (moved.parent_id, moved.path, moved.depth) == (branch_b, f"/{hq}/{branch_b}/{a1}/", 2)
    assert (unit(a11.pk).path, unit(a11.pk).depth) == (f"/{hq}/{branch_b}/{a1}/{a11.pk}/", 3)
    assert (unit(a111.pk).path, unit(a111.pk).depth) == (f"/{hq}/{branch_b}/{a1}/{a11.pk}/{a111.pk}/", 4)
    assert unit(a11.pk).parent_id == a1  # parents below the moved unit stay
    assert (unit(a2.pk).path, unit(a2.pk).depth) == (f"/{hq}/{world.branch_a}/{a2.pk}/", 2)

    event = AuditEvent.objects.get(action="org.unit.moved")
    assert event.object_id == str(a1)
    assert event.before is not None
    assert event.after is not None
    assert (event.before["parent_id"], event.before["path"]) == (
        world.branch_a,
        f"/{hq}/{world.branch_a}/{a1}/",
    )
    assert (event.after["parent_id"], event.after["path"]) == (branch_b, f"/{hq}/{branch_b}/{a1}/")


def test_move_up_reduces_depth(world: World, admin: Actor) -> None:
    deep_branch = create(admin, world.branch_a, "BR-A9", K.BRANCH)
    child = create(admin, deep_branch.pk, "SB-A91", K.SUB_BRANCH)
    services.org_unit_move(actor=admin, unit_id=deep_branch.pk, new_parent_id=world.hq)
    assert (unit(deep_branch.pk).depth, unit(child.pk).depth) == (1, 2)
    assert unit(child.pk).path == f"/{world.hq}/{deep_branch.pk}/{child.pk}/"


def test_move_is_one_update_for_the_whole_subtree(world: World, admin: Actor) -> None:
    parent = world.sub_a1
    for index in range(5):
        parent = create(admin, parent, f"DEEP-{index}", K.SUB_BRANCH).pk
    with CaptureQueriesContext(connection) as queries:
        services.org_unit_move(actor=admin, unit_id=world.sub_a1, new_parent_id=world.branch_b)
    path_updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "path" in q["sql"]
    ]
    assert len(path_updates) == 1
    assert unit(parent).path.startswith(f"/{world.hq}/{world.branch_b}/{world.sub_a1}/")


@pytest.mark.parametrize("target", ["self", "child", "grandchild"])
def test_move_under_own_subtree_is_refused(world: World, admin: Actor, target: str) -> None:
    child = create(admin, world.branch_a, "BR-A5", K.BRANCH)
    grandchild = create(admin, child.pk, "BR-A55", K.BRANCH)
    new_parent = {"self": world.branch_a, "child": child.pk, "grandchild": grandchild.pk}[target]
    paths_before = dict(OrgUnit.objects.values_list("pk", "path"))
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_move(actor=admin, unit_id=world.branch_a, new_parent_id=new_parent)
    assert field_error(excinfo) == {
        "new_parent_id": ["A unit cannot be moved under itself or one of its sub-units."]
    }
    assert dict(OrgUnit.objects.values_list("pk", "path")) == paths_before
    assert not AuditEvent.objects.filter(action="org.unit.moved").exists()


def test_move_follows_kind_rules(world: World, admin: Actor) -> None:
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_move(actor=admin, unit_id=world.sub_a1, new_parent_id=world.hq)
    assert field_error(excinfo) == {
        "new_parent_id": ["A sub-branch must sit under a branch or another sub-branch."]
    }
    assert unit(world.sub_a1).parent_id == world.branch_a


def test_the_root_cannot_move(world: World, admin: Actor) -> None:
    with pytest.raises(ServiceError) as excinfo:
        services.org_unit_move(actor=admin, unit_id=world.hq, new_parent_id=world.branch_a)
    assert list(field_error(excinfo)) == ["new_parent_id"]


def test_move_to_the_same_parent_changes_nothing(world: World, admin: Actor) -> None:
    services.org_unit_move(actor=admin, unit_id=world.sub_a1, new_parent_id=world.branch_a)
    assert not AuditEvent.objects.filter(action="org.unit.moved").exists()


def test_move_changes_what_a_subtree_manager_sees(world: World, admin: Actor) -> None:
    manager = World.user("branch_manager_b")
    manager.org_unit_id = world.branch_b
    manager.save(update_fields=["org_unit"])
    before = set(
        OrgUnit.objects.visible_to(actor_of("branch_manager_b"), "org.view").values_list("code", flat=True)
    )
    assert before == {"BR-B", "SB-B1"}
    services.org_unit_move(actor=admin, unit_id=world.sub_a1, new_parent_id=world.branch_b)
    after = set(
        OrgUnit.objects.visible_to(actor_of("branch_manager_b"), "org.view").values_list("code", flat=True)
    )
    assert after == {"BR-B", "SB-B1", "SB-A1"}


# ---------------------------------------------------------------- teams


def test_team_create_and_update(world: World, admin: Actor) -> None:
    team = services.team_create(actor=admin, org_unit_id=world.sub_a1, code="T-A2", name="Team A2")
    assert (team.org_unit_id, team.is_active) == (world.sub_a1, True)
    created = AuditEvent.objects.get(action="org.team.created")
    assert created.after == {
        "code": "T-A2",
        "name": "Team A2",
        "org_unit_id": world.sub_a1,
        "is_active": True,
    }

    services.team_update(actor=admin, team_id=team.pk, name="Team Two", org_unit_id=world.sub_b1)
    team.refresh_from_db()
    assert (team.name, team.org_unit_id) == ("Team Two", world.sub_b1)
    updated = AuditEvent.objects.get(action="org.team.updated")
    assert updated.before == {
        "code": "T-A2",
        "name": "Team A2",
        "org_unit_id": world.sub_a1,
        "is_active": True,
    }
    assert updated.after == {
        "code": "T-A2",
        "name": "Team Two",
        "org_unit_id": world.sub_b1,
        "is_active": True,
    }


def test_team_validation_names_the_field(world: World, admin: Actor) -> None:
    with pytest.raises(ServiceError) as excinfo:
        services.team_create(actor=admin, org_unit_id=world.sub_a1, code="T-B1", name="Dup")
    assert field_error(excinfo) == {"code": ["Another team already uses this code."]}
    with pytest.raises(ServiceError) as excinfo:
        services.team_create(actor=admin, org_unit_id=world.sub_a1, code="T-NEW", name="")
    assert list(field_error(excinfo)) == ["name"]
    with pytest.raises(NotFound):
        services.team_create(actor=admin, org_unit_id=999_999, code="T-NEW", name="New")
    assert Team.objects.count() == 2


def test_team_in_an_inactive_unit_is_refused(world: World, admin: Actor) -> None:
    OrgUnit.objects.filter(pk=world.sub_b1).update(is_active=False)
    with pytest.raises(ServiceError) as excinfo:
        services.team_create(actor=admin, org_unit_id=world.sub_b1, code="T-NEW", name="New")
    assert field_error(excinfo) == {"org_unit_id": ["The chosen org unit is inactive."]}


def test_team_writes_need_org_manage(world: World) -> None:
    with pytest.raises(Forbidden):
        services.team_create(
            actor=actor_of("team_lead_a"), org_unit_id=world.sub_a1, code="T-NEW", name="New"
        )
    with pytest.raises(NotFound):
        services.team_update(actor=actor_of("team_lead_a"), team_id=world.team_a1, name="Mine")
    assert Team.objects.get(pk=world.team_a1).name == "Team A1"
    assert not AuditEvent.objects.filter(action__startswith="org.team").exists()

"""Administration of staff users through the services: create, change, deactivate, roles."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent
from fincrm.platform.errors import Conflict, Forbidden, NotFound, ServiceError
from fincrm.users.models import AccessChangeRequest, RoleAssignment, TeamMembership, User
from fincrm.users.selectors.accounts import (
    UserFilter,
    pending_approval_count,
    team_member_list,
    user_list,
)
from fincrm.users.services.accounts import (
    user_create,
    user_deactivate,
    user_reactivate,
    user_role_assign,
    user_role_unassign,
    user_update,
)
from tests.support.world import PASSWORD, World
from tests.users.admin_support import actor, custom_role, live_session, live_token, sessions_of

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Quiet-Lantern-Orchard-42"


def _create(world: World, **overrides: object) -> User:
    data: dict[str, object] = {
        "username": "new.clerk",
        "full_name": "New Clerk",
        "email": "clerk@bank.example",
        "org_unit_id": world.sub_a1,
        "team_ids": [world.team_a1],
        "password": NEW_PASSWORD,
    }
    data.update(overrides)
    return user_create(actor=actor("system_admin_a"), **data)  # type: ignore[arg-type]


def test_create_user_sets_must_change_password_and_audits_without_password(world: World) -> None:
    user = _create(world)
    assert user.must_change_password is True
    assert user.check_password(NEW_PASSWORD)
    assert list(TeamMembership.objects.filter(user=user).values_list("team_id", flat=True)) == [world.team_a1]
    event = AuditEvent.objects.get(action="user.created", object_id=str(user.pk))
    assert event.after == {
        "username": "new.clerk",
        "full_name": "New Clerk",
        "email": "clerk@bank.example",
        "org_unit_id": world.sub_a1,
        "team_ids": [world.team_a1],
        "is_active": True,
    }
    assert NEW_PASSWORD not in str(event.after)
    assert "password" not in str(event.after)
    assert user.is_superuser is False


def test_create_user_rejects_weak_password_taken_username_and_bad_email(world: World) -> None:
    with pytest.raises(ServiceError) as caught:
        _create(world, username="peer_a", email="not-an-email", password="short")
    assert set(caught.value.fields) == {"username", "email", "password"}
    assert caught.value.fields["username"] == ["This username is already taken."]
    assert not User.objects.filter(full_name="New Clerk").exists()


def test_create_user_refuses_a_password_like_the_username(world: World) -> None:
    with pytest.raises(ServiceError) as caught:
        _create(world, username="orchardkeeper", password="orchardkeeper1")
    assert "password" in caught.value.fields


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=20))
def test_username_validation_rejects_anything_outside_the_allowed_form(world: World, candidate: str) -> None:
    import re

    valid = bool(re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,63}", candidate.strip().lower()))
    if valid:
        _create(world, username=candidate).delete()
        return
    with pytest.raises(ServiceError) as caught:
        _create(world, username=candidate)
    assert "username" in caught.value.fields


def test_create_user_outside_scope_unit_or_without_permission(world: World) -> None:
    with pytest.raises(Forbidden):
        user_create(
            actor=actor("branch_manager_a"),
            username="x1",
            full_name="X",
            org_unit_id=world.sub_a1,
            password=NEW_PASSWORD,
        )
    assert not User.objects.filter(username="x1").exists()


def test_update_user_changing_org_unit_ends_sessions_and_tokens(world: World) -> None:
    peer = World.user("peer_a")
    live_session(peer)
    token = live_token(peer)
    user_update(
        actor=actor("system_admin_a"),
        user_id=peer.pk,
        full_name="Peer Moved",
        email="",
        org_unit_id=world.branch_a,
        team_ids=[],
    )
    peer.refresh_from_db()
    assert (peer.full_name, peer.org_unit_id) == ("Peer Moved", world.branch_a)
    assert not TeamMembership.objects.filter(user=peer).exists()
    assert sessions_of(peer) == (0, 0)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.revoked_reason == "org unit or teams changed"
    event = AuditEvent.objects.get(action="user.updated", object_id=str(peer.pk))
    assert event.before["org_unit_id"] == world.sub_a1
    assert event.after["org_unit_id"] == world.branch_a


def test_update_name_only_keeps_sessions(world: World) -> None:
    peer = World.user("peer_a")
    live_session(peer)
    user_update(
        actor=actor("system_admin_a"),
        user_id=peer.pk,
        full_name="Peer Renamed",
        email="p@bank.example",
        org_unit_id=world.sub_a1,
        team_ids=[world.team_a1],
    )
    assert sessions_of(peer) == (1, 1)


def test_admin_cannot_move_themselves(world: World) -> None:
    admin = World.user("system_admin_a")
    with pytest.raises(ServiceError) as caught:
        user_update(
            actor=actor("system_admin_a"),
            user_id=admin.pk,
            full_name=admin.full_name,
            org_unit_id=world.hq,
            team_ids=[world.team_a1],
        )
    assert caught.value.code == "self_change"
    admin.refresh_from_db()
    assert admin.org_unit_id == world.sub_a1


def test_deactivate_ends_sessions_and_revokes_tokens(world: World) -> None:
    peer = World.user("peer_a")
    client = live_session(peer)
    token = live_token(peer)
    assert sessions_of(peer) == (1, 1)
    user_deactivate(actor=actor("system_admin_a"), user_id=peer.pk, reason="left the bank")
    peer.refresh_from_db()
    assert peer.is_active is False
    assert sessions_of(peer) == (0, 0)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.revoked_reason == "user deactivated"
    event = AuditEvent.objects.get(action="user.deactivated", object_id=str(peer.pk))
    assert (event.before["is_active"], event.after["is_active"], event.reason) == (
        True,
        False,
        "left the bank",
    )
    # The browser that was signed in is signed out.
    response = client.get("/admin/users/")
    assert response.status_code == 302
    assert "/signin/" in response["Location"]

    with pytest.raises(Conflict):
        user_deactivate(actor=actor("system_admin_a"), user_id=peer.pk)
    user_reactivate(actor=actor("system_admin_a"), user_id=peer.pk)
    peer.refresh_from_db()
    assert peer.is_active is True
    assert AuditEvent.objects.filter(action="user.reactivated", object_id=str(peer.pk)).count() == 1


def test_nobody_deactivates_themselves(world: World) -> None:
    admin = World.user("system_admin_a")
    with pytest.raises(ServiceError):
        user_deactivate(actor=actor("system_admin_a"), user_id=admin.pk)
    admin.refresh_from_db()
    assert admin.is_active is True


def test_assigning_a_role_without_customer_data_applies_at_once_and_ends_sessions(world: World) -> None:
    peer = World.user("peer_a")
    live_session(peer)
    role = custom_role(permissions=("org.view",))
    result = user_role_assign(actor=actor("system_admin_a"), user_id=peer.pk, role_id=role.pk)
    assert isinstance(result, RoleAssignment)
    assert result.granted_by_id == World.user("system_admin_a").pk
    assert sessions_of(peer) == (0, 0)
    assert AuditEvent.objects.get(action="user.role.assigned").after["role_code"] == "desk"
    with pytest.raises(Conflict):
        user_role_assign(actor=actor("system_admin_a"), user_id=peer.pk, role_id=role.pk)


def test_assigning_a_customer_data_role_is_held_for_approval(world: World) -> None:
    peer = World.user("peer_a")
    live_session(peer)
    role = custom_role(permissions=("customer.view",))
    result = user_role_assign(
        actor=actor("system_admin_a"), user_id=peer.pk, role_id=role.pk, reason="new AM"
    )
    assert isinstance(result, AccessChangeRequest)
    assert (result.kind, result.status, result.target_user_id) == ("assignment", "pending", peer.pk)
    assert not RoleAssignment.objects.filter(user=peer, role=role).exists()
    assert sessions_of(peer) == (1, 1)  # nothing changed for the user yet
    assert AuditEvent.objects.filter(action="access_request.created").count() == 1
    assert pending_approval_count(actor=actor("system_admin_b")) == 1
    assert pending_approval_count(actor=actor("system_admin_a")) == 0  # their own request
    assert pending_approval_count(actor=actor("auditor_a")) == 0
    with pytest.raises(Conflict):
        user_role_assign(actor=actor("system_admin_a"), user_id=peer.pk, role_id=role.pk)


def test_nobody_changes_their_own_roles(world: World) -> None:
    admin = World.user("system_admin_a")
    role = custom_role(permissions=("org.view",))
    with pytest.raises(ServiceError) as caught:
        user_role_assign(actor=actor("system_admin_a"), user_id=admin.pk, role_id=role.pk)
    assert caught.value.code == "self_change"
    own_role = admin.roles.get()
    with pytest.raises(ServiceError):
        user_role_unassign(actor=actor("system_admin_a"), user_id=admin.pk, role_id=own_role.pk)
    assert RoleAssignment.objects.filter(user=admin).count() == 1
    assert not AccessChangeRequest.objects.exists()


def test_unassigning_applies_at_once_and_ends_sessions(world: World) -> None:
    manager = World.user("branch_manager_a")
    live_session(manager)
    token = live_token(manager)
    role = manager.roles.get()
    user_role_unassign(actor=actor("system_admin_a"), user_id=manager.pk, role_id=role.pk, reason="moved")
    assert not RoleAssignment.objects.filter(user=manager).exists()
    assert sessions_of(manager) == (0, 0)
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="user.role.unassigned")
    assert event.before == {
        "user_id": manager.pk,
        "username": "branch_manager_a",
        "role_id": role.pk,
        "role_code": "branch_manager",
    }
    with pytest.raises(Conflict):
        user_role_unassign(actor=actor("system_admin_a"), user_id=manager.pk, role_id=role.pk)


def test_branch_manager_sees_only_their_subtree_and_team_lead_only_the_team(world: World) -> None:
    manager = World.user("branch_manager_a")
    manager.org_unit_id = world.branch_a
    manager.save(update_fields=["org_unit"])
    visible = set(user_list(actor=actor("branch_manager_a")).values_list("username", flat=True))
    assert "peer_a" in visible
    assert "account_manager_a" in visible
    assert not any(name.endswith("_b") for name in visible)
    team = set(user_list(actor=actor("team_lead_a")).values_list("username", flat=True))
    assert team == set(World.user("peer_a").teams.get().members.values_list("username", flat=True))
    for without_user_view in ("account_manager_a", "marketing_a"):
        with pytest.raises(Forbidden):
            user_list(actor=actor(without_user_view))


def test_user_list_filters(world: World) -> None:
    admin = actor("system_admin_a")
    peer_b = World.user("peer_b")
    peer_b.is_active = False
    peer_b.save(update_fields=["is_active"])
    auditor_role = World.user("auditor_a").roles.get()
    by_role = user_list(actor=admin, filters=UserFilter(role_id=auditor_role.pk))
    assert list(by_role.values_list("username", flat=True)) == ["auditor_a", "auditor_b"]
    inactive = user_list(actor=admin, filters=UserFilter(is_active=False))
    assert list(inactive.values_list("username", flat=True)) == ["peer_b"]
    by_unit = user_list(actor=admin, filters=UserFilter(org_unit_id=world.sub_b1, search="PEER"))
    assert list(by_unit.values_list("username", flat=True)) == ["peer_b"]
    by_name = user_list(actor=admin, filters=UserFilter(search="Team Lead"))
    assert list(by_name.values_list("username", flat=True)) == ["team_lead_a", "team_lead_b"]


def test_team_member_list_is_scoped(world: World) -> None:
    members = team_member_list(actor=actor("team_lead_a"), team_id=world.team_a1)
    names = list(members.values_list("username", flat=True))
    assert "peer_a" in names
    assert "team_lead_a" in names
    assert not team_member_list(actor=actor("account_manager_a"), team_id=world.team_a1).exists()
    assert not team_member_list(actor=actor("team_lead_a"), team_id=world.team_b1).exists()


def test_out_of_scope_user_is_not_found_and_unchanged(world: World) -> None:
    manager = actor("branch_manager_a")
    object.__setattr__(manager, "grants", {**manager.grants, "user.manage": manager.scopes_for("user.view")})
    peer_b = World.user("peer_b")
    with pytest.raises(NotFound):
        user_deactivate(actor=manager, user_id=peer_b.pk)
    peer_b.refresh_from_db()
    assert peer_b.is_active is True
    assert World.user("peer_a").check_password(PASSWORD)

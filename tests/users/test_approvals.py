"""Maker-checker: a grant reaching customer data applies only when a second administrator approves."""

from __future__ import annotations

import pytest

from fincrm.audit.models import AuditEvent
from fincrm.platform.errors import Conflict, NotFound, ServiceError
from fincrm.users.models import AccessChangeRequest, Role, RoleAssignment, RolePermission
from fincrm.users.services.accounts import user_role_assign
from fincrm.users.services.approvals import (
    access_request_approve,
    access_request_reject,
    access_request_withdraw,
)
from fincrm.users.services.roles import role_update
from tests.support.world import World
from tests.users.admin_support import actor, custom_role, live_session, live_token, sessions_of

pytestmark = pytest.mark.django_db


def perms(role: Role) -> list[str]:
    return sorted(RolePermission.objects.filter(role=role).values_list("permission", flat=True))


def _held_assignment(role: Role, target: str = "peer_a") -> AccessChangeRequest:
    result = user_role_assign(actor=actor("system_admin_a"), user_id=World.user(target).pk, role_id=role.pk)
    assert isinstance(result, AccessChangeRequest)
    return result


def test_second_admin_approves_an_assignment_which_applies_and_ends_sessions(world: World) -> None:
    peer = World.user("peer_a")
    live_session(peer)
    token = live_token(peer)
    role = custom_role(permissions=("customer.view",))
    request = _held_assignment(role)
    assert sessions_of(peer) == (1, 1)

    access_request_approve(actor=actor("system_admin_b"), request_id=request.pk, note="checked")
    request.refresh_from_db()
    assert (request.status, request.decided_by_id, request.decision_note) == (
        "approved",
        World.user("system_admin_b").pk,
        "checked",
    )
    assignment = RoleAssignment.objects.get(user=peer, role=role)
    assert (assignment.granted_by_id, assignment.approved_by_id) == (
        World.user("system_admin_a").pk,
        World.user("system_admin_b").pk,
    )
    assert sessions_of(peer) == (0, 0)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="access_request.approved", object_id=str(request.pk)).count() == 1
    assert AuditEvent.objects.filter(action="user.role.assigned", object_id=str(peer.pk)).count() == 1
    with pytest.raises(Conflict):
        access_request_approve(actor=actor("system_admin_b"), request_id=request.pk)


def test_requester_cannot_approve_their_own_request(world: World) -> None:
    role = custom_role(permissions=("customer.view",))
    request = _held_assignment(role)
    with pytest.raises(ServiceError) as caught:
        access_request_approve(actor=actor("system_admin_a"), request_id=request.pk)
    assert caught.value.code == "self_approval"
    request.refresh_from_db()
    assert request.status == "pending"
    assert not RoleAssignment.objects.filter(role=role).exists()


def test_nobody_approves_a_request_about_themselves(world: World) -> None:
    role = custom_role(permissions=("customer.view",))
    request = _held_assignment(role, target="system_admin_b")
    with pytest.raises(ServiceError) as caught:
        access_request_approve(actor=actor("system_admin_b"), request_id=request.pk)
    assert caught.value.code == "self_target"
    assert not RoleAssignment.objects.filter(role=role).exists()


def test_holder_of_a_role_cannot_approve_widening_it(world: World) -> None:
    role = custom_role(permissions=("org.view",))
    RoleAssignment.objects.create(user=World.user("system_admin_b"), role=role)
    change = role_update(
        actor=actor("system_admin_a"),
        role_id=role.pk,
        name="Desk",
        scope="own",
        permissions=["org.view", "customer.view"],
    )
    assert change.request is not None
    with pytest.raises(ServiceError) as caught:
        access_request_approve(actor=actor("system_admin_b"), request_id=change.request.pk)
    assert caught.value.code == "self_target"
    assert perms(role) == ["org.view"]


def test_approving_a_role_grant_applies_and_ends_every_holders_sessions(world: World) -> None:
    role = custom_role(scope="team", permissions=("customer.view",))
    peer = World.user("peer_a")
    RoleAssignment.objects.create(user=peer, role=role)
    live_session(peer)
    change = role_update(
        actor=actor("system_admin_a"),
        role_id=role.pk,
        name="Desk",
        scope="subtree",
        permissions=["customer.view", "customer.export"],
    )
    assert change.request is not None
    assert sessions_of(peer) == (1, 1)
    # A second administrator holding role.approve, created for this test.
    checker = World.user("peer_b")
    RoleAssignment.objects.create(user=checker, role=Role.objects.get(code="system_admin"))
    access_request_approve(actor=actor("peer_b"), request_id=change.request.pk)
    role.refresh_from_db()
    assert role.scope == "subtree"
    assert perms(role) == ["customer.export", "customer.view"]
    assert role.mfa_required is True  # customer.export is privileged
    assert sessions_of(peer) == (0, 0)


def test_reject_and_withdraw(world: World) -> None:
    role = custom_role(permissions=("customer.view",))
    first = _held_assignment(role, target="peer_a")
    second = _held_assignment(role, target="peer_b")
    with pytest.raises(ServiceError):
        access_request_reject(actor=actor("system_admin_a"), request_id=first.pk)  # own: withdraw instead
    access_request_reject(actor=actor("system_admin_b"), request_id=first.pk, note="not needed")
    first.refresh_from_db()
    assert (first.status, first.decision_note) == ("rejected", "not needed")
    # Only the requester withdraws; to anybody else the request is not there to withdraw.
    with pytest.raises(NotFound):
        access_request_withdraw(actor=actor("system_admin_b"), request_id=second.pk)
    access_request_withdraw(actor=actor("system_admin_a"), request_id=second.pk)
    second.refresh_from_db()
    assert second.status == "withdrawn"
    assert not RoleAssignment.objects.filter(role=role).exists()
    assert AuditEvent.objects.filter(action="access_request.rejected").count() == 1
    assert AuditEvent.objects.filter(action="access_request.withdrawn").count() == 1


def test_without_role_approve_a_request_is_not_found(world: World) -> None:
    role = custom_role(permissions=("customer.view",))
    request = _held_assignment(role)
    with pytest.raises(NotFound):
        access_request_approve(actor=actor("auditor_a"), request_id=request.pk)
    request.refresh_from_db()
    assert request.status == "pending"

"""The checker's side of maker-checker: approve, reject, or (the maker) withdraw a held grant.

Segregation of duties: the requester never decides their own request, and nobody approves a
request that would widen their own access (a role they hold, or an assignment to themselves).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from fincrm.audit.services import audit_record
from fincrm.platform import transaction
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, ServiceError
from fincrm.users.models import AccessChangeRequest, RoleAssignment
from fincrm.users.selectors.roles import access_request_for_decision
from fincrm.users.services.accounts import _end_sessions_and_tokens, apply_assignment
from fincrm.users.services.roles import apply_role_grant


def request_snapshot(request: AccessChangeRequest) -> dict[str, Any]:
    return {
        "kind": request.kind,
        "status": request.status,
        "role_id": request.role_id,
        "target_user_id": request.target_user_id,
        "add_permissions": list(request.add_permissions),
        "new_scope": request.new_scope,
        "requested_by_id": request.requested_by_id,
        "decided_by_id": request.decided_by_id,
        "decision_note": request.decision_note,
    }


def _pending(request: AccessChangeRequest) -> None:
    if request.status != AccessChangeRequest.Status.PENDING:
        raise Conflict(_("This request has already been decided or withdrawn."), code="not_pending")


def _decide(request: AccessChangeRequest, actor: Actor, status: str, note: str) -> dict[str, Any]:
    before = request_snapshot(request)
    request.status = status
    request.decided_by_id = actor.user_id
    request.decided_at = timezone.now()
    request.decision_note = note.strip()
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
    return before


@transaction.atomic
def access_request_approve(*, actor: Actor, request_id: int, note: str = "") -> AccessChangeRequest:
    request = access_request_for_decision(actor, request_id, "approve")
    _pending(request)
    if actor.user_id is None:
        raise ServiceError(_("Only a staff user can approve a request."), code="checker_required")
    if request.requested_by_id == actor.user_id:
        raise ServiceError(
            _("You cannot approve your own request; another administrator must."), code="self_approval"
        )
    if request.target_user_id == actor.user_id:
        raise ServiceError(_("You cannot approve a request about your own access."), code="self_target")
    if (
        request.kind == AccessChangeRequest.Kind.ROLE_GRANT
        and RoleAssignment.objects.filter(role_id=request.role_id, user_id=actor.user_id).exists()
    ):
        raise ServiceError(_("You hold this role, so you cannot approve widening it."), code="self_target")
    before = _decide(request, actor, AccessChangeRequest.Status.APPROVED, note)
    audit_record(
        actor,
        "access_request.approved",
        object_type="access_request",
        object_id=str(request.pk),
        before=before,
        after=request_snapshot(request),
        reason=note,
    )
    if request.kind == AccessChangeRequest.Kind.ASSIGNMENT:
        assert request.target_user is not None
        apply_assignment(
            actor=actor,
            user=request.target_user,
            role=request.role,
            granted_by_id=request.requested_by_id,
            approved_by_id=actor.user_id,
            reason=request.reason,
        )
    else:
        apply_role_grant(
            actor=actor,
            role=request.role,
            add_permissions=request.add_permissions,
            new_scope=request.new_scope,
        )
        holders = RoleAssignment.objects.filter(role_id=request.role_id).values_list("user_id", flat=True)
        for holder_id in sorted(holders):
            _end_sessions_and_tokens(holder_id, "role changed")
    return request


@transaction.atomic
def access_request_reject(*, actor: Actor, request_id: int, note: str = "") -> AccessChangeRequest:
    request = access_request_for_decision(actor, request_id, "reject")
    _pending(request)
    if request.requested_by_id == actor.user_id:
        raise ServiceError(_("Withdraw your own request instead of rejecting it."), code="self_approval")
    before = _decide(request, actor, AccessChangeRequest.Status.REJECTED, note)
    audit_record(
        actor,
        "access_request.rejected",
        object_type="access_request",
        object_id=str(request.pk),
        before=before,
        after=request_snapshot(request),
        reason=note,
    )
    return request


@transaction.atomic
def access_request_withdraw(*, actor: Actor, request_id: int, note: str = "") -> AccessChangeRequest:
    request = access_request_for_decision(actor, request_id, "withdraw")
    _pending(request)
    before = _decide(request, actor, AccessChangeRequest.Status.WITHDRAWN, note)
    audit_record(
        actor,
        "access_request.withdrawn",
        object_type="access_request",
        object_id=str(request.pk),
        before=before,
        after=request_snapshot(request),
        reason=note,
    )
    return request

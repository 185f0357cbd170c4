"""Reads of sensitive-access grants, each scoped to what the caller may see."""

from __future__ import annotations

from django.db.models import QuerySet

from fincrm.platform.access import access_object, require_permission
from fincrm.platform.actor import Actor
from fincrm.security.grants import APPROVE, REPORT, REQUEST, approvable_grants
from fincrm.security.models import SensitiveAccessGrant

Status = SensitiveAccessGrant.Status


def grant_list_mine(*, actor: Actor) -> QuerySet[SensitiveAccessGrant]:
    """The actor's own requests, newest first. (Whether a number matched is not the requester's
    to know: pages and the API never show ``customer`` here.)"""
    require_permission(actor, REQUEST)
    return SensitiveAccessGrant.objects.filter(requester_id=actor.user_id).select_related("approver")


def grant_queue(*, actor: Actor, status: str | None = Status.REQUESTED) -> QuerySet[SensitiveAccessGrant]:
    """Requests the actor may decide on (never their own), oldest waiting first."""
    require_permission(actor, APPROVE)
    queryset = approvable_grants(actor).select_related("requester", "customer", "approver")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("requested_at", "pk")


def access_grant_for_decision(actor: Actor, grant_id: object) -> SensitiveAccessGrant:
    """One grant the actor may decide on; without the permission, not found (recorded)."""
    queryset = approvable_grants(actor) if actor.can(APPROVE) else SensitiveAccessGrant.objects.none()
    return access_object(
        queryset.select_related("requester", "customer", "approver"),
        grant_id,
        actor=actor,
        action=APPROVE,
        object_type="sensitive_access_grant",
    )


def grant_report(*, actor: Actor, status: str | None = None) -> QuerySet[SensitiveAccessGrant]:
    """Every grant (the compliance report): requester, approver, customer number, fields, reason,
    times, uses, status. Institution-wide: the report is for compliance and audit."""
    require_permission(actor, REPORT)
    queryset = SensitiveAccessGrant.objects.select_related("requester", "approver", "customer")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-requested_at", "-pk")

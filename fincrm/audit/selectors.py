"""Reading security alerts (for administrators) and facts from the audit log that other apps need."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, Exists, OuterRef, QuerySet, Subquery, Value, When

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor, Scope
from fincrm.users.models import User

ALERT_PERMISSION = "security.alert.view"


def _alerts_visible_to(actor: Actor) -> QuerySet[SecurityEvent]:
    """Alerts about users the actor may see under security.alert.view (all of them at institution scope)."""
    scopes = actor.scopes_for(ALERT_PERMISSION)
    alerts = SecurityEvent.objects.filter(severity=SecurityEvent.Severity.ALERT)
    if not scopes:
        return alerts.none()
    if Scope.INSTITUTION in scopes:
        return alerts
    reachable = User.objects.visible_to(actor, ALERT_PERMISSION).filter(pk=OuterRef("user_id"))
    return alerts.filter(Exists(reachable))


def security_alert_list(*, actor: Actor) -> QuerySet[SecurityEvent]:
    """Alerts, unacknowledged first, newest first; each with ``username`` of the user it is about."""
    usernames = User.objects.filter(pk=OuterRef("user_id")).values("username")[:1]
    return (
        _alerts_visible_to(actor)
        .annotate(
            username=Subquery(usernames),
            open_rank=Case(When(acknowledged_at__isnull=True, then=Value(0)), default=Value(1)),
        )
        .order_by("open_rank", "-occurred_at", "-pk")
    )


def security_alert_count(*, actor: Actor) -> int:
    """Unacknowledged alerts the actor may see (the notifications badge); 0 without the permission."""
    if not actor.can(ALERT_PERMISSION):
        return 0
    return _alerts_visible_to(actor).filter(acknowledged_at__isnull=True).count()


def access_security_alert(actor: Actor, alert_id: object) -> SecurityEvent:
    return access_object(
        _alerts_visible_to(actor),
        alert_id,
        actor=actor,
        action=ALERT_PERMISSION,
        object_type="security_alert",
    )


def audit_last_occurred(*, action: str, object_type: str, object_id: object) -> datetime | None:
    """When ``action`` last happened to an object (e.g. the last unlock of a user), or None."""
    return (
        AuditEvent.objects.filter(action=action, object_type=object_type, object_id=str(object_id))
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )

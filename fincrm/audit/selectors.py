"""Reading security alerts (for administrators), the audit log (for auditors) and facts from the
audit log that other apps need."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Subquery, Value, When

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.platform.access import access_object, require_permission
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


AUDIT_VIEW = "audit.view"
AUDIT_EXPORT = "audit.export"


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor searches by; empty values do not filter."""

    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None

    def as_dict(self) -> dict[str, str]:
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
            if value not in ("", None)
        }


def _events_visible_to(actor: Actor) -> QuerySet[AuditEvent]:
    """The audit log is read at institution scope (it spans every branch); narrower grants see nothing."""
    if Scope.INSTITUTION in actor.scopes_for(AUDIT_VIEW):
        return AuditEvent.objects.all()
    return AuditEvent.objects.none()


def audit_event_search(*, actor: Actor, filters: AuditFilter) -> QuerySet[AuditEvent]:
    """Events matching ``filters``, newest first. ``action`` ending in "." matches every code under it."""
    require_permission(actor, AUDIT_VIEW)
    events = _events_visible_to(actor)
    if filters.actor:
        label = filters.actor.strip()
        events = events.filter(Q(actor_label=label) | Q(actor_label=f"user:{label}"))
    if filters.action:
        if filters.action.endswith("."):
            events = events.filter(action__startswith=filters.action)
        else:
            events = events.filter(action=filters.action)
    if filters.object_type:
        events = events.filter(object_type=filters.object_type)
    if filters.object_id:
        events = events.filter(object_id=filters.object_id)
    if filters.occurred_from is not None:
        events = events.filter(occurred_at__gte=filters.occurred_from)
    if filters.occurred_before is not None:
        events = events.filter(occurred_at__lt=filters.occurred_before)
    return events.order_by("-sequence")


def access_audit_event(actor: Actor, event_id: object) -> AuditEvent:
    return access_object(
        _events_visible_to(actor), event_id, actor=actor, action=AUDIT_VIEW, object_type="audit_event"
    )

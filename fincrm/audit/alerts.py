"""Services on security alerts: an administrator acknowledges one (audited)."""

from __future__ import annotations

from django.utils import timezone

from fincrm.audit.models import SecurityEvent
from fincrm.audit.selectors import access_security_alert
from fincrm.audit.services import audit_record
from fincrm.platform import transaction
from fincrm.platform.actor import Actor


@transaction.atomic
def security_alert_acknowledge(*, actor: Actor, alert_id: object) -> SecurityEvent:
    alert = access_security_alert(actor, alert_id)
    if alert.acknowledged_at is not None:
        return alert  # acknowledging twice changes nothing
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by_id = actor.user_id
    alert.save(update_fields=["acknowledged_at", "acknowledged_by_id"])
    audit_record(
        actor,
        "security.alert.acknowledged",
        object_type="security_alert",
        object_id=str(alert.pk),
        after={"kind": alert.kind, "user_id": alert.user_id},
    )
    return alert

"""The audit log's periodic jobs (docs/security-audit.md): export a signed chain head every hour,
verify the whole chain every night and raise an alert when it is broken."""

from __future__ import annotations

from datetime import time

from fincrm.audit.integrity import audit_head_export, audit_verify
from fincrm.audit.models import SecurityEvent
from fincrm.audit.services import security_event_record
from fincrm.platform.actor import Actor
from fincrm.platform.jobs import periodic


@periodic("audit.head_export", every=3600)
def head_export() -> None:
    audit_head_export()


@periodic("audit.verify", at=time(2, 30))
def verify() -> None:
    report = audit_verify()
    if not report.ok:
        problem = report.problem
        security_event_record(
            Actor.system("audit-verify"),
            "audit.chain_broken",
            severity=SecurityEvent.Severity.ALERT,
            detail={
                "sequence": problem.sequence if problem else None,
                "event_id": problem.event_id if problem else None,
                "problem": str(problem),
            },
        )

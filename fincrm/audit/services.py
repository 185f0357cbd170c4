"""Writing audit and security events. Called inside the service's transaction, so an event
exists exactly when its change does."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.utils import timezone

from fincrm.audit import registry
from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.platform import context
from fincrm.platform.actor import Actor

security_log = logging.getLogger("fincrm.security")


def audit_record(
    actor: Actor,
    action: str,
    *,
    object_type: str = "",
    object_id: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    registry.get(action)  # an unregistered code is a programming error, caught by tests
    request = context.current()
    return AuditEvent.objects.create(
        occurred_at=timezone.now(),
        actor_label=actor.label,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        org_unit_id=actor.org_unit_id,
        client_ip=request.client_ip or None,
        user_agent=request.user_agent,
        request_id=request.request_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        reason=reason,
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
    )


def security_event_record(
    actor: Actor,
    kind: str,
    *,
    severity: str = SecurityEvent.Severity.INFO,
    detail: Mapping[str, Any] | None = None,
    user_id: int | None = None,
) -> None:
    """Record a security event. Inside a request it is written when the request is done, so
    the event about a refused action survives that action's transaction rolling back."""
    request = context.current()
    occurred_at = timezone.now()
    request.defer_or_run(
        lambda: _write_security_event(
            actor, kind, severity, dict(detail or {}), user_id, request, occurred_at
        )
    )


def _write_security_event(
    actor: Actor,
    kind: str,
    severity: str,
    detail: dict[str, Any],
    user_id: int | None,
    request: context.RequestContext,
    occurred_at: datetime,
) -> SecurityEvent:
    event = SecurityEvent.objects.create(
        occurred_at=occurred_at,
        kind=kind,
        severity=severity,
        actor_label=actor.label,
        user_id=user_id,
        client_ip=request.client_ip or None,
        user_agent=request.user_agent,
        request_id=request.request_id,
        detail=detail,
    )
    security_log.info(
        kind,
        extra={
            "event_id": event.pk,
            "kind": kind,
            "severity": severity,
            "actor": actor.label,
            "user_id": user_id,
            "client_ip": request.client_ip,
            "request_id": request.request_id,
            "detail": event.detail,
        },
    )
    return event

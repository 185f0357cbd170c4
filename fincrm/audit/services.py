"""Writing audit and security events.

Audit events are recorded inside the service's transaction, so an event exists exactly when its
change does. Inside a fincrm atomic block (``fincrm.platform.transaction.atomic``) ``audit_record``
only buffers the event; right before the outermost fincrm block commits, ``_flush`` takes the
chain lock, gives the buffered events their sequences and hashes, inserts them in a few statements
and moves the chain head. ``audit_record_stream`` buffers only a way to read the events (for bulk
work: a million-row import's events are read and written in batches at commit, so memory stays
bounded by the batch, not the file). Outside a fincrm block (a plain request, a Django ``atomic``, the
shell) the event is chained and written at once, in its own fincrm block.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.utils import timezone

from fincrm.audit import registry
from fincrm.audit.chain import GENESIS_HASH, event_bytes, fields_of, jsonable
from fincrm.audit.models import AuditChainHead, AuditEvent, SecurityEvent
from fincrm.platform import context, transaction
from fincrm.platform.actor import Actor

security_log = logging.getLogger("fincrm.security")

_BUFFER = "audit.pending"
INSERT_BATCH = 2000  # events per INSERT statement, at most
INSERT_BYTES = 4 << 20  # canonical JSON per INSERT statement, at most (bulk events are large)
# An event this large goes in a statement of its own. Django inserts several rows as arrays, one
# per column (PostgreSQL: UNNEST), and escapes every quote of every JSON value into its array's
# text; a single row goes as plain parameters. 500 events naming 1,000 imported records each
# (40 KB apiece), chained and written: 3.8 s in batches, 2.1 s one by one.
LARGE_EVENT_BYTES = 16 << 10


def _clip(value: str, length: int) -> str:
    return value[:length]


def _event(
    actor: Actor, action: str, occurred_at: datetime, request: context.RequestContext, row: Mapping[str, Any]
) -> AuditEvent:
    before = row.get("before")
    after = row.get("after")
    return AuditEvent(
        occurred_at=occurred_at,
        actor_label=_clip(actor.label, 150),
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        org_unit_id=actor.org_unit_id,
        client_ip=request.client_ip or None,
        user_agent=_clip(request.user_agent, 512),
        request_id=_clip(request.request_id, 64),
        action=action,
        object_type=row.get("object_type", "") or "",
        object_id=str(row.get("object_id", "") or ""),
        reason=row.get("reason", "") or "",
        before=jsonable(dict(before)) if before is not None else None,
        after=jsonable(dict(after)) if after is not None else None,
    )


@dataclass(eq=False)
class _Pending:
    """Events buffered in one savepoint: the marker sits in Django's on-commit list, so a savepoint
    rolled back (ours or a plain Django ``atomic`` inside ours) drops it, and with it the events.
    ``events`` is the events themselves or a function that reads them at commit."""

    events: list[AuditEvent] | Callable[[], Iterable[AuditEvent]]

    def __call__(self) -> None:  # the on-commit marker does nothing when it runs
        return None

    def read(self) -> Iterable[AuditEvent]:
        return self.events() if callable(self.events) else self.events


def _append(events: list[AuditEvent] | Callable[[], Iterable[AuditEvent]]) -> None:
    if not events:
        return
    pending = transaction.storage()
    if pending is None:
        with transaction.atomic():
            _append(events)
        return
    marker = _Pending(events)
    transaction.on_commit(marker)
    pending.setdefault(_BUFFER, []).append(marker)


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
    """Record one event; it is written (with its sequence and hash) when the fincrm block commits."""
    registry.get(action)  # an unregistered code is a programming error, caught by tests
    event = _event(
        actor,
        action,
        timezone.now(),
        context.current(),
        {
            "object_type": object_type,
            "object_id": object_id,
            "before": before,
            "after": after,
            "reason": reason,
        },
    )
    _append([event])
    return event


def audit_record_many(actor: Actor, action: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Record one event per row (keys: object_type, object_id, before, after, reason), written
    set-based with the batch's other events. Returns the number of events."""
    registry.get(action)
    request = context.current()
    occurred_at = timezone.now()
    events = [_event(actor, action, occurred_at, request, row) for row in rows]
    _append(events)
    return len(events)


def audit_record_stream(actor: Actor, action: str, rows: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
    """``audit_record_many`` for more rows than memory should hold: ``rows()`` is called when the
    fincrm block commits, inside its transaction, and its rows are chained and inserted in batches
    as they are read, in the order they were recorded among the block's other events. What it reads
    (a staging table, say) must still be there at that moment. Who, when and from where are taken
    now, as for every event."""
    registry.get(action)
    request = context.current()
    occurred_at = timezone.now()
    _append(lambda: (_event(actor, action, occurred_at, request, row) for row in rows()))


def _lock_head(using: str) -> AuditChainHead:
    """The chain head, locked until commit (PostgreSQL: FOR UPDATE; SQLite's IMMEDIATE transaction
    already holds the database's one write lock). Created from the newest event when missing."""
    heads = AuditChainHead.objects.using(using).select_for_update()
    head = heads.filter(pk=1).first()
    if head is not None:
        return head
    last = AuditEvent.objects.using(using).order_by("-sequence").values_list("sequence", "hash").first()
    sequence, digest = last if last is not None else (0, GENESIS_HASH)
    AuditChainHead.objects.using(using).bulk_create(
        [AuditChainHead(pk=1, sequence=sequence, hash=digest)], ignore_conflicts=True
    )
    return heads.get(pk=1)


def _flush(using: str, storage: dict[str, Any]) -> None:
    markers: list[_Pending] = storage.pop(_BUFFER, [])
    if not markers:
        return
    connection = connections[using]
    alive = {id(entry[1]) for entry in connection.run_on_commit}
    live = [marker for marker in markers if id(marker) in alive]
    mine = {id(marker) for marker in markers}
    connection.run_on_commit = [entry for entry in connection.run_on_commit if id(entry[1]) not in mine]
    events = iter(itertools.chain.from_iterable(marker.read() for marker in live))
    first = next(events, None)
    if first is None:
        return
    head = _lock_head(using)
    sequence, previous = head.sequence, head.hash
    batch: list[AuditEvent] = []
    size = 0
    for event in itertools.chain([first], events):
        sequence += 1
        event.sequence = sequence
        event.prev_hash = previous
        data = event_bytes(fields_of(event), sequence=sequence, prev_hash=previous)
        event.hash = previous = hashlib.sha256(data).hexdigest()
        large = len(data) >= LARGE_EVENT_BYTES
        if large and batch:  # a large event goes alone, after the smaller ones before it
            AuditEvent.objects.using(using).bulk_create(batch)
            batch, size = [], 0
        batch.append(event)
        size += len(data)
        if large or len(batch) >= INSERT_BATCH or size >= INSERT_BYTES:
            AuditEvent.objects.using(using).bulk_create(batch)
            batch, size = [], 0
    if batch:
        AuditEvent.objects.using(using).bulk_create(batch)
    AuditChainHead.objects.using(using).filter(pk=head.pk).update(sequence=sequence, hash=previous)


transaction.register_pre_commit(_flush)


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

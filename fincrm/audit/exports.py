"""Exporting a result of the audit search as CSV (itself audited)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, QuerySet
from django.utils import timezone

from fincrm.audit.models import AuditEvent
from fincrm.audit.selectors import AUDIT_EXPORT, AuditFilter, audit_event_search
from fincrm.audit.services import audit_record
from fincrm.platform import transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.spreadsheets import neutralize

COLUMNS = (
    "sequence",
    "occurred_at",
    "actor",
    "org_unit_id",
    "client_ip",
    "user_agent",
    "request_id",
    "action",
    "object_type",
    "object_id",
    "reason",
    "before",
    "after",
    "hash",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return neutralize(str(value))


def _row(event: AuditEvent) -> list[str]:
    values = [
        event.sequence,
        timezone.localtime(event.occurred_at).isoformat(),
        event.actor_label,
        event.org_unit_id,
        event.client_ip,
        event.user_agent,
        event.request_id,
        event.action,
        event.object_type,
        event.object_id,
        event.reason,
        event.before,
        event.after,
        event.hash,
    ]
    return [_cell(value) for value in values]


@dataclass(frozen=True)
class AuditExport:
    events: QuerySet[AuditEvent]
    count: int


@transaction.atomic
def audit_event_export(*, actor: Actor, filters: AuditFilter) -> AuditExport:
    """The events to export (fixed at the newest event now, so the export's own event is not in
    it) and their count; records ``audit.exported`` with the filter and the row count."""
    require_permission(actor, AUDIT_EXPORT)
    events = audit_event_search(actor=actor, filters=filters)
    newest = events.aggregate(newest=Max("sequence"))["newest"] or 0
    events = events.filter(sequence__lte=newest)
    count = events.count()
    audit_record(
        actor,
        "audit.exported",
        object_type="audit_event",
        after={"filter": filters.as_dict(), "rows": count, "newest_sequence": newest},
    )
    return AuditExport(events=events, count=count)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """The CSV, header first, read in chunks (memory bounded)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(COLUMNS)  # a BOM so spreadsheet programs read UTF-8
    for event in events.iterator(chunk_size=2000):
        yield writer.writerow(_row(event))

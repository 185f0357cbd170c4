"""Signed chain heads and chain verification (docs/security-audit.md).

``audit_head_export`` signs the newest (sequence, hash) with HMAC-SHA-256 under a key kept in a
file outside the database and appends it as one JSON line to the export file (meant for
write-once storage). ``audit_verify`` walks the chain in sequence order, in batches, recomputing
every hash and link, and checks every exported head: the event at that sequence must exist with
that hash and the signature must hold. So a changed row, a removed row, a truncated end and a
chain rewritten with recomputed hashes are all caught, as long as one head was exported after
the events concerned.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from fincrm.audit import protection
from fincrm.audit.chain import GENESIS_HASH, HASHED_FIELDS, canonical_bytes, event_hash, utc_iso
from fincrm.audit.models import AuditChainHead, AuditEvent

KEY_BYTES = 32


def _path(setting: str) -> Path:
    value = getattr(settings, setting, "")
    if not value:
        raise ImproperlyConfigured(f"{setting} is not set (docs/operations/configuration.md)")
    return Path(value)


def signing_key(*, create: bool = False) -> bytes:
    """The head-signing key (hex in FINCRM_AUDIT_SIGNING_KEY_FILE); outside production it is
    created on first export, readable by its owner only."""
    path = _path("FINCRM_AUDIT_SIGNING_KEY_FILE")
    if not path.exists():
        if not create or getattr(settings, "FINCRM_PROFILE", "") == "production":
            raise ImproperlyConfigured(f"the audit signing key file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError as error:
        raise ImproperlyConfigured(f"the audit signing key file {path} does not hold a hex key") from error
    if len(key) < KEY_BYTES:
        raise ImproperlyConfigured(f"the audit signing key in {path} is shorter than {KEY_BYTES} bytes")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"fincrm-audit-key-id:" + key).hexdigest()[:16]


def _signature(key: bytes, head: dict[str, Any]) -> str:
    body = {name: head[name] for name in ("sequence", "hash", "exported_at", "key_id")}
    return hmac.new(key, canonical_bytes(body), hashlib.sha256).hexdigest()


def current_head() -> tuple[int, str]:
    """The newest event's (sequence, hash), read from the events themselves; (0, genesis) when empty."""
    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    return last if last is not None else (0, GENESIS_HASH)


def audit_head_export(*, now: datetime | None = None) -> dict[str, Any]:
    """Sign the chain head and append it to FINCRM_AUDIT_HEAD_EXPORT_PATH; returns the line's data."""
    key = signing_key(create=True)
    sequence, digest = current_head()
    head: dict[str, Any] = {
        "sequence": sequence,
        "hash": digest,
        "exported_at": utc_iso(now or timezone.now()),
        "key_id": key_id(key),
    }
    head["signature"] = _signature(key, head)
    path = _path("FINCRM_AUDIT_HEAD_EXPORT_PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(head, sort_keys=True, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return head


@dataclass(frozen=True)
class Problem:
    sequence: int | None
    event_id: int | None
    message: str

    def __str__(self) -> str:
        where = f"event #{self.sequence} (id {self.event_id})" if self.sequence is not None else "chain"
        return f"{where}: {self.message}"


@dataclass
class Report:
    checked: int = 0
    last_sequence: int = 0
    last_hash: str = GENESIS_HASH
    heads_checked: int = 0
    protected: bool = True
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def _exported_heads(report: Report) -> dict[int, dict[str, Any]]:
    """Every head in the export file by sequence, signatures checked (a bad one is a problem)."""
    path_value = getattr(settings, "FINCRM_AUDIT_HEAD_EXPORT_PATH", "")
    path = Path(path_value) if path_value else None
    if path is None or not path.exists() or path.stat().st_size == 0:
        report.notes.append("no exported head: truncation and rewriting cannot be detected")
        return {}
    key = signing_key()
    heads: dict[int, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                head = json.loads(line)
                valid = hmac.compare_digest(_signature(key, head), str(head["signature"]))
            except (ValueError, KeyError, TypeError):
                valid = False
            if not valid:
                report.problem = Problem(
                    None, None, f"line {number} of {path} is not a head signed with the current key"
                )
                return heads
            heads[int(head["sequence"])] = head
    return heads


def _batches(batch_size: int) -> Iterator[list[dict[str, Any]]]:
    last = 0
    columns = ("id", "sequence", "prev_hash", "hash", *HASHED_FIELDS)
    while True:
        rows = list(
            AuditEvent.objects.filter(sequence__gt=last).order_by("sequence").values(*columns)[:batch_size]
        )
        if not rows:
            return
        yield rows
        last = rows[-1]["sequence"]


def audit_verify(*, batch_size: int = 2000) -> Report:
    """Walk the whole chain (memory bounded by ``batch_size``); the report names the first break."""
    report = Report(protected=protection.installed(connection))
    heads = _exported_heads(report)
    if report.problem is not None:
        return report
    previous_sequence, previous_hash = 0, GENESIS_HASH
    for rows in _batches(batch_size):
        for row in rows:
            sequence = row["sequence"]
            problem = None
            if sequence != previous_sequence + 1:
                missing = (
                    f"{previous_sequence + 1}"
                    if sequence == previous_sequence + 2
                    else f"{previous_sequence + 1} to {sequence - 1}"
                )
                problem = f"the events before it are missing (sequence {missing})"
            elif row["prev_hash"] != previous_hash:
                problem = f"its prev_hash does not match the hash of event #{previous_sequence}"
            elif event_hash(row, sequence=sequence, prev_hash=row["prev_hash"]) != row["hash"]:
                problem = "its content does not match its hash (the row was changed)"
            elif sequence in heads and heads[sequence]["hash"] != row["hash"]:
                exported = heads[sequence]["exported_at"]
                problem = f"its hash differs from the head signed at {exported} (the chain was rewritten)"
            if problem is not None:
                report.problem = Problem(sequence, row["id"], problem)
                return report
            previous_sequence, previous_hash = sequence, row["hash"]
            report.checked += 1
            report.heads_checked += sequence in heads
    report.last_sequence, report.last_hash = previous_sequence, previous_hash
    newest_export = max(heads, default=0)
    if newest_export > previous_sequence:
        report.problem = Problem(
            None,
            None,
            f"the chain ends at event #{previous_sequence} but a head was signed at event #{newest_export} "
            f"on {heads[newest_export]['exported_at']}: the newest events were removed",
        )
        return report
    head = AuditChainHead.objects.filter(pk=1).values_list("sequence", flat=True).first()
    if head is not None and head != previous_sequence:
        report.problem = Problem(
            None, None, f"the chain ends at event #{previous_sequence} but its head says #{head}"
        )
    return report

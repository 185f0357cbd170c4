"""Canonical JSON and the hash of one audit event (docs/security-audit.md, "The hash chain").

The byte form is fixed forever: a verifier written years from now in any language must get the
same bytes. Canonical JSON here means: object keys sorted, no whitespace, UTF-8 without ASCII
escaping, datetimes as ISO-8601 in UTC with microseconds and a ``Z``, decimals and other
non-integer numbers as strings, dates/times/UUIDs as their ISO/str form, tuples as lists, sets as
sorted lists. ``jsonable`` applies the same conversions, so what an event stores in before/after
is already plain JSON and reads back (SQLite text or PostgreSQL jsonb) to the same canonical bytes.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import ipaddress
import json
import uuid
from collections.abc import Mapping
from typing import Any

from django.utils.functional import Promise

GENESIS_HASH = "0" * 64

# The fields of AuditEvent the hash covers, besides sequence and prev_hash.
HASHED_FIELDS = (
    "occurred_at",
    "actor_label",
    "actor_user_id",
    "actor_token_id",
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
)


def utc_iso(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (dict with str keys, list, str, int, bool, None)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return utc_iso(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Promise):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((jsonable(item) for item in value), key=_dumps)
    raise TypeError(f"cannot put {type(value).__name__} into an audit event")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_bytes(value: Any) -> bytes:
    """The canonical JSON encoding of ``value`` (after ``jsonable``)."""
    return _dumps(jsonable(value)).encode("utf-8")


def normal_ip(value: str | None) -> str | None:
    """One spelling per address, whatever form the database hands back."""
    if not value:
        return None
    try:
        return ipaddress.ip_address(value).exploded
    except ValueError:
        return value


def event_payload(fields: Mapping[str, Any], *, sequence: int, prev_hash: str) -> dict[str, Any]:
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload["client_ip"] = normal_ip(payload["client_ip"])
    payload["sequence"] = sequence
    payload["prev_hash"] = prev_hash
    return payload


def event_bytes(fields: Mapping[str, Any], *, sequence: int, prev_hash: str) -> bytes:
    """The canonical JSON of the event's fields, its sequence and prev_hash: what the hash covers."""
    return canonical_bytes(event_payload(fields, sequence=sequence, prev_hash=prev_hash))


def event_hash(fields: Mapping[str, Any], *, sequence: int, prev_hash: str) -> str:
    """SHA-256 (hex) over ``event_bytes``."""
    return hashlib.sha256(event_bytes(fields, sequence=sequence, prev_hash=prev_hash)).hexdigest()


def fields_of(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in HASHED_FIELDS}

"""The one documented way tests get past the audit table's append-only triggers.

``tamper`` does what a database superuser could do (PostgreSQL: ``ALTER TABLE ... DISABLE TRIGGER
USER``; SQLite: drop the triggers), runs the change, and puts the triggers back. Tests that commit
(a transactional database: the live server of the browser tests, the concurrency test) request it
too: on teardown it removes the committed audit rows the same way, so the test database's flush
(which refuses to truncate or delete a table still holding events) can run. Such a test names
``transactional_db`` BEFORE ``tamper`` (or requests it through a fixture that does), so ``tamper``
tears down first. Import the fixture into a conftest: ``from tests.audit.support import tamper``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection

from fincrm.audit import protection
from fincrm.audit.chain import event_hash, fields_of
from fincrm.audit.models import AuditChainHead, AuditEvent


@contextmanager
def triggers_disabled() -> Iterator[None]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {protection.TABLE} DISABLE TRIGGER USER")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {protection.TABLE} ENABLE TRIGGER USER")
    else:
        protection.remove(connection)
        try:
            yield
        finally:
            protection.install(connection)


class Tamper:
    """What an attacker with the database superuser's rights can do to the audit table."""

    def __init__(self) -> None:
        self.disabled: Callable[[], Any] = triggers_disabled

    def update(self, sequence: int, **fields: Any) -> None:
        with triggers_disabled():
            AuditEvent.objects.filter(sequence=sequence).update(**fields)

    def delete(self, *sequences: int) -> None:
        with triggers_disabled():
            AuditEvent.objects.filter(sequence__in=sequences).delete()

    def delete_newest(self, count: int) -> None:
        """Cut off the newest events and move the head back, as a careful attacker would."""
        newest = list(AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True)[:count])
        self.delete(*newest)
        last = AuditEvent.objects.order_by("-sequence").first()
        AuditChainHead.objects.filter(pk=1).update(
            sequence=last.sequence if last else 0, hash=last.hash if last else "0" * 64
        )

    def rewrite_from(self, sequence: int) -> None:
        """Recompute every hash from ``sequence`` on, so the chain links again (a full rewrite)."""
        with triggers_disabled():
            previous = AuditEvent.objects.get(sequence=sequence - 1).hash if sequence > 1 else "0" * 64
            for event in AuditEvent.objects.filter(sequence__gte=sequence).order_by("sequence"):
                digest = event_hash(fields_of(event), sequence=event.sequence, prev_hash=previous)
                AuditEvent.objects.filter(pk=event.pk).update(prev_hash=previous, hash=digest)
                previous = digest
            AuditChainHead.objects.filter(pk=1).update(hash=previous)


@pytest.fixture
def tamper() -> Iterator[Tamper]:
    yield Tamper()
    if not connection.in_atomic_block:  # a test that committed: leave nothing the flush refuses
        with triggers_disabled():
            AuditEvent.objects.all().delete()
        AuditChainHead.objects.all().delete()
    assert protection.installed(connection)

"""Read events written in batches (fincrm.audit.deferred): nothing lost, nothing doubled, one valid
chain, the stated bound. The thread itself is exercised on PostgreSQL with committed data."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from fincrm.audit import deferred
from fincrm.audit.integrity import audit_verify
from fincrm.audit.models import AuditEvent
from fincrm.audit.services import audit_record
from fincrm.platform import context
from fincrm.platform.actor import Actor
from tests.audit.support import Tamper

READER = Actor.system("reader")


def _event(number: int) -> AuditEvent:
    return deferred._event(
        READER,
        "customer.viewed",
        deferred.timezone.now(),
        context.RequestContext(request_id=f"req-{number}", client_ip="10.0.0.1", user_agent="pytest"),
        {"object_type": "customer", "object_id": str(number), "after": {"via": "api"}},
    )


def _viewed() -> list[str]:
    return list(
        AuditEvent.objects.filter(action="customer.viewed")
        .order_by("sequence")
        .values_list("object_id", flat=True)
    )


@pytest.mark.django_db
def test_the_test_run_writes_at_once(world: object) -> None:
    """FINCRM_AUDIT_READ_EVENT_DELAY defaults to 0 under test: the event is in the caller's
    transaction when audit_record_soon returns."""
    assert deferred.delay_seconds() == 0.0
    deferred.audit_record_soon(READER, "customer.viewed", object_type="customer", object_id="5")
    assert _viewed() == ["5"]


def test_delay_setting(settings: Any) -> None:
    settings.FINCRM_AUDIT_READ_EVENT_DELAY = 0.5
    assert deferred.delay_seconds() == 0.5
    settings.FINCRM_AUDIT_READ_EVENT_DELAY = -1
    assert deferred.delay_seconds() == 0.0
    settings.FINCRM_AUDIT_READ_EVENT_DELAY = None
    settings.CONFIG = type("Config", (), {"is_test": False})()
    assert deferred.delay_seconds() == deferred.DEFAULT_DELAY_SECONDS


@pytest.mark.django_db
def test_a_batch_is_one_transaction_with_one_insert_and_chains_in_order(world: object) -> None:
    audit_record(Actor.system("before"), "user.updated", object_id="1")
    writer = deferred.BatchWriter(delay=60)
    events = [_event(number) for number in range(7)]
    for event in events:
        writer._events.append(event)  # what add() queues, without starting the thread

    with CaptureQueriesContext(connection) as queries:
        assert writer.flush() == 7
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert statements.count("INSERT") == 1
    assert sum(1 for query in queries.captured_queries if "FOR UPDATE" in query["sql"].upper()) <= 1
    assert len(statements) <= 5  # savepoint or begin, head lock, insert, head update, release or commit
    assert writer.pending() == 0
    assert _viewed() == [str(number) for number in range(7)]
    rows = AuditEvent.objects.filter(action="customer.viewed").order_by("sequence")
    assert [row.request_id for row in rows] == [f"req-{number}" for number in range(7)]
    assert {row.client_ip for row in rows} == {"10.0.0.1"}
    report = audit_verify()
    assert report.ok, report.problem
    assert report.checked == 8


@pytest.mark.django_db
def test_a_failed_write_keeps_every_event_in_order_and_writes_them_once(
    world: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = deferred.BatchWriter(delay=60)
    for number in range(3):
        writer._events.append(_event(number))
    real = deferred.write_events

    def refuse(events: list[AuditEvent], using: str = "default") -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(deferred, "write_events", refuse)
    with pytest.raises(RuntimeError):
        writer.flush()
    assert writer.pending() == 3
    writer._events.append(_event(3))
    monkeypatch.setattr(deferred, "write_events", real)

    assert writer.flush() == 4
    assert _viewed() == ["0", "1", "2", "3"]
    assert audit_verify().ok


@pytest.mark.django_db
def test_batches_hold_at_most_batch_events(world: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deferred, "BATCH", 2)
    sizes: list[int] = []
    real = deferred.write_events

    def counting(events: list[AuditEvent], using: str = "default") -> None:
        sizes.append(len(events))
        real(events, using)

    monkeypatch.setattr(deferred, "write_events", counting)
    writer = deferred.BatchWriter(delay=60)
    for number in range(5):
        writer._events.append(_event(number))
    assert writer.flush() == 5
    assert sizes == [2, 2, 1]
    assert _viewed() == ["0", "1", "2", "3", "4"]


@pytest.mark.django_db
def test_past_max_pending_recording_writes_at_once(world: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Back-pressure, never a drop: a writer that falls behind makes readers write themselves."""
    monkeypatch.setattr(deferred, "MAX_PENDING", 2)
    writer = deferred.BatchWriter(delay=60)
    writer._events.extend([_event(0), _event(1)])
    writer.add(_event(2))
    assert writer.pending() == 2
    assert _viewed() == ["2"]


@pytest.mark.django_db
def test_exit_writes_what_waits_and_a_failure_at_exit_is_logged_with_the_count(
    world: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    writer = deferred.BatchWriter(delay=60)
    writer._events.append(_event(0))
    writer.close()
    assert _viewed() == ["0"]

    writer._events.append(_event(1))

    def refuse(events: list[AuditEvent], using: str = "default") -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(deferred, "write_events", refuse)
    with caplog.at_level(logging.ERROR, logger="fincrm.audit"):
        writer.close()
    assert "audit read events lost at exit: 1 not written" in caplog.text


def test_a_forked_child_starts_empty() -> None:
    """The parent still owns and writes what it queued; the child must not write it again."""
    writer = deferred.BatchWriter(delay=60)
    writer._events.append(_event(0))
    writer.reset_after_fork()
    assert writer.pending() == 0
    assert writer._thread is None


# ---------------------------------------------------------------- the thread, committed (PostgreSQL)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="threads are tested on PostgreSQL")
def test_the_writer_thread_appends_from_many_readers_within_the_delay(
    world_after_flush: object, transactional_db: None, tamper: Tamper
) -> None:
    writer = deferred.BatchWriter(delay=0.05)
    readers, per_reader = 8, 25

    def reader(number: int) -> None:
        try:
            for index in range(per_reader):
                writer.add(_event(number * 1000 + index))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reader, args=(number,)) for number in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 10
    while AuditEvent.objects.filter(action="customer.viewed").count() < readers * per_reader:
        assert time.monotonic() < deadline, "the writer thread did not write within 10 s"
        time.sleep(0.02)
    assert writer.pending() == 0
    writer.stop()
    assert writer._thread is None
    ids = _viewed()
    assert sorted(ids) == sorted(str(n * 1000 + i) for n in range(readers) for i in range(per_reader))
    for number in range(readers):  # each reader's events in the order it recorded them
        mine = [int(value) for value in ids if int(value) // 1000 == number]
        assert mine == sorted(mine)
    report = audit_verify()
    assert report.ok, report.problem
    assert report.checked == readers * per_reader

"""200 writers over at most 40 connections append to one valid chain (PostgreSQL only)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from fincrm.audit.integrity import audit_verify
from fincrm.audit.models import AuditEvent
from fincrm.audit.services import audit_record
from fincrm.platform import transaction
from fincrm.platform.actor import Actor
from tests.audit.support import Tamper

WRITERS = 200
CONNECTIONS = 40
EVENTS_PER_WRITER = 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency is tested on PostgreSQL")
def test_concurrent_writers_make_one_valid_chain(
    world_after_flush: object, transactional_db: None, tamper: Tamper
) -> None:
    gate = threading.Semaphore(CONNECTIONS)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        with gate:
            try:
                with transaction.atomic():
                    for index in range(EVENTS_PER_WRITER):
                        audit_record(
                            Actor.system(f"writer-{number}"), "user.updated", object_id=f"{number}-{index}"
                        )
            except BaseException as error:
                errors.append(error)
            finally:
                connections.close_all()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    total = WRITERS * EVENTS_PER_WRITER
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(1, total + 1)
    )
    # One writer's events are consecutive: its whole transaction was appended at once.
    for number in (0, 99, 199):
        sequences = list(
            AuditEvent.objects.filter(actor_label=f"system:writer-{number}")
            .order_by("sequence")
            .values_list("sequence", flat=True)
        )
        assert sequences == list(range(sequences[0], sequences[0] + EVENTS_PER_WRITER))
    report = audit_verify()
    assert report.ok, report.problem
    assert report.checked == total

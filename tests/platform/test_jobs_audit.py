"""The audit log's periodic jobs, run by the worker: head export and nightly verification."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.audit.services import audit_record
from fincrm.platform import jobs
from fincrm.platform.actor import Actor
from fincrm.platform.models import Job
from tests.audit.support import Tamper, tamper

__all__ = ["tamper"]
pytestmark = pytest.mark.django_db
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def audit_files(settings: Any, tmp_path: Path) -> Path:
    settings.FINCRM_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "audit-signing.key")
    settings.FINCRM_AUDIT_HEAD_EXPORT_PATH = str(tmp_path / "audit-heads.jsonl")
    return tmp_path


def record(count: int) -> None:
    for number in range(count):
        audit_record(Actor.system("test"), "user.updated", object_type="user", object_id=str(number))


def run(name: str) -> Job:
    queued = jobs.enqueue(name, now=T0)
    jobs.run_worker(once=True, now=T0)
    queued.refresh_from_db()
    return queued


def test_the_head_export_job_appends_a_signed_head(audit_files: Path) -> None:
    record(3)
    assert run("audit.head_export").status == "done"
    lines = (audit_files / "audit-heads.jsonl").read_text().splitlines()
    assert [json.loads(line)["sequence"] for line in lines] == [3]


def test_the_verify_job_raises_no_alert_on_an_intact_chain(audit_files: Path) -> None:
    record(3)
    assert run("audit.verify").status == "done"
    assert not SecurityEvent.objects.filter(kind="audit.chain_broken").exists()


def test_the_verify_job_raises_an_alert_naming_the_broken_event(audit_files: Path, tamper: Tamper) -> None:
    record(6)
    tamper.delete(3, 4)
    event_id = AuditEvent.objects.get(sequence=5).pk
    assert run("audit.verify").status == "done"
    alert = SecurityEvent.objects.get(kind="audit.chain_broken")
    assert (alert.severity, alert.actor_label) == ("alert", "system:audit-verify")
    assert alert.detail == {
        "sequence": 5,
        "event_id": event_id,
        "problem": f"event #5 (id {event_id}): the events before it are missing (sequence 3 to 4)",
    }

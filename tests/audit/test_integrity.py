"""Append-only protection, signed head export and ``fincrm audit verify``."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from fincrm.audit import protection
from fincrm.audit.integrity import audit_verify
from fincrm.audit.models import AuditEvent
from fincrm.audit.services import audit_record
from fincrm.platform.actor import Actor
from tests.audit.support import Tamper

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")


def record(count: int) -> None:
    for number in range(count):
        audit_record(ACTOR, "user.updated", object_type="user", object_id=str(number), after={"n": number})


def run(*args: str) -> str:
    out = StringIO()
    call_command("audit", *args, stdout=out)
    return out.getvalue()


def broken(*args: str) -> str:
    with pytest.raises(CommandError) as error:
        run("verify", *args)
    return str(error.value)


def test_rows_cannot_be_updated_or_deleted() -> None:
    record(2)
    assert protection.installed(connection)
    for change in (
        lambda: AuditEvent.objects.filter(sequence=1).update(reason="changed"),
        lambda: AuditEvent.objects.filter(sequence=2).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change()
    assert AuditEvent.objects.get(sequence=1).reason == ""
    assert AuditEvent.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE triggers are PostgreSQL's")
def test_truncate_is_refused_on_postgresql() -> None:
    record(1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == 1


def test_the_tamper_fixture_puts_the_triggers_back(tamper: Tamper) -> None:
    record(1)
    with tamper.disabled():
        assert not protection.installed(connection)
    assert protection.installed(connection)


def test_intact_chain_verifies(audit_files: Path) -> None:
    record(5)
    assert "Exported" not in run("export-head")
    output = run("verify", "--batch-size", "2")
    assert output.endswith("1 signed heads matched.\n")
    assert "Audit chain intact: 5 events, newest #5" in output


def test_verify_without_export_says_what_it_cannot_see(audit_files: Path) -> None:
    record(2)
    output = run("verify")
    assert "Note: no exported head: truncation and rewriting cannot be detected" in output
    assert "Audit chain intact: 2 events" in output


def test_empty_chain_verifies(audit_files: Path) -> None:
    run("export-head")
    assert "Audit chain intact: 0 events, newest #0" in run("verify")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occurred_at", "2020-01-01T00:00:00Z"),
        ("actor_label", "user:someone_else"),
        ("actor_user_id", 42),
        ("actor_token_id", 7),
        ("org_unit_id", 3),
        ("client_ip", "10.9.9.9"),
        ("user_agent", "curl"),
        ("request_id", "other"),
        ("action", "user.created"),
        ("object_type", "customer"),
        ("object_id", "999"),
        ("reason", "cover-up"),
        ("before", {"n": 0}),
        ("after", {"n": 100}),
        ("prev_hash", "f" * 64),
        ("hash", "e" * 64),
    ],
)
def test_a_changed_field_is_named(audit_files: Path, tamper: Tamper, field: str, value: object) -> None:
    record(4)
    event_id = AuditEvent.objects.get(sequence=3).pk
    tamper.update(3, **{field: value})
    message = broken()
    where = f"Audit chain broken at event #3 (id {event_id}): "
    if field == "prev_hash":
        assert message == where + "its prev_hash does not match the hash of event #2"
    else:
        assert message == where + "its content does not match its hash (the row was changed)"


def test_a_deleted_row_in_the_middle_is_named(audit_files: Path, tamper: Tamper) -> None:
    record(6)
    tamper.delete(3, 4)
    event_id = AuditEvent.objects.get(sequence=5).pk
    assert broken() == (
        f"Audit chain broken at event #5 (id {event_id}): the events before it are missing (sequence 3 to 4)"
    )


def test_removing_the_newest_events_is_caught_after_an_export(audit_files: Path, tamper: Tamper) -> None:
    record(5)
    run("export-head")
    tamper.delete_newest(2)
    message = broken()
    assert "the chain ends at event #3 but a head was signed at event #5" in message
    assert "the newest events were removed" in message


def test_truncation_without_touching_the_head_is_caught_even_without_export(
    audit_files: Path, tamper: Tamper
) -> None:
    record(3)
    tamper.delete(3)
    assert broken() == "Audit chain broken at chain: the chain ends at event #2 but its head says #3"


def test_a_rewritten_chain_is_caught_by_the_signed_head(audit_files: Path, tamper: Tamper) -> None:
    record(5)
    run("export-head")
    record(2)
    tamper.update(2, reason="rewritten")
    tamper.rewrite_from(2)
    event_id = AuditEvent.objects.get(sequence=5).pk
    assert audit_verify().problem is not None
    assert broken().startswith(
        f"Audit chain broken at event #5 (id {event_id}): its hash differs from the head signed at"
    )


def test_a_forged_export_line_is_refused(audit_files: Path) -> None:
    record(2)
    run("export-head")
    path = audit_files / "audit-heads.jsonl"
    head = json.loads(path.read_text().splitlines()[0])
    head["sequence"] = 1
    path.write_text(path.read_text() + json.dumps(head) + "\n")
    assert "line 2 of" in broken()
    assert "is not a head signed with the current key" in broken()


def test_export_appends_signed_json_lines_and_keeps_the_key_private(audit_files: Path) -> None:
    record(1)
    run("export-head")
    record(1)
    run("export-head")
    lines = [json.loads(line) for line in (audit_files / "audit-heads.jsonl").read_text().splitlines()]
    assert [line["sequence"] for line in lines] == [1, 2]
    assert lines[1]["hash"] == AuditEvent.objects.get(sequence=2).hash
    assert set(lines[0]) == {"sequence", "hash", "exported_at", "key_id", "signature"}
    assert lines[0]["exported_at"].endswith("Z")
    assert (audit_files / "audit-signing.key").stat().st_mode & 0o777 == 0o600


def test_verify_fails_clearly_without_the_key(audit_files: Path, settings: object) -> None:
    record(1)
    run("export-head")
    (audit_files / "audit-signing.key").unlink()
    assert "does not exist" in broken()


def test_db_roles_prints_the_grants() -> None:
    output = run("db-roles", "--app-role", "fincrm_app")
    assert 'GRANT SELECT, INSERT ON audit_auditevent TO "fincrm_app";' in output
    assert 'REVOKE ALL ON audit_auditevent FROM "fincrm_app";' in output
    assert "UPDATE ON audit_auditevent" not in output

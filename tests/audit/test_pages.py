"""The auditor's pages: search, event detail, CSV export (audited, formula-safe)."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from fincrm.audit.models import AuditEvent
from fincrm.audit.services import audit_record
from fincrm.platform.actor import Actor
from fincrm.users.models import User
from tests.support.auth import sign_in
from tests.support.authz import Case, check, matrix
from tests.support.world import World

pytestmark = pytest.mark.django_db

CLI = Actor.cli()


def event_target(world: World, actor: User, variant: str) -> int:
    return audit_record(CLI, "user.updated", object_type="user", object_id="1", after={"a": 1}).pk


CASES = [
    Case("audit search", "get", "/security/audit/", "audit.view"),
    Case("audit event detail", "get", "/security/audit/{pk}/", "audit.view", target=event_target),
    Case("audit export", "get", "/security/audit/export/", "audit.export"),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)


def auditor(client: Client) -> Client:
    return sign_in(client, World.user("auditor_a"))


def test_search_filters_by_actor_action_object_and_time(world: World, client: Client) -> None:
    admin = Actor(kind=Actor.cli().kind, label="user:admin_x", user_id=5)
    audit_record(admin, "user.updated", object_type="user", object_id="11", after={"mobile": "138****1234"})
    audit_record(CLI, "user.created", object_type="user", object_id="12")
    audit_record(CLI, "user.deactivated", object_type="user", object_id="11")
    page = auditor(client)
    by_actor = page.get("/security/audit/", {"actor": "admin_x"}).content.decode()
    assert by_actor.count("data-event=") == 1
    assert "user:admin_x" in by_actor
    by_object = page.get("/security/audit/", {"object_type": "user", "object_id": "11"}).content.decode()
    assert by_object.count("data-event=") == 2
    by_group = page.get("/security/audit/", {"action": "user."}).content.decode()
    assert by_group.count("data-event=") == 3
    exact = page.get("/security/audit/", {"action": "user.created"}).content.decode()
    assert exact.count("data-event=") == 1
    assert "User created" in exact
    future = page.get("/security/audit/", {"date_from": "2999-01-01"}).content.decode()
    assert "No audit events match." in future
    today = page.get(
        "/security/audit/", {"date_to": "2999-01-01", "date_from": "2000-01-01"}
    ).content.decode()
    assert today.count("data-event=") == 3
    wrong = page.get("/security/audit/", {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert wrong.status_code == 200
    assert "The end date is before the start date." in wrong.content.decode()


def test_search_pages_newest_first_with_a_cursor(world: World, client: Client) -> None:
    for number in range(55):
        audit_record(CLI, "user.updated", object_type="user", object_id=str(number))
    page = auditor(client)
    first = page.get("/security/audit/", {"action": "user.updated"})
    rows = first.context["rows"]
    assert len(rows) == 50
    assert rows[0][0].object_id == "54"
    cursor = first.context["next_cursor"]
    assert "action=user.updated&amp;cursor=" in first.content.decode()
    second = page.get("/security/audit/", {"action": "user.updated", "cursor": cursor})
    assert [event.object_id for event, _label in second.context["rows"]] == [str(n) for n in range(4, -1, -1)]
    assert second.context["next_cursor"] is None
    assert page.get("/security/audit/", {"cursor": "forged"}).status_code == 200


def test_detail_shows_before_and_after_as_a_table(world: World, client: Client) -> None:
    event = audit_record(
        CLI,
        "user.updated",
        object_type="user",
        object_id="9",
        before={"full_name": "Li Si", "mobile": "138****0000"},
        after={"full_name": "Li Wu", "mobile": "138****0000", "tags": ["a"]},
        reason="name change",
    )
    html = auditor(client).get(f"/security/audit/{event.pk}/").content.decode()
    assert "Audit event #1" in html
    assert "name change" in html
    assert '<tr class="table-warning" data-field="full_name">' in html
    assert '<tr data-field="mobile">' in html
    assert "Li Si" in html
    assert "Li Wu" in html
    assert "[&quot;a&quot;]" in html
    assert event.hash in html


def test_export_is_csv_formula_safe_and_audited(world: World, client: Client) -> None:
    audit_record(CLI, "user.updated", object_type="user", object_id="=1+1", reason="@SUM(A1)", after={"n": 1})
    audit_record(CLI, "user.created", object_type="user", object_id="2")
    response = auditor(client).get("/security/audit/export/", {"action": "user.updated"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    body = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == ["sequence", "occurred_at", "actor"]
    assert len(rows) == 2
    assert rows[1][8:11] == ["user", "'=1+1", "'@SUM(A1)"]
    assert rows[1][12] == '{"n": 1}'
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor_label == "user:auditor_a"
    assert exported.after == {"filter": {"action": "user.updated"}, "rows": 1, "newest_sequence": 1}


def test_compliance_officer_searches_but_does_not_see_export(world: World, client: Client) -> None:
    page = sign_in(client, World.user("compliance_officer_a"))
    assert "/security/audit/export/" not in page.get("/security/audit/").content.decode()
    assert "/security/audit/export/" in auditor(Client()).get("/security/audit/").content.decode()

"""Sensitive-access grants: requesting (no existence leak, the number never in clear), approving
and refusing (never one's own), expiry (setting and job), the pages, the report and its CSV."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone

from fincrm.audit.models import AuditEvent
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, Forbidden, NotFound, ServiceError
from fincrm.platform.models import OutboxEvent
from fincrm.security import grants, jobs
from fincrm.security.fields import blind_index
from fincrm.security.models import SensitiveAccessGrant
from fincrm.security.stepup import SESSION_STEP_UP_AT
from fincrm.security.unmask import active_grants_query, granted_fields, unmask_field
from fincrm.users.actors import actor_for_user
from tests.support.auth import sign_in
from tests.support.english import english
from tests.support.world import World

__all__ = ["english"]

pytestmark = pytest.mark.django_db

Status = SensitiveAccessGrant.Status


@pytest.fixture(autouse=True)
def clear_rate_limits() -> None:
    cache.clear()


def actor_of(username: str) -> Actor:
    return actor_for_user(World.user(username))


def client_for(username: str, *, stepped_up: bool = False) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    if stepped_up:
        store = SessionStore()
        store[SESSION_STEP_UP_AT] = int(time.time())
        store.save()
        client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return sign_in(client, World.user(username))


def ask(username: str = "account_manager_a", number: str = "W-A", **kwargs: Any) -> SensitiveAccessGrant:
    kwargs.setdefault("fields", ["mobile"])
    kwargs.setdefault("reason_code", "customer_request")
    kwargs.setdefault("reason_text", "Customer on the phone, ticket 42")
    return grants.grant_request(actor=actor_of(username), customer_number=number, **kwargs)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


# ---------------------------------------------------------------- requesting


def test_request_matches_a_visible_customer_and_keeps_no_clear_number(world: World) -> None:
    grant = ask(number=" w-a ")
    assert grant.customer_id == world.customer_a
    assert grant.status == Status.REQUESTED
    assert grant.fields == ["mobile"]
    assert grant.number_bidx == blind_index("W-A", "text")
    assert "W-A" not in grant.number_masked
    [event] = events("pii.grant.requested")
    assert event.after == {
        "number": grant.number_masked,
        "fields": ["mobile"],
        "reason_code": "customer_request",
    }
    assert "customer_id" not in event.after
    assert (
        OutboxEvent.objects.filter(topic="security.grant.requested", payload={"grant_id": grant.pk}).count()
        == 1
    )


@pytest.mark.parametrize("number", ["NOPE-404", "W-B"])  # unknown, and outside the requester's scope
def test_request_for_an_unknown_or_invisible_number_looks_the_same(world: World, number: str) -> None:
    grant = ask(number=number)
    assert grant.customer_id is None
    assert grant.status == Status.REQUESTED
    assert number not in grant.number_masked
    known = ask(number="W-A")
    # The requester's answer has the same shape and content apart from the number.
    client = client_for("account_manager_a")
    mine = client.get("/api/v1/sensitive/grants/mine").json()["items"]
    assert [sorted(item) for item in mine] == [sorted(mine[0])] * 2
    assert all("customer" not in key for key in mine[0])
    assert {item["id"] for item in mine} == {grant.pk, known.pk}


def test_request_through_the_api_gives_the_same_answer_either_way(world: World) -> None:
    client = client_for("account_manager_a")
    body = {"fields": ["mobile"], "reason_code": "complaint", "reason_text": "Complaint 7"}
    unknown = client.post(
        "/api/v1/sensitive/grants", {**body, "customer_number": "NOPE"}, content_type="application/json"
    )
    known = client.post(
        "/api/v1/sensitive/grants", {**body, "customer_number": "W-A"}, content_type="application/json"
    )
    assert unknown.status_code == known.status_code == 201
    strip = {"id", "number_masked", "requested_at"}
    assert {k: v for k, v in unknown.json().items() if k not in strip} == {
        k: v for k, v in known.json().items() if k not in strip
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"number": ""}, "customer_number"),
        ({"number": "X" * 65}, "customer_number"),
        ({"fields": []}, "fields"),
        ({"fields": ["password"]}, "fields"),
        ({"reason_code": "because"}, "reason_code"),
        ({"reason_text": " "}, "reason_text"),
    ],
)
def test_request_validation(world: World, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ServiceError) as error:
        ask(**changes)
    assert field in error.value.fields
    assert not SensitiveAccessGrant.objects.exists()


def test_request_needs_the_permission(world: World) -> None:
    with pytest.raises(Forbidden):
        ask(username="marketing_a")
    assert not SensitiveAccessGrant.objects.exists()


# ---------------------------------------------------------------- deciding


def test_approve_sets_the_expiry_from_the_setting_and_is_audited(world: World) -> None:
    grant = ask()
    with override_settings(FINCRM_GRANT_SECONDS=3600):
        approved = grants.grant_approve(actor=actor_of("compliance_officer_a"), grant_id=grant.pk, note="ok")
    assert approved.status == Status.APPROVED
    assert approved.approver_id == World.user("compliance_officer_a").pk
    assert approved.expires_at is not None
    assert approved.decided_at is not None
    assert approved.expires_at - approved.decided_at == timedelta(hours=1)
    [event] = events("pii.grant.approved")
    assert event.after["customer_id"] == world.customer_a
    assert event.reason == "ok"


def test_default_lifetime_is_four_hours(world: World) -> None:
    grant = grants.grant_approve(actor=actor_of("compliance_officer_a"), grant_id=ask().pk)
    assert grant.expires_at is not None
    assert grant.decided_at is not None
    assert grant.expires_at - grant.decided_at == timedelta(hours=4)


def test_refuse(world: World) -> None:
    grant = grants.grant_refuse(actor=actor_of("compliance_officer_a"), grant_id=ask().pk, note="no reason")
    assert grant.status == Status.REFUSED
    assert grant.expires_at is None
    assert events("pii.grant.refused")[0].reason == "no reason"
    with pytest.raises(Conflict):
        grants.grant_approve(actor=actor_of("compliance_officer_a"), grant_id=grant.pk)


def test_nobody_decides_their_own_request(world: World) -> None:
    # compliance_officer_a has no pii.grant.request through roles: give the grant row directly.
    grant = ask()
    SensitiveAccessGrant.objects.filter(pk=grant.pk).update(requester=World.user("compliance_officer_a"))
    for decide in (grants.grant_approve, grants.grant_refuse):
        with pytest.raises(Conflict) as error:
            decide(actor=actor_of("compliance_officer_a"), grant_id=grant.pk)
        assert error.value.code == "own_request"
    assert SensitiveAccessGrant.objects.get(pk=grant.pk).status == Status.REQUESTED


def test_unmatched_request_can_only_be_refused(world: World) -> None:
    grant = ask(number="NOPE-1")
    with pytest.raises(Conflict) as error:
        grants.grant_approve(actor=actor_of("compliance_officer_a"), grant_id=grant.pk)
    assert error.value.code == "no_customer"
    assert (
        grants.grant_refuse(actor=actor_of("compliance_officer_a"), grant_id=grant.pk).status
        == Status.REFUSED
    )


def test_without_approve_permission_the_grant_is_not_found(world: World) -> None:
    grant = ask()
    with pytest.raises(NotFound):
        grants.grant_approve(actor=actor_of("team_lead_a"), grant_id=grant.pk)


def test_database_refuses_approval_by_the_requester(world: World) -> None:
    from django.db import IntegrityError, transaction

    grant = ask()
    with pytest.raises(IntegrityError), transaction.atomic():
        SensitiveAccessGrant.objects.filter(pk=grant.pk).update(approver=grant.requester)


# ---------------------------------------------------------------- using and expiring


def test_full_life_of_a_grant(world: World) -> None:
    grant = ask(fields=["mobile", "id_number"])
    requester = actor_of("account_manager_a")
    with pytest.raises(NotFound):  # not yet approved
        unmask_field(
            actor=requester,
            customer_id=world.customer_a,
            field="mobile",
            reason_code="customer_request",
            reason_text="On the phone",
            stepped_up=True,
        )
    grants.grant_approve(actor=actor_of("compliance_officer_a"), grant_id=grant.pk)
    for field in ("mobile", "id_number", "mobile"):
        unmask_field(
            actor=requester,
            customer_id=world.customer_a,
            field=field,
            reason_code="customer_request",
            reason_text="On the phone",
            stepped_up=True,
        )
    grant.refresh_from_db()
    assert grant.uses == 3
    # Time passes: the grant stops working at once, and the job marks it expired.
    later = timezone.now() + timedelta(hours=4, seconds=1)
    assert grants.grants_expire(actor=Actor.system("test"), now=later) == 1
    grant.refresh_from_db()
    assert grant.status == Status.EXPIRED
    [expired] = events("pii.grant.expired")
    assert expired.after == {"status": "expired", "uses": 3}
    assert [
        event.action
        for event in AuditEvent.objects.filter(
            object_id=str(grant.pk), object_type="sensitive_access_grant"
        ).order_by("sequence")
    ] == [
        "pii.grant.requested",
        "pii.grant.approved",
        "pii.grant.used",
        "pii.grant.used",
        "pii.grant.used",
        "pii.grant.expired",
    ]
    with pytest.raises(NotFound):
        unmask_field(
            actor=requester,
            customer_id=world.customer_a,
            field="mobile",
            reason_code="customer_request",
            reason_text="On the phone",
            stepped_up=True,
        )


def test_the_periodic_job_expires_due_grants_only(world: World) -> None:
    due = grants.grant_approve(actor=actor_of("compliance_officer_a"), grant_id=ask().pk)
    live = grants.grant_approve(actor=actor_of("compliance_officer_a"), grant_id=ask().pk)
    SensitiveAccessGrant.objects.filter(pk=due.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    jobs.expire_grants()
    assert SensitiveAccessGrant.objects.get(pk=due.pk).status == Status.EXPIRED
    assert SensitiveAccessGrant.objects.get(pk=live.pk).status == Status.APPROVED
    jobs.expire_grants()  # nothing more to do
    assert len(events("pii.grant.expired")) == 1


# ---------------------------------------------------------------- pages


def test_request_page_flow_same_message_either_way(world: World) -> None:
    client = client_for("account_manager_a")
    assert client.get("/sensitive/grants/new/").status_code == 200
    answers = []
    for number in ("W-A", "NOPE-9"):
        response = client.post(
            "/sensitive/grants/new/",
            {
                "customer_number": number,
                "fields": ["mobile"],
                "reason_code": "complaint",
                "reason_text": "Complaint 9",
            },
            follow=True,
        )
        assert response.status_code == 200
        answers.append(response)
    for response in answers:
        assert "Your request was sent for approval." in response.content.decode()
    page = client.get("/sensitive/grants/").content.decode()
    assert "no match" not in page
    assert page.count("data-grant=") == 2


def test_request_page_shows_field_errors(world: World) -> None:
    response = client_for("account_manager_a").post(
        "/sensitive/grants/new/", {"customer_number": "W-A", "reason_code": "complaint", "reason_text": ""}
    )
    assert response.status_code == 200
    assert "invalid-feedback" in response.content.decode()
    assert not SensitiveAccessGrant.objects.exists()


def test_approver_queue_and_decision_pages(world: World) -> None:
    matched = ask()
    unmatched = ask(number="NOPE-2")
    client = client_for("compliance_officer_a")
    queue = client.get("/sensitive/grants/").content.decode()
    assert f'data-grant="{matched.pk}"' in queue
    assert f'data-grant="{unmatched.pk}"' in queue
    assert "no match" in queue
    detail = client.get(f"/sensitive/grants/{unmatched.pk}/").content.decode()
    assert 'value="approve"' not in detail
    assert 'value="refuse"' in detail
    response = client.post(f"/sensitive/grants/{matched.pk}/", {"decision": "approve", "note": "fine"})
    assert response.status_code == 302
    assert SensitiveAccessGrant.objects.get(pk=matched.pk).status == Status.APPROVED
    response = client.post(f"/sensitive/grants/{unmatched.pk}/", {"decision": "refuse", "note": "unknown"})
    assert SensitiveAccessGrant.objects.get(pk=unmatched.pk).status == Status.REFUSED


def test_hub_shows_the_sections_a_user_may_see(world: World) -> None:
    requester = client_for("service_agent_a").get("/sensitive/grants/").content.decode()
    assert "data-grant-mine" in requester
    assert "data-grant-queue" not in requester
    assert "/sensitive/grants/report/" not in requester
    approver = client_for("compliance_officer_a").get("/sensitive/grants/").content.decode()
    assert "data-grant-queue" in approver
    assert "data-grant-mine" not in approver
    assert "/sensitive/grants/report/" in approver


def test_report_lists_everything_and_the_csv_export_is_audited_after_step_up(world: World) -> None:
    grant = ask(fields=["mobile", "id_number"])
    grants.grant_approve(actor=actor_of("compliance_officer_a"), grant_id=grant.pk)
    ask(number="NOPE-3", reason_text="=HYPERLINK(1) formula")
    client = client_for("auditor_a")
    page = client.get("/sensitive/grants/report/").content.decode()
    assert page.count("data-grant=") == 2
    assert "W-A" in page
    # The export asks for a step-up first.
    response = client.get("/sensitive/grants/report/?export=csv")
    assert response.status_code == 302
    assert response["Location"].startswith("/sensitive/step-up/?next=")
    assert not events("pii.grant.report_exported")
    stepped = client_for("auditor_a", stepped_up=True)
    response = stepped.get("/sensitive/grants/report/?export=csv")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    lines = text.strip().splitlines()
    assert lines[0].startswith("id,status,requester,approver,customer_number")
    assert len(lines) == 3
    assert any(
        "compliance_officer_a" in line and "W-A" in line and "id_number mobile" in line for line in lines
    )
    assert "'=HYPERLINK(1) formula" in text
    [event] = events("pii.grant.report_exported")
    assert event.after == {"status": "", "rows": 2}


def test_api_queue_decide_and_report(world: World) -> None:
    grant = ask()
    client = client_for("compliance_officer_a")
    queue = client.get("/api/v1/sensitive/grants/queue").json()["items"]
    assert [(item["id"], item["customer_number"], item["requester_username"]) for item in queue] == [
        (grant.pk, "W-A", "account_manager_a")
    ]
    response = client.post(
        f"/api/v1/sensitive/grants/{grant.pk}/approve", {"note": "ok"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    report = client.get("/api/v1/sensitive/grants").json()["items"]
    assert report[0]["id"] == grant.pk
    assert report[0]["uses"] == 0
    again = client.post(f"/api/v1/sensitive/grants/{grant.pk}/refuse", {}, content_type="application/json")
    assert again.status_code == 409


def _granted_by_the_orm(actor: Actor, customer_id: int) -> dict[str, int]:
    """What granted_fields answered when the ORM built its query."""
    result: dict[str, int] = {}
    for grant_id, fields in (
        active_grants_query(actor)
        .filter(customer_id=customer_id)
        .order_by("-expires_at")
        .values_list("pk", "fields")
    ):
        for key in fields or []:
            result[str(key)] = grant_id
    return result


def test_granted_fields_are_the_live_approved_grants_for_the_customer(world: World) -> None:
    approver = actor_of("compliance_officer_a")
    requester = actor_of("account_manager_a")
    soon = ask(fields=["mobile", "id_number"])
    later = ask(fields=["mobile", "email"])
    ask(fields=["address"])  # requested, never approved
    refused = ask(fields=["address"])
    expired = ask(fields=["address"])
    for grant in (soon, later, expired):
        grants.grant_approve(actor=approver, grant_id=grant.pk)
    grants.grant_refuse(actor=approver, grant_id=refused.pk, note="No ticket")
    SensitiveAccessGrant.objects.filter(pk=soon.pk).update(expires_at=timezone.now() + timedelta(minutes=5))
    SensitiveAccessGrant.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    granted = granted_fields(requester, world.customer_a)

    # The soonest to expire of the live grants naming a field is the one used (and counted).
    assert granted == {"mobile": soon.pk, "id_number": soon.pk, "email": later.pk}
    assert granted == _granted_by_the_orm(requester, world.customer_a)
    assert granted_fields(requester, world.customer_b) == {}
    assert granted_fields(approver, world.customer_a) == {}  # grants are the requester's only
    assert granted_fields(Actor.system("test"), world.customer_a) == {}

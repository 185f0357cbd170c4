"""The bulk export service: scope, masking, keyset pages ordered by id, the export session carried
in the signed cursor (step-up, running total), and one audit event per page."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.customers.models import Customer
from fincrm.customers.services.exports import export_request_create, export_request_decide
from fincrm.integration.bulk_export import ExportPage, customer_export_page, page_size_max
from fincrm.integration.models import ExportRequest
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden, NotFound, ServiceError
from fincrm.platform.models import OutboxEvent
from fincrm.platform.pagination import InvalidCursor
from fincrm.users.actors import actor_for_user
from fincrm.users.models import RoleAssignment
from tests.customers.factories import CustomerFactory
from tests.support.world import World
from tests.users.admin_support import custom_role

MANAGER = "branch_manager_a"  # customer.export over sub-branch A1's subtree


def actor_of(username: str) -> Actor:
    return actor_for_user(World.user(username))


def page(
    actor: Actor,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    stepped_up: bool = True,
    **parameters: Any,
) -> tuple[ExportPage, dict[str, Any]]:
    result = customer_export_page(
        actor=actor, parameters=parameters, cursor=cursor, limit=limit, stepped_up=stepped_up
    )
    return result, json.loads(result.body)


def walk(actor: Actor, *, limit: int, **parameters: Any) -> list[dict[str, Any]]:
    bodies = []
    cursor = None
    while True:
        _result, body = page(actor, cursor=cursor, limit=limit, stepped_up=cursor is None, **parameters)
        bodies.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return bodies


def test_a_record_is_masked_with_codes_and_identifiers_as_strings(world: World) -> None:
    _result, body = page(actor_of(MANAGER))
    assert body["entity"] == "customers"
    assert body["rows"] == 1
    assert body["rows_before"] == 0
    assert body["next_cursor"] is None
    (record,) = body["items"]  # never W-B in branch B
    customer = Customer.objects.get(pk=world.customer_a)
    assert record == {
        "id": world.customer_a,
        "customer_number": "W-A",
        "kind": "individual",
        "status": "active",
        "name": "张*",
        "id_type": "resident_id",
        "id_number": "110***********002X",
        "mobile": "138****8000",
        "email": None,
        "lifecycle_stage": "customer",
        "value_tier": "mass",
        "aum": "0.00",
        "aml_risk_rating": "low",
        "risk_tolerance": "",
        "is_professional_investor": False,
        "source_channel": "branch",
        "org_unit": "SB-A1",
        "primary_manager": "account_manager_a",
        "covering_team": "T-A1",
        "created_at": customer.created_at.isoformat(),
        "updated_at": customer.updated_at.isoformat(),
    }
    # No clear identifier anywhere in what left the server.
    raw = _result.body.decode("utf-8")
    for clear in ("11010519491231002X", "13800138000", "张三"):
        assert clear not in raw


def test_pages_walk_every_customer_once_in_id_order_with_a_running_total(world: World) -> None:
    created = [CustomerFactory(aum=Decimal(n * 1000)) for n in range(7)]
    expected = sorted([world.customer_a, *(customer.pk for customer in created)])
    bodies = walk(actor_of(MANAGER), limit=3)
    assert [body["rows"] for body in bodies] == [3, 3, 2]
    assert [body["rows_before"] for body in bodies] == [0, 3, 6]
    assert [item["id"] for body in bodies for item in body["items"]] == expected
    assert len({body["export_session"] for body in bodies}) == 1


def test_changes_between_pages_never_repeat_or_move_a_row(world: World) -> None:
    created = [CustomerFactory() for _ in range(4)]
    actor = actor_of(MANAGER)
    _result, first = page(actor, limit=2)
    seen = [item["id"] for item in first["items"]]
    # A list sorted by AUM would move these; the export is ordered by id, so nothing moves.
    Customer.objects.filter(pk=seen[0]).update(aum=Decimal("99999999"))
    Customer.objects.filter(pk=created[-1].pk).update(aum=Decimal("0.01"))
    late = CustomerFactory()
    cursor = first["next_cursor"]
    while cursor:
        _result, body = page(actor, cursor=cursor, limit=2, stepped_up=False)
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
    assert seen == sorted([world.customer_a, *(c.pk for c in created), late.pk])
    assert len(seen) == len(set(seen))


def test_one_audit_event_per_page_with_the_body_digest(world: World) -> None:
    CustomerFactory.create_batch(2)
    actor = actor_of(MANAGER)
    first, first_body = page(actor, limit=2, stage=["customer"])
    second, second_body = page(actor, limit=2, stage=["customer"], cursor=first.next_cursor, stepped_up=False)
    events = list(AuditEvent.objects.filter(action="export.api_page").order_by("sequence"))
    assert len(events) == 2
    assert events[0].object_id == events[1].object_id == first.session
    assert events[0].after["sha256"] == first.sha256 == hashlib.sha256(first.body).hexdigest()
    assert events[1].after["sha256"] == hashlib.sha256(second.body).hexdigest()
    assert events[0].after["rows"] == 2
    assert events[1].after["rows"] == 1
    assert events[1].after["rows_before"] == 2
    assert events[1].after["rows_total"] == 3
    assert events[0].after["filters"] == {"stage": ["customer"]}
    assert events[0].after["after_id"] is None
    assert events[1].after["after_id"] == first_body["items"][-1]["id"]
    assert events[1].after["last_id"] == second_body["items"][-1]["id"]
    assert events[0].after["last_page"] is False
    assert events[1].after["last_page"] is True
    assert events[0].after["masked"] is True
    assert OutboxEvent.objects.filter(topic="integration.export.page").count() == 2


def test_filters_narrow_and_list_only_options_are_refused(world: World) -> None:
    CustomerFactory(lifecycle_stage="prospect")
    _result, body = page(actor_of(MANAGER), stage=["prospect"])
    assert [item["lifecycle_stage"] for item in body["items"]] == ["prospect"]

    for parameters, field in (
        ({"sort": ["-aum"]}, "sort"),
        ({"columns": ["name"]}, "columns"),
        ({"stge": ["customer"]}, "stge"),
        ({"cf_nothing": ["1"]}, "cf_nothing"),
        ({"aml": ["extreme"]}, "aml"),
    ):
        with pytest.raises(ServiceError) as caught:
            page(actor_of(MANAGER), **parameters)
        assert caught.value.code == "invalid_filter"
        assert caught.value.status == 400
        assert list(caught.value.fields) == [field]
    assert AuditEvent.objects.filter(action="export.api_page").count() == 1  # the valid page only


def test_the_scope_is_the_export_permissions(world: World) -> None:
    role = custom_role("export_own", scope="own", permissions=("customer.view", "customer.export"))
    RoleAssignment.objects.create(user=World.user("peer_a"), role=role)
    CustomerFactory()  # in A1 but managed by nobody
    _result, body = page(actor_of("peer_a"))
    assert body["items"] == []  # own scope: peer_a manages no customer

    RoleAssignment.objects.create(user=World.user("account_manager_a"), role=role)
    _result, body = page(actor_of("account_manager_a"))
    assert [item["customer_number"] for item in body["items"]] == ["W-A"]


def test_without_permission_nothing_is_served_and_the_denial_is_recorded(world: World) -> None:
    actor = actor_of("account_manager_a")  # customer.view only
    with pytest.raises(Forbidden):
        page(actor)
    assert SecurityEvent.objects.filter(kind="access.denied", user_id=actor.user_id).count() == 1
    assert not AuditEvent.objects.filter(action="export.api_page").exists()
    assert not OutboxEvent.objects.exists()


def test_the_first_page_needs_a_step_up_and_the_session_carries_it(world: World, settings: Any) -> None:
    CustomerFactory.create_batch(3)
    actor = actor_of(MANAGER)
    with pytest.raises(ServiceError) as caught:
        page(actor, stepped_up=False)
    assert caught.value.code == "step_up_required"

    first, _body = page(actor, limit=1)
    second, _body = page(actor, limit=1, cursor=first.next_cursor, stepped_up=False)
    settings.FINCRM_STEP_UP_SECONDS = -1  # the session's step-up has expired
    with pytest.raises(ServiceError) as caught:
        page(actor, limit=1, cursor=second.next_cursor, stepped_up=False)
    assert caught.value.code == "step_up_required"
    # A new step-up with the cursor continues the same session where it stopped.
    third, body = page(actor, limit=1, cursor=second.next_cursor, stepped_up=True)
    assert third.session == first.session
    assert body["rows_before"] == 2


def test_a_cursor_works_only_for_its_caller_and_filters(world: World) -> None:
    CustomerFactory.create_batch(2)
    first, _body = page(actor_of(MANAGER), limit=1)
    assert first.next_cursor is not None
    tampered = first.next_cursor[:-2] + ("AA" if not first.next_cursor.endswith("AA") else "BB")
    for actor, cursor, parameters in (
        (actor_of(MANAGER), tampered, {}),
        (actor_of(MANAGER), first.next_cursor, {"stage": ["customer"]}),
        (actor_of("branch_manager_b"), first.next_cursor, {}),
    ):
        with pytest.raises(InvalidCursor) as caught:
            page(actor, limit=1, cursor=cursor, stepped_up=True, **parameters)
        assert caught.value.status == 400
        assert "cursor" in caught.value.fields


def test_page_size_limits_and_the_row_cap(world: World, settings: Any) -> None:
    for limit in (0, -1, 5001):
        with pytest.raises(ServiceError) as caught:
            page(actor_of(MANAGER), limit=limit)
        assert caught.value.status == 422
        assert "limit" in caught.value.fields
    assert page_size_max() == 5000

    settings.FINCRM_EXPORT_ROW_CAP = 2
    with pytest.raises(ServiceError) as caught:
        page(actor_of(MANAGER), limit=3)
    assert "from 1 to 2" in str(caught.value.fields["limit"][0])
    settings.FINCRM_EXPORT_ROW_CAP = 5
    CustomerFactory.create_batch(4)
    bodies = walk(actor_of(MANAGER), limit=2)
    # No page exceeds the cap, and the session's total is audited on every page.
    assert [body["rows"] for body in bodies] == [2, 2, 1]
    last = AuditEvent.objects.filter(action="export.api_page").order_by("-sequence").first()
    assert last is not None
    assert last.after["rows_total"] == 5
    assert last.after["approval_request"] is None


@pytest.fixture
def approver(world: World) -> Actor:
    """A compliance head with customer.export over the whole institution."""
    role = custom_role(
        "export_approver", scope="institution", permissions=("customer.export", "customer.view")
    )
    RoleAssignment.objects.create(user=World.user("compliance_officer_b"), role=role)
    return actor_for_user(World.user("compliance_officer_b"))


def test_above_the_row_cap_a_session_needs_an_approval_used_once(
    world: World, settings: Any, approver: Actor
) -> None:
    settings.FINCRM_EXPORT_ROW_CAP = 2
    CustomerFactory.create_batch(4)  # with the world's customer: 5 in the manager's scope
    requester = actor_of(MANAGER)
    with pytest.raises(ServiceError) as caught:
        page(requester, limit=2)
    assert (caught.value.code, caught.value.status) == ("export_needs_approval", 403)
    assert not AuditEvent.objects.filter(action="export.api_page").exists()

    request = export_request_create(actor=requester, parameters={}, file_format="csv", reason="Migration")
    with pytest.raises(NotFound):  # not approved yet
        customer_export_page(
            actor=requester, parameters={}, cursor=None, limit=2, stepped_up=True, approval=request.pk
        )
    export_request_decide(actor=approver, request_id=request.pk, approve=True)
    with pytest.raises(NotFound):  # someone else's approval is no use
        customer_export_page(
            actor=approver, parameters={}, cursor=None, limit=2, stepped_up=True, approval=request.pk
        )
    with pytest.raises(ServiceError) as caught:  # other filters than the approved ones
        customer_export_page(
            actor=requester,
            parameters={"kind": ["corporate"]},
            cursor=None,
            limit=2,
            stepped_up=True,
            approval=request.pk,
        )
    assert caught.value.code == "approval_mismatch"

    first = customer_export_page(
        actor=requester, parameters={}, cursor=None, limit=2, stepped_up=True, approval=request.pk
    )
    bodies = [json.loads(first.body)]
    while bodies[-1]["next_cursor"]:
        bodies.append(page(requester, cursor=bodies[-1]["next_cursor"], limit=2, stepped_up=False)[1])
    assert [body["rows"] for body in bodies] == [2, 2, 1]
    request.refresh_from_db()
    assert request.status == ExportRequest.Status.USED
    audited = AuditEvent.objects.filter(action="export.api_page").order_by("sequence")
    assert [event.after["approval_request"] for event in audited] == [request.pk] * 3
    with pytest.raises(NotFound):  # one session per approval
        customer_export_page(
            actor=requester, parameters={}, cursor=None, limit=2, stepped_up=True, approval=request.pk
        )


def test_a_session_that_grows_past_the_cap_stops_at_it(world: World, settings: Any) -> None:
    settings.FINCRM_EXPORT_ROW_CAP = 3
    CustomerFactory.create_batch(1)  # 2 in scope: under the cap when the session starts
    _first, body = page(actor_of(MANAGER), limit=1)
    assert body["rows"] == 1
    CustomerFactory.create_batch(3)  # added while the client walks
    second = page(actor_of(MANAGER), cursor=body["next_cursor"], limit=1, stepped_up=False)[1]
    third = page(actor_of(MANAGER), cursor=second["next_cursor"], limit=3, stepped_up=False)[1]
    assert third["rows"] == 1  # cut at the cap: 3 rows in all
    with pytest.raises(ServiceError) as caught:
        page(actor_of(MANAGER), cursor=third["next_cursor"], limit=1, stepped_up=False)
    assert caught.value.code == "export_needs_approval"


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cursor=st.text(min_size=1, max_size=300))
def test_any_forged_cursor_is_refused_cleanly(world: World, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        page(actor_of(MANAGER), cursor=cursor)

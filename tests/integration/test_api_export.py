"""``GET /api/v1/export/customers``: the authorization matrix, step-up through the header, masking,
the body digest, cursor tampering, stable order, and a pinned query count per page."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.platform.actor import Actor
from fincrm.platform.models import OutboxEvent
from fincrm.security.stepup import SESSION_STEP_UP_AT
from fincrm.users.models import RoleAssignment
from fincrm.users.roles import BUILTIN_ROLES
from fincrm.users.services.tokens import api_token_create
from tests.customers.factories import CustomerFactory
from tests.support.auth import sign_in
from tests.support.authz import Case, check, fingerprint, matrix
from tests.support.english import client, english
from tests.support.world import PASSWORD, World
from tests.users.admin_support import custom_role

__all__ = ["client", "english"]

URL = "/api/v1/export/customers"
STEP_UP = {"X-Fincrm-Step-Up": PASSWORD}


@pytest.fixture(autouse=True)
def fresh_counters() -> None:
    cache.clear()  # step-up attempts are rate-limited per user in the cache


ENDPOINTS = [
    # Without the X-Fincrm-Step-Up header an allowed caller is told to step up (403 step_up_required).
    Case("api bulk export", "get", URL, "customer.export", api=True, ok=(403,)),
    Case(
        "api bulk export filtered",
        "get",
        URL + "?stage=customer&limit=10",
        "customer.export",
        api=True,
        ok=(403,),
    ),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(ENDPOINTS))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)


def numbers(response: Any) -> list[str]:
    return [item["customer_number"] for item in response.json()["items"]]


@pytest.mark.parametrize("role", [role.code for role in BUILTIN_ROLES])
def test_every_builtin_role_with_a_step_up(role: str, world: World, client: Client) -> None:
    """Stepped up, each role gets exactly its export scope or a 403 that writes nothing."""
    user = World.user(f"{role}_a")
    sign_in(client, user)
    spec = next(spec for spec in BUILTIN_ROLES if spec.code == role)
    if "customer.export" not in spec.permissions:
        before = fingerprint()
        denied = SecurityEvent.objects.filter(kind="access.denied", user_id=user.pk).count()
        response = client.get(URL, headers=STEP_UP)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
        assert fingerprint() == before
        assert SecurityEvent.objects.filter(kind="access.denied", user_id=user.pk).count() == denied + 1
        return
    response = client.get(URL, headers=STEP_UP)
    assert response.status_code == 200, response.content
    assert numbers(response) == ["W-A"]  # branch_manager: sub-branch A1's subtree, never W-B


@pytest.mark.parametrize(
    ("scope", "holder", "expected"),
    [
        ("own", "account_manager_a", ["W-A"]),
        ("own", "peer_a", []),
        ("team", "peer_a", ["W-A"]),
        ("branch", "peer_a", ["W-A"]),
        ("subtree", "peer_b", ["W-B"]),
        ("institution", "peer_a", ["W-A", "W-B"]),
    ],
)
def test_each_scope_exports_exactly_its_customers(
    scope: str, holder: str, expected: list[str], world: World, client: Client
) -> None:
    role = custom_role(f"export_{scope}", scope=scope, permissions=("customer.view", "customer.export"))
    RoleAssignment.objects.create(user=World.user(holder), role=role)
    sign_in(client, World.user(holder))
    response = client.get(URL, headers=STEP_UP)
    assert response.status_code == 200, response.content
    assert numbers(response) == expected


def test_step_up_missing_or_wrong_is_the_standard_error(world: World, client: Client) -> None:
    sign_in(client, World.user("branch_manager_a"))
    for headers in ({}, {"X-Fincrm-Step-Up": "not-the-password"}):
        response = client.get(URL, headers=headers)
        assert response.status_code == 403
        body = response.json()
        assert body["code"] == "step_up_required"
        assert body["message"] == "Confirm your identity again (step-up) before exporting."
        assert set(body) == {"code", "message", "fields", "request_id"}
    assert not AuditEvent.objects.filter(action="export.api_page").exists()
    assert not OutboxEvent.objects.exists()


def test_a_token_pages_through_with_one_step_up(world: World, client: Client) -> None:
    CustomerFactory.create_batch(3)
    _token, plaintext = api_token_create(
        actor=Actor.cli(), owner_id=World.user("branch_manager_a").pk, name="data warehouse"
    )
    auth = {"Authorization": f"Bearer {plaintext}"}
    first = client.get(URL, {"limit": 2}, headers={**auth, **STEP_UP})
    assert first.status_code == 200, first.content
    assert first["Cache-Control"] == "no-store"
    assert first["Content-Type"] == "application/json; charset=utf-8"
    assert first["X-Content-SHA256"] == hashlib.sha256(first.content).hexdigest()
    body = first.json()
    assert body["rows"] == 2
    assert body["next_cursor"]
    # The name and identifiers are masked; identifiers are strings.
    record = body["items"][0]
    assert record["name"] == "张*"
    assert record["id_number"] == "110***********002X"
    assert record["mobile"] == "138****8000"

    second = client.get(URL, {"limit": 2, "cursor": body["next_cursor"]}, headers=auth)  # no header
    assert second.status_code == 200, second.content
    assert second.json()["rows_before"] == 2
    ids = [item["id"] for item in body["items"] + second.json()["items"]]
    assert ids == sorted(ids)
    assert len(ids) == 4
    events = AuditEvent.objects.filter(action="export.api_page").order_by("sequence")
    assert [event.after["sha256"] for event in events] == [
        first["X-Content-SHA256"],
        second["X-Content-SHA256"],
    ]


def stepped_up_session(client: Client, username: str = "branch_manager_a") -> Client:
    sign_in(client, World.user(username))
    session = client.session
    session[SESSION_STEP_UP_AT] = int(time.time())
    session.save()
    return client


def test_a_tampered_or_foreign_cursor_answers_400(world: World, client: Client) -> None:
    CustomerFactory.create_batch(2)
    stepped_up_session(client)
    cursor = client.get(URL, {"limit": 1}).json()["next_cursor"]
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    for query in ({"cursor": flipped}, {"cursor": "garbage"}, {"cursor": cursor, "stage": "prospect"}):
        response = client.get(URL, {"limit": 1, **query})
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["code"] == "invalid_cursor"
        assert "cursor" in body["fields"]

    other = stepped_up_session(Client(HTTP_ACCEPT_LANGUAGE="en"), "branch_manager_b")
    assert other.get(URL, {"limit": 1, "cursor": cursor}).status_code == 400


def test_bad_parameters_name_the_field(world: World, client: Client) -> None:
    stepped_up_session(client)
    response = client.get(URL, {"limit": 6000})
    assert response.status_code == 422
    assert "limit" in response.json()["fields"]
    response = client.get(URL, {"aml": "extreme"})
    assert response.status_code == 400
    assert response.json()["fields"]["aml"][0].startswith("AML risk rating: ")
    response = client.get(URL, {"sort": "-aum"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["sort"]
    response = client.get(URL, {"limit": "many"})
    assert response.status_code == 422
    assert "limit" in response.json()["fields"]


def test_formula_like_values_are_returned_as_data(world: World, client: Client) -> None:
    """JSON carries text as text: a name starting with "=" is masked like any other name."""
    CustomerFactory(name="=HYPERLINK(1)", customer_number="X1")
    stepped_up_session(client)
    items = {item["customer_number"]: item for item in client.get(URL).json()["items"]}
    assert "HYPERLINK" not in items["X1"]["name"]


def _page_queries(client: Client, query: dict[str, Any]) -> tuple[list[str], Any]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, query)
    assert response.status_code == 200, response.content
    return [entry["sql"] for entry in queries.captured_queries], response


def test_query_count_is_pinned_and_does_not_grow_with_the_page(world: World, client: Client) -> None:
    CustomerFactory.create_batch(12)
    stepped_up_session(client)
    first, response = _page_queries(client, {"limit": 2})
    cursor = response.json()["next_cursor"]
    small, _response = _page_queries(client, {"limit": 2, "cursor": cursor})
    large, response = _page_queries(client, {"limit": 10, "cursor": cursor})
    assert response.json()["rows"] == 10
    assert len(small) == len(large) == PINNED_QUERIES
    assert len(first) == PINNED_QUERIES + 1  # the first page also counts up to the row cap
    # One query reads the page's customers (their org unit, manager and team joined in).
    pages = [sql for sql in large if sql.startswith("SELECT") and 'FROM "customers_customer"' in sql]
    assert len(pages) == 1


# Session, user, its session row, permissions, teams; then in one savepoint: the page (customers
# with org unit, manager and team joined), the outbox event, the audit chain head, the audit event,
# the chain head's update. A session's first page also counts its rows up to the cap.
PINNED_QUERIES = 11


def test_above_the_cap_the_api_says_so_and_an_approval_starts_the_session(
    world: World, client: Client, settings: Any
) -> None:
    from fincrm.customers.services.exports import export_request_create, export_request_decide
    from fincrm.integration.models import ExportRequest
    from fincrm.users.actors import actor_for_user

    settings.FINCRM_EXPORT_ROW_CAP = 2
    CustomerFactory.create_batch(3)
    stepped_up_session(client)
    refused = client.get(URL, {"limit": 2})
    assert refused.status_code == 403
    assert refused.json()["code"] == "export_needs_approval"

    requester = actor_for_user(World.user("branch_manager_a"))
    request = export_request_create(
        actor=requester, parameters={}, file_format="csv", reason="Warehouse load"
    )
    role = custom_role(
        "export_approver", scope="institution", permissions=("customer.export", "customer.view")
    )
    RoleAssignment.objects.create(user=World.user("compliance_officer_b"), role=role)
    export_request_decide(
        actor=actor_for_user(World.user("compliance_officer_b")), request_id=request.pk, approve=True
    )
    first = client.get(URL, {"limit": 2, "approval": request.pk})
    assert first.status_code == 200, first.content
    assert first.json()["rows"] == 2
    second = client.get(URL, {"limit": 2, "cursor": first.json()["next_cursor"]})
    assert second.status_code == 200, second.content
    request.refresh_from_db()
    assert request.status == ExportRequest.Status.USED
    again = client.get(URL, {"limit": 2, "approval": request.pk})
    assert again.status_code == 404

"""The customer 360 page: masked identity, every section, the read event, scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.audit.services import audit_record
from fincrm.customers.models import Customer, CustomerStatus
from tests.customers.factories import corporate_group
from tests.customers.profile_support import actor_of, add_portfolio
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]

pytestmark = pytest.mark.django_db


def open_360(client: Client, username: str, customer_id: int):  # type: ignore[no-untyped-def]
    sign_in(client, World.user(username))
    return client.get(f"/customers/{customer_id}/")


def viewed_events(customer_id: int):  # type: ignore[no-untyped-def]
    return AuditEvent.objects.filter(
        action="customer.viewed", object_type="customer", object_id=str(customer_id)
    )


def test_header_shows_the_identity_masked(world: World, client: Client) -> None:
    response = open_360(client, "account_manager_a", world.customer_a)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 class="page-title h2 mb-1" data-field="name">张*</h1>' in html
    assert "138****8000" in html
    assert "110***********002X" in html
    for clear in ("张三", "13800138000", "11010519491231002X", "8613800138000"):
        assert clear not in html
    assert 'data-field="lifecycle-stage" title="Lifecycle stage">Customer</span>' in html
    assert 'data-field="value-tier" title="Value tier">Mass</span>' in html
    assert "Account Manager A" in html  # the primary manager
    assert "Team A1" in html  # the covering team


def test_personal_data_is_never_cached(world: World, client: Client) -> None:
    response = open_360(client, "account_manager_a", world.customer_a)

    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_opening_the_360_records_one_read_event(world: World, client: Client) -> None:
    before = viewed_events(world.customer_a).count()

    open_360(client, "account_manager_a", world.customer_a)

    events = list(viewed_events(world.customer_a))
    assert len(events) == before + 1
    event = events[0]
    assert event.actor_label == "user:account_manager_a"
    assert event.actor_user_id == World.user("account_manager_a").pk
    assert event.after == {"via": "page"}
    assert event.request_id  # the request's context is carried to the write after the response


def test_out_of_scope_is_not_found_and_recorded_as_denied(world: World, client: Client) -> None:
    actor = World.user("account_manager_b")
    denied = SecurityEvent.objects.filter(kind="access.denied", user_id=actor.pk).count()

    response = open_360(client, "account_manager_b", world.customer_a)

    assert response.status_code == 404
    assert viewed_events(world.customer_a).count() == 0
    assert SecurityEvent.objects.filter(kind="access.denied", user_id=actor.pk).count() == denied + 1


@pytest.mark.parametrize("status", [CustomerStatus.MERGED, CustomerStatus.RESTRICTED])
def test_merged_and_restricted_customers_are_not_found(world: World, client: Client, status: str) -> None:
    Customer.objects.filter(pk=world.customer_a).update(status=status)

    assert open_360(client, "account_manager_a", world.customer_a).status_code == 404


def test_missing_customer_is_not_found(world: World, client: Client) -> None:
    assert open_360(client, "account_manager_a", 10**9).status_code == 404


def test_risk_flags(world: World, client: Client) -> None:
    today = timezone.localdate()
    Customer.objects.filter(pk=world.customer_a).update(
        aml_risk_rating="high",
        aml_next_review_on=today - timedelta(days=1),
        id_expires_on=today - timedelta(days=1),
        risk_tolerance="C3",
        risk_assessed_on=today - timedelta(days=400),
        risk_expires_on=today - timedelta(days=35),
    )

    html = open_360(client, "account_manager_a", world.customer_a).content.decode()

    for code in ("aml_rating", "aml_review_overdue", "kyc_expired", "risk_assessment_expired"):
        assert f'data-flag="{code}"' in html
    assert "AML risk: High" in html
    assert 'data-flag="risk_assessment_missing"' not in html


def test_portfolio_sections(world: World, client: Client) -> None:
    add_portfolio(world.customer_a)
    Customer.objects.filter(pk=world.customer_a).update(aum="161000.00", aum_updated_at=timezone.now())

    response = open_360(client, "account_manager_a", world.customer_a)
    html = response.content.decode()

    assert 'data-field="aum">161,000.00<' in html
    assert "稳健理财0号" in html
    assert 'data-maturing="1"' in html
    assert "in 30 days" in html
    assert "尾号0000" in html  # the account, masked
    assert "6217000010001200000" not in html
    assert "1,234.50" in html
    assert "高净值0" in html
    chart = response.context["aum_chart"]
    assert len(chart["months"]) == 12
    assert [series["code"] for series in chart["series"]] == [
        "deposit",
        "wealth",
        "fund",
        "securities",
        "insurance",
    ]
    assert chart["series"][1]["data"][-1] == "50000.00"
    assert 'id="fincrm-aum-data"' in html
    assert 'data-chart="aum"' in html


def test_ready_sections_say_no_data_yet(world: World, client: Client) -> None:
    html = open_360(client, "account_manager_a", world.customer_a).content.decode()

    for key in ("interactions", "opportunities", "tickets", "tasks"):
        assert f'data-empty="{key}"' in html


def test_change_history_comes_from_the_audit_log_without_reads(world: World, client: Client) -> None:
    audit_record(
        actor_of("account_manager_a"),
        "customer.updated",
        object_type="customer",
        object_id=str(world.customer_a),
        before={"occupation": "教师", "mobile": "+8613800138000"},
        after={"occupation": "工程师", "mobile": "+8613900001111"},
        reason="customer called",
    )
    open_360(client, "account_manager_a", world.customer_a)  # a read: not a change

    html = open_360(client, "account_manager_a", world.customer_a).content.decode()

    assert 'data-event="customer.updated"' in html
    assert 'data-event="customer.viewed"' not in html
    assert "customer called" in html
    assert "139****1111" in html  # an identifier the writer left clear is masked on display
    assert "13900001111" not in html


def test_secondary_managers_and_coverage_history(world: World, client: Client) -> None:
    add_portfolio(world.customer_a)

    html = open_360(client, "account_manager_a", world.customer_a).content.decode()

    assert "Peer A" in html
    assert "rebalancing 0" in html
    assert 'data-table="lifecycle"' in html


def test_account_manager_sees_no_unmask_button_without_the_permission(world: World, client: Client) -> None:
    html = open_360(client, "account_manager_a", world.customer_a).content.decode()

    assert "data-unmask-show" not in html


def test_risk_officer_gets_the_unmask_control(world: World, client: Client) -> None:
    html = open_360(client, "risk_officer_a", world.customer_a).content.decode()

    assert f'hx-get="/sensitive/unmask/{world.customer_a}/mobile/"' in html
    assert "data-unmask-show" in html


def test_strict_csp_no_inline_script_or_style(world: World, client: Client) -> None:
    add_portfolio(world.customer_a)
    html = open_360(client, "account_manager_a", world.customer_a).content.decode()

    assert " style=" not in html
    assert " onclick=" not in html
    inline_scripts = [chunk for chunk in html.split("<script")[1:] if "src=" not in chunk.split(">")[0]]
    assert all('type="application/json"' in chunk.split(">")[0] for chunk in inline_scripts)


def test_corporate_shows_its_name_and_its_group(world: World, client: Client) -> None:
    manager = World.user("account_manager_a")
    parent, child = corporate_group(manager)

    html = open_360(client, "account_manager_a", child.pk).content.decode()

    assert '<h1 class="page-title h2 mb-1" data-field="name">华信科技有限公司</h1>' in html
    assert 'data-list="group-tree"' in html
    assert "华信控股集团有限公司" in html  # in scope: named and linked
    assert f'href="/customers/{parent.pk}/"' in html
    assert "华信物流有限公司" not in html  # outside the manager's scope: masked
    assert "华*******" in html


def test_household_members_are_masked_and_in_scope_ones_linked(world: World, client: Client) -> None:
    add_portfolio(world.customer_a, size=2)

    html = open_360(client, "account_manager_a", world.customer_a).content.decode()

    assert 'data-testid="household"' in html
    for clear in ("王芳", "赵敏"):
        assert clear not in html
    for masked in ("王*", "赵*"):
        assert masked in html

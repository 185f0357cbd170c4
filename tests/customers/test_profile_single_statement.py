"""The 360 in one statement (PostgreSQL): the same payload as every section's own selector.

On PostgreSQL the 360 reads its sections with one prepared, JSON-aggregating statement after the
same scope check; with FINCRM_CUSTOMER_360_SINGLE_STATEMENT off every section asks its selector
(the path SQLite always takes). Both must give an integrator and a banker exactly the same thing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fincrm.audit.models import SecurityEvent
from fincrm.customers.models import Customer
from fincrm.customers.selectors.profile import (
    Customer360,
    GroupFigure,
    customer_360,
    prefetch_sections,
    single_statement_enabled,
)
from fincrm.customers.selectors.relationships import group_tree
from fincrm.customers.services.profile import customer_update
from fincrm.platform.errors import NotFound
from fincrm.privacy import services as privacy
from fincrm.users.models import Role, RoleAssignment
from tests.customers.factories import CustomerFactory
from tests.customers.profile_support import actor_of, add_portfolio
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement read is PostgreSQL's"),
]


def _fill(customer_id: int) -> None:
    """Everything a 360 shows, several of each: a portfolio, relatives, a household, tags,
    consents given and withdrawn, and change history in the audit log."""
    add_portfolio(customer_id, size=3)
    manager = actor_of("account_manager_a")
    sms = privacy.consent_record(
        actor=manager, customer_id=customer_id, purpose_code="marketing", channel="sms", source="branch"
    )
    privacy.consent_record(
        actor=manager, customer_id=customer_id, purpose_code="marketing", channel="email", source="online"
    )
    privacy.consent_withdraw(actor=manager, customer_id=customer_id, consent_id=sms.pk)
    customer_update(
        actor=manager, customer_id=customer_id, data={"mobile": "+86 139 1111 2222", "occupation": "Teacher"}
    )


# Not sections: the row itself, and the consent rows only the one statement hands to the page's panel.
_NOT_SECTIONS = ("customer", "consents_read")


def _sections(profile: Customer360) -> dict[str, Any]:
    return {
        name: getattr(profile, name) for name in Customer360.__dataclass_fields__ if name not in _NOT_SECTIONS
    }


def _values(instance: Any) -> dict[str, Any]:
    """Every concrete field as read through the model (identifiers decrypted)."""
    return {field.name: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def _customer(profile: Customer360) -> dict[str, Any]:
    """The customer row the page renders from, with the related rows it reads."""
    customer = profile.customer
    return {
        "customer": _values(customer),
        **{
            name: None if getattr(customer, name) is None else _values(getattr(customer, name))
            for name in ("org_unit", "primary_manager", "covering_team")
        },
    }


def test_both_reads_give_the_same_360(world: World, settings: Any) -> None:
    _fill(world.customer_a)
    actor = actor_of("account_manager_a")
    assert single_statement_enabled()
    single = customer_360(actor, world.customer_a)

    settings.FINCRM_CUSTOMER_360_SINGLE_STATEMENT = False
    assert not single_statement_enabled()
    per_section = customer_360(actor, world.customer_a)

    assert _sections(single) == _sections(per_section)
    # The customer itself comes with the sections (the scope check reads only its id).
    assert _customer(single) == _customer(per_section)
    assert _customer(single)["covering_team"] is not None
    # Not vacuous: every section has rows.
    assert len(single.accounts.rows) == len(single.holdings.rows) == len(single.transactions.rows) == 3
    assert len(single.tags) == 3
    assert len(single.coverage.secondary) == 2
    assert len(single.aum.points) == 12
    assert single.aum.household is not None
    assert single.history
    assert single.lifecycle_history
    assert single.coverage_history
    assert {row.channel.code for row in single.consents.rows if row.given} == {"email"}
    assert single.relationships
    assert single.household is not None
    assert [row.source for row in single.accounts.rows] == [row.source for row in per_section.accounts.rows]


def test_both_reads_give_the_same_api_payload(world: World, client: Client, settings: Any) -> None:
    _fill(world.customer_a)
    sign_in(client, World.user("account_manager_a"))
    url = f"/api/v1/customers/{world.customer_a}/360"
    single = client.get(url)
    settings.FINCRM_CUSTOMER_360_SINGLE_STATEMENT = False
    per_section = client.get(url)

    assert single.status_code == per_section.status_code == 200
    assert single.json() == per_section.json()
    assert single.json()["accounts"]["rows"][0]["number"].startswith("尾号")


def test_without_a_prepared_statement_the_same(world: World, settings: Any) -> None:
    _fill(world.customer_a)
    actor = actor_of("account_manager_a")
    prepared = customer_360(actor, world.customer_a)
    settings.FINCRM_PREPARED_STATEMENTS = False

    with CaptureQueriesContext(connection) as queries:
        plain = customer_360(actor, world.customer_a)

    assert _sections(prepared) == _sections(plain)
    assert not any("EXECUTE" in query["sql"] for query in queries.captured_queries)


def test_a_customer_with_nothing_yet(world: World, settings: Any) -> None:
    """No portfolio, no relatives, no household: empty sections, not missing ones."""
    actor = actor_of("account_manager_a")
    single = customer_360(actor, world.customer_a)
    settings.FINCRM_CUSTOMER_360_SINGLE_STATEMENT = False

    assert _sections(single) == _sections(customer_360(actor, world.customer_a))
    assert single.accounts.available
    assert single.accounts.rows == []
    assert single.relationships == []
    assert single.household is None


def test_outside_the_scope_the_statement_reads_nothing(world: World) -> None:
    """The statement checks the scope itself: for a customer outside it, or a missing one, it
    returns no row (so no section of that customer leaves the database) and the 360 is the same
    not-found, with the denial recorded."""
    manager = actor_of("account_manager_a")
    assert prefetch_sections(manager, world.customer_b) is None
    assert prefetch_sections(manager, 10**12) is None
    # Not vacuous: the same customer is read for an actor whose scope reaches it, and so is a
    # customer in the manager's own scope, through the same session's prepared statements.
    assert prefetch_sections(actor_of("risk_officer_a"), world.customer_b) is not None
    assert prefetch_sections(manager, world.customer_a) is not None

    with CaptureQueriesContext(connection) as queries, pytest.raises(NotFound):
        customer_360(manager, world.customer_b)

    assert sum("EXECUTE" in query["sql"] for query in queries.captured_queries) == 1
    denied = SecurityEvent.objects.filter(kind="access.denied", user_id=manager.user_id).latest("id")
    assert denied.detail == {
        "action": "customer.view",
        "object_type": "customer",
        "object_id": str(world.customer_b),
    }


@pytest.mark.parametrize("customer_id", ["x", None, 2**63, -(2**63) - 1])
def test_an_id_that_is_not_a_customer_id_is_not_found(world: World, customer_id: object) -> None:
    with pytest.raises(NotFound):
        customer_360(actor_of("risk_officer_a"), customer_id)


def test_each_shape_of_scope_has_its_own_prepared_form(world: World) -> None:
    """Actors whose scopes differ in shape (own, team, subtree, institution) share one session:
    each reaches exactly the customers its scope reaches."""
    reaches = {
        username: [
            prefetch_sections(actor_of(username), pk) is not None
            for pk in (world.customer_a, world.customer_b)
        ]
        for username in ("account_manager_a", "team_lead_a", "branch_manager_a", "risk_officer_a", "peer_a")
    }
    assert reaches == {
        "account_manager_a": [True, False],
        "team_lead_a": [True, False],
        "branch_manager_a": [True, False],
        "risk_officer_a": [True, True],
        "peer_a": [False, False],
    }


def test_a_role_given_since_is_seen_at_once(world: World) -> None:
    """The scope is compiled once per actor value: an actor built after a role change (every
    request builds its own) reaches what the new role reaches, the earlier one still does not."""
    before = actor_of("peer_a")
    assert prefetch_sections(before, world.customer_a) is None

    RoleAssignment.objects.create(user=World.user("peer_a"), role=Role.objects.get(code="team_lead"))

    assert prefetch_sections(actor_of("peer_a"), world.customer_a) is not None
    assert prefetch_sections(before, world.customer_a) is None


def _group(world: World) -> dict[str, Any]:
    """A corporate group account_manager_a manages in part: 甲 on top, 乙 and a company
    of another branch under it, 丙 under 乙, and a restricted company (hidden, with its own
    subsidiary) under 乙."""

    def company(name: str, aum: str, parent: Any = None, *, outside: bool = False, **extra: Any) -> Any:
        return CustomerFactory(
            kind="corporate",
            name=name,
            aum=Decimal(aum),
            parent_company=parent,
            org_unit_id=world.sub_b1 if outside else world.sub_a1,
            primary_manager=None if outside else World.user("account_manager_a"),
            **extra,
        )

    top = company("甲集团", "1000.00")
    middle = company("乙公司", "200.00", top)
    leaf = company("丙公司", "30.00", middle)
    foreign = company("丁公司", "4.00", top, outside=True)
    restricted = company("戊公司", "500.00", middle, status="restricted")
    company("己公司", "60.00", restricted)
    return {"top": top, "middle": middle, "leaf": leaf, "foreign": foreign}


def test_a_company_reads_its_group_in_the_statement(world: World, settings: Any) -> None:
    """The group tree and the group's AUM come with the statement: a company in a group costs no
    more queries than an individual, and reads what the group selectors read."""
    group = _group(world)
    actor = actor_of("account_manager_a")
    customer_360(actor, world.customer_a)
    with CaptureQueriesContext(connection) as individual:
        customer_360(actor, world.customer_a)
    with CaptureQueriesContext(connection) as company:
        single = customer_360(actor, group["leaf"].pk)

    settings.FINCRM_CUSTOMER_360_SINGLE_STATEMENT = False
    per_section = customer_360(actor, group["leaf"].pk)

    assert len(company.captured_queries) == len(individual.captured_queries)
    assert _sections(single) == _sections(per_section)
    assert single.group_tree == group_tree(actor, group["leaf"].pk)
    nodes = [
        (node.party.name, node.depth, node.party.visible, node.is_current) for node in single.group_tree.nodes
    ]
    assert nodes == [
        ("甲集团", 0, True, False),
        ("丁**", 1, False, False),  # by name: 丁 sorts before 乙
        ("乙公司", 1, True, False),
        ("丙公司", 2, True, True),
    ]
    assert single.group_tree.truncated is False
    # The group's figure counts the company outside the scope, never the hidden one or its subsidiary.
    assert single.aum.group == GroupFigure(Decimal("1234.00"), 4)


def test_a_cycle_written_around_the_services_is_cut_off_alike(world: World, settings: Any) -> None:
    group = _group(world)
    Customer.objects.filter(pk=group["top"].pk).update(parent_company=group["leaf"])
    actor = actor_of("account_manager_a")
    single = customer_360(actor, group["middle"].pk)
    settings.FINCRM_CUSTOMER_360_SINGLE_STATEMENT = False

    assert _sections(single) == _sections(customer_360(actor, group["middle"].pk))
    assert single.group_tree.truncated is True
    # Up from 乙: 甲, then 丙, whose parent 乙 is already on the way: the walk stops at 丙.
    assert [node.party.name for node in single.group_tree.nodes] == ["丙公司", "甲集团", "丁**", "乙公司"]

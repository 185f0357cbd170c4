"""Search in a small scope (an account manager's book): every tier in one statement over the
scope's customers, finding what the tier-by-tier path finds, in the same order."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fincrm.customers.models import Customer, SecondaryManager
from fincrm.customers.selectors.search import customer_search
from fincrm.users.actors import actor_for_user
from tests.customers.factories import CustomerFactory
from tests.support.world import World

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def search(username: str, query: str, limit: int = 20) -> tuple[list[int], bool]:
    result = customer_search(actor=actor_for_user(World.user(username)), query=query, limit=limit)
    return [customer.pk for customer in result.customers], result.more


def statements(username: str, query: str) -> list[str]:
    actor = actor_for_user(World.user(username))
    with CaptureQueriesContext(connection) as captured:
        customer_search(actor=actor, query=query)
    return [query["sql"] for query in captured.captured_queries]


def walks_the_book(username: str, query: str) -> bool:
    return any("CASE WHEN" in sql for sql in statements(username, query))


@pytest.fixture
def book(world: World) -> dict[str, Customer]:
    """account_manager_a's customers (one as a secondary manager), team A1's customers of another
    manager, and hidden ones; names sharing a surname, a fragment and initials, AUMs mixed so that
    relevance and AUM disagree."""
    mine = World.user("account_manager_a")
    other = World.user("account_manager_b")
    rows = {
        # name: (AUM, primary manager, covering team)
        "张三": ("10", mine, world.team_a1),
        "张三丰": ("900", mine, world.team_a1),
        "王张三": ("5000", mine, world.team_a1),
        "张山": ("70", mine, world.team_a1),
        "章珊珊": ("3000", mine, world.team_a1),
        "赵三": ("40", mine, world.team_a1),
        "欧阳娜娜": ("20", mine, world.team_a1),
        "单田芳": ("30", mine, world.team_a1),
        "张三三": ("600", other, world.team_a1),  # team A1, not mine
        "张伞": ("800", other, world.team_b1),  # mine as a secondary manager only
        "李张三": ("700", other, world.team_b1),  # neither
    }
    made = {}
    for name, (aum, manager, team) in rows.items():
        made[name] = CustomerFactory(
            name=name,
            aum=Decimal(aum),
            primary_manager=manager,
            covering_team_id=team,
            org_unit_id=world.sub_a1 if team == world.team_a1 else world.sub_b1,
        )
    SecondaryManager.objects.create(customer=made["张伞"], user=mine)
    for status in ("merged", "restricted"):
        CustomerFactory(name="张三", aum=Decimal("99999"), status=status, primary_manager=mine)
    return made


QUERIES = ["张", "张三", "三", "张三丰", "三丰", "zs", "zhang", "zhangsan", "z", "oyn", "shan", "stf", "娜娜"]


def test_an_account_manager_searches_its_book_in_one_statement(book: dict[str, Customer]) -> None:
    sql = statements("account_manager_a", "zs")
    assert len(sql) == 2  # how many customers the scope reaches (at most PROBE + 1), then the search
    assert "CASE WHEN" in sql[1]


@pytest.mark.parametrize("username", ["account_manager_a", "team_lead_a", "branch_manager_a"])
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("limit", [2, 20])
def test_the_book_finds_what_the_tier_by_tier_path_finds(
    book: dict[str, Customer], settings: Any, username: str, query: str, limit: int
) -> None:
    assert walks_the_book(username, query)
    walked = search(username, query, limit)
    settings.FINCRM_SEARCH_SMALL_SCOPE = 0  # the same search, tier by tier
    assert not walks_the_book(username, query)
    assert search(username, query, limit) == walked


def test_relevance_first_then_aum(world: World, book: dict[str, Customer]) -> None:
    pk = {name: customer.pk for name, customer in book.items()}
    # The whole name by AUM (world.customer_a is account_manager_a's 张三 with no AUM), then names
    # starting with it, then names containing it; 张三三 (team A1) and 李张三 are not in the book.
    assert search("account_manager_a", "张三") == (
        [pk["张三"], world.customer_a, pk["张三丰"], pk["王张三"]],
        False,
    )
    # The exact initials by AUM (张伞 through the secondary manager), then longer ones by AUM.
    assert search("account_manager_a", "zs") == (
        [pk["张伞"], pk["张山"], pk["赵三"], pk["张三"], world.customer_a, pk["章珊珊"], pk["张三丰"]],
        False,
    )
    assert search("account_manager_a", "zs", limit=3) == ([pk["张伞"], pk["张山"], pk["赵三"]], True)


def test_hidden_and_out_of_scope_customers_are_not_found(world: World, book: dict[str, Customer]) -> None:
    found, _more = search("account_manager_a", "张三", limit=50)
    assert book["张三三"].pk not in found
    assert book["李张三"].pk not in found
    statuses = set(Customer.objects.filter(pk__in=found).values_list("status", flat=True))
    assert statuses == {"active"}
    assert search("account_manager_b", "单田芳") == ([], False)


def test_a_scope_over_the_bound_is_searched_tier_by_tier(book: dict[str, Customer], settings: Any) -> None:
    # Every customer account_manager_a manages, hidden ones included, and one as a secondary manager.
    reached = Customer.objects.filter(primary_manager__username="account_manager_a").count() + 1
    settings.FINCRM_SEARCH_SMALL_SCOPE = reached
    assert walks_the_book("account_manager_a", "zs")
    settings.FINCRM_SEARCH_SMALL_SCOPE = reached - 1
    assert not walks_the_book("account_manager_a", "zs")


def test_identifiers_and_the_institution_scope_keep_their_paths(book: dict[str, Customer]) -> None:
    assert not walks_the_book("account_manager_a", "+86 138-0013-8000")
    assert not walks_the_book("risk_officer_a", "zs")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_no_index_turns_the_books_prefix_probe_into_a_range(book: dict[str, Customer]) -> None:
    """The book's prefix tier probes each customer's own terms. From ``term LIKE 'zs%'`` PostgreSQL
    could derive a range of the terms' rank index (kind, term, rank, customer) and read all of it
    for every customer of the book, and it did whenever few pages were marked all-visible: an
    account manager's initials search took 155 ms instead of 10 at 1M customers. Here the
    (customer, kind, term) primary key is out of the way and sequential scans are discouraged, so
    the planner takes the rank index if it can make a range of it."""
    [book_statement] = [sql for sql in statements("account_manager_a", "zs") if "CASE WHEN" in sql]
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE customers_customersearchterm DROP CONSTRAINT customers_customersearchterm_pkey"
        )
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + book_statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "customer_search_term_rank" in plan  # the probes have only this index left
    assert "~>=~" not in plan, plan  # … and cannot read a range of it

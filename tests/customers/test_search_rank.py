"""Search read in AUM order from the rank index: the order, the rank following AUM, exact scope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fincrm.customers.models import Customer, CustomerSearchTerm
from fincrm.customers.search_terms import refresh_search_terms
from fincrm.customers.selectors import customer_queryset, scope_candidates
from fincrm.customers.selectors.search import customer_search
from fincrm.customers.services.merge import customers_merge
from fincrm.platform import jobs
from fincrm.platform.actor import Actor
from fincrm.portfolio import services as portfolio_services
from fincrm.users.actors import actor_for_user
from tests.customers.factories import CustomerFactory
from tests.portfolio.factories import AccountFactory, HoldingFactory
from tests.support.world import World

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 3, 31)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def search(username: str, query: str, limit: int = 20) -> list[int]:
    return [
        customer.pk for customer in customer_search(actor=actor(username), query=query, limit=limit).customers
    ]


def ranks(customer: Customer) -> set[Decimal]:
    return set(CustomerSearchTerm.objects.filter(customer=customer).values_list("rank", flat=True))


def uses_rank_index(username: str, query: str) -> bool:
    with CaptureQueriesContext(connection) as captured:
        customer_search(actor=actor(username), query=query)
    return any("rank" in query["sql"] for query in captured.captured_queries)


@pytest.fixture
def many(world: World) -> list[Customer]:
    """25 customers whose names share 柳 (surname), 如烟 (fragment) and lry (initials), AUM mixed,
    in two branches."""
    made = []
    for index in range(25):
        aum = Decimal((index * 7919) % 101) * 1000 + index  # distinct, not in creation order
        unit = world.sub_a1 if index % 2 else world.sub_b1
        made.append(CustomerFactory(name="柳如烟", aum=aum, org_unit_id=unit))
    return made


def by_aum(customers: list[Customer]) -> list[int]:
    return [c.pk for c in sorted(customers, key=lambda c: (c.aum, c.pk), reverse=True)]


@pytest.mark.parametrize("query", ["柳", "如烟", "lry", "liuruyan"])
def test_the_first_results_are_the_largest_aum(many: list[Customer], query: str) -> None:
    assert uses_rank_index("risk_officer_a", query)
    result = customer_search(actor=actor("risk_officer_a"), query=query, limit=10)
    assert [c.pk for c in result.customers] == by_aum(many)[:10]
    assert result.more is True


@pytest.mark.parametrize("query", ["柳", "如烟", "lry", "柳如烟", "张", "zs", "三", "zhang"])
def test_the_rank_index_finds_what_the_older_path_finds(many: list[Customer], settings, query: str) -> None:  # type: ignore[no-untyped-def]
    ranked = search("risk_officer_a", query, limit=5)
    settings.FINCRM_SEARCH_RANK_INDEX = False
    assert search("risk_officer_a", query, limit=5) == ranked


def test_ties_in_aum_go_by_customer_id_largest_first(world: World) -> None:
    made = [CustomerFactory(name="花满楼", aum=Decimal("500")) for _index in range(4)]
    assert search("risk_officer_a", "满楼", limit=3) == sorted((c.pk for c in made), reverse=True)[:3]


def test_a_customer_matching_pinyin_and_initials_is_listed_once(world: World) -> None:
    both = CustomerFactory(name="Lw Wang", aum=Decimal("10"))  # pinyin word "lw" and initials "lw"
    other = CustomerFactory(name="刘伟", aum=Decimal("20"))
    assert search("risk_officer_a", "lw") == [other.pk, both.pk]


def test_rank_is_the_aum_when_terms_are_written(world: World) -> None:
    customer = CustomerFactory(name="陆小凤", aum=Decimal("1234.56"))
    assert ranks(customer) == {Decimal("1234.56")}
    # A caller holding the customer without its AUM loaded: the rank is read from the table.
    refresh_search_terms(Customer.objects.filter(pk=customer.pk).only("pk", "name"))
    assert ranks(customer) == {Decimal("1234.56")}


def test_rank_follows_aum_after_aum_refresh(world: World) -> None:
    poor = CustomerFactory(name="西门吹雪", aum=Decimal("0"))
    rich = CustomerFactory(name="西门庆", aum=Decimal("900"))
    AccountFactory(customer=poor, balance=Decimal("5000.00"))
    assert search("risk_officer_a", "西门") == [rich.pk, poor.pk]

    portfolio_services.aum_refresh([poor.pk, rich.pk], as_of=AS_OF)

    assert ranks(poor) == {Decimal("5000.00")}
    assert ranks(rich) == {Decimal("0.00")}  # no assets: its AUM is 0 now
    assert search("risk_officer_a", "西门") == [poor.pk, rich.pk]
    assert search("risk_officer_a", "xm") == [poor.pk, rich.pk]


def test_hidden_customers_are_skipped_and_the_next_ones_found(many: list[Customer]) -> None:
    top = by_aum(many)
    Customer.objects.filter(pk__in=top[:3]).update(status="merged")
    Customer.objects.filter(pk=top[3]).update(status="restricted")
    assert search("risk_officer_a", "柳", limit=5) == top[4:9]


@pytest.mark.parametrize(
    "username", ["account_manager_a", "team_lead_a", "branch_manager_a", "operations_b", "risk_officer_a"]
)
@pytest.mark.parametrize("query", ["柳", "如烟", "lry"])
def test_scope_is_exact(many: list[Customer], username: str, query: str) -> None:
    """Whichever path an actor takes, the results are exactly the matches its scope reaches."""
    searcher = actor(username)
    found = set(search(username, query, limit=50))
    visible = set(
        customer_queryset(searcher).filter(pk__in=[c.pk for c in many]).values_list("pk", flat=True)
    )
    assert found == visible
    assert uses_rank_index(username, query) == (scope_candidates(searcher) is None)


def test_without_the_view_permission_the_rank_index_finds_nothing(many: list[Customer]) -> None:
    assert search("system_admin_a", "柳") == []


def test_after_a_merge_the_survivor_ranks_by_its_new_aum(world: World) -> None:
    survivor = CustomerFactory(name="王小明", aum=Decimal("0"))
    absorbed = CustomerFactory(name="王晓明", aum=Decimal("0"))
    richer = CustomerFactory(name="王晓明", aum=Decimal("3000"))
    AccountFactory(customer=absorbed, balance=Decimal("5000.00"))
    HoldingFactory(customer=absorbed, market_value=Decimal("2500.00"))

    customers_merge(
        actor=actor("operations_a"),
        survivor_id=survivor.pk,
        absorbed_id=absorbed.pk,
        field_choices={"name": "absorbed"},
        reason="same person, opened twice",
    )
    while jobs.run_one() is not None:  # the survivor's AUM refresh, queued by the merge
        pass

    survivor.refresh_from_db()
    assert survivor.aum == Decimal("7500.00")
    assert ranks(survivor) == {Decimal("7500.00")}
    assert search("risk_officer_a", "wxm") == [survivor.pk, richer.pk]


@pytest.fixture
def some_without_aum(world: World) -> list[Customer]:
    """13 customers named 司马青衫 (surname, fragment, initials smqs): seven with an AUM (one of them
    negative, an overdrawn deposit), six without, created in between."""
    aums = ["300", "0", "0", "1200", "-50", "0", "75", "0", "0", "9000", "0", "1200", "20"]
    return [CustomerFactory(name="司马青衫", aum=Decimal(aum)) for aum in aums]


@pytest.mark.parametrize("limit", [1, 4, 5, 6, 9, 12, 13, 20])
@pytest.mark.parametrize("query", ["司马", "青衫", "smqs", "simaqingshan"])
def test_customers_without_an_aum_come_between_the_positive_and_the_negative(
    some_without_aum: list[Customer], settings: Any, query: str, limit: int
) -> None:
    """Customers without an AUM (rank 0) and with a negative one (an overdrawn deposit) in their
    place in the rank index, wherever the limit cuts, on both paths."""
    assert uses_rank_index("risk_officer_a", query)
    expected = by_aum(some_without_aum)[:limit]
    assert search("risk_officer_a", query, limit=limit) == expected
    settings.FINCRM_SEARCH_RANK_INDEX = False
    assert search("risk_officer_a", query, limit=limit) == expected


def test_a_term_of_customers_without_an_aum_only(world: World) -> None:
    made = [CustomerFactory(name="独孤求败", aum=Decimal("0")) for _index in range(5)]
    assert search("risk_officer_a", "独孤", limit=3) == sorted((c.pk for c in made), reverse=True)[:3]
    Customer.objects.filter(pk=made[-1].pk).update(status="merged")  # hidden: the next one comes in
    assert search("risk_officer_a", "独孤", limit=3) == sorted((c.pk for c in made[:-1]), reverse=True)[:3]

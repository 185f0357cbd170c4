"""The search selector: what each kind of input finds, in what order, within the actor's scope."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.cache import cache

from fincrm.audit import deferred
from fincrm.audit.models import AuditEvent
from fincrm.customers.models import CustomerSearchTerm, IdentityDocument
from fincrm.customers.search_terms import name_pinyin, refresh_search_terms, terms_for_name
from fincrm.customers.selectors import customer_queryset, scope_candidates
from fincrm.customers.selectors.search import QueryKind, classify_query, customer_search
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.users.actors import actor_for_user
from tests.customers.factories import CustomerFactory
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def names(username: str, query: str) -> list[str]:
    return [customer.name for customer in customer_search(actor=actor(username), query=query).customers]


def numbers(username: str, query: str) -> list[str]:
    return [
        customer.customer_number for customer in customer_search(actor=actor(username), query=query).customers
    ]


# ---------------------------------------------------------------- terms


def test_heteronym_surnames_are_read_as_surnames() -> None:
    assert name_pinyin("单田芳") == "shantianfang"
    assert name_pinyin("曾国藩") == "zengguofan"
    assert name_pinyin("解晓东") == "xiexiaodong"
    assert name_pinyin("仇英") == "qiuying"
    assert name_pinyin("单于大") == "chanyuda"  # 单于 is a compound surname
    assert ("i", "stf") in terms_for_name("单田芳")


def test_compound_surname_initials() -> None:
    terms = terms_for_name("欧阳娜娜")
    assert ("i", "oynn") in terms
    assert ("p", "ouyangnana") in terms
    assert ("s", "欧阳") in terms


def test_terms_of_a_name() -> None:
    assert terms_for_name("张三丰") == {
        ("c", "三"), ("c", "丰"), ("c", "三丰"),
        ("s", "张"), ("s", "张三"), ("p", "zhangsanfeng"), ("i", "zsf"),
    }  # fmt: skip
    # What starts the name is an "s" term only, even where it comes again later.
    assert terms_for_name("张三张") == {
        ("c", "三"), ("c", "三张"), ("s", "张"), ("s", "张三"), ("p", "zhangsanzhang"), ("i", "zsz"),
    }  # fmt: skip
    assert terms_for_name("  ") == set()
    assert ("p", "smith") in terms_for_name("John Smith")
    assert ("i", "js") in terms_for_name("John Smith")


def test_a_given_name_with_a_heteronym_is_read_as_a_phrase() -> None:
    assert name_pinyin("张长江") == "zhangchangjiang"


# ---------------------------------------------------------------- reading the box


@pytest.mark.parametrize(
    ("typed", "kinds", "text"),
    [
        ("张", (QueryKind.NAME,), "张"),
        (" 张 三 ", (QueryKind.NAME,), "张三"),
        ("ZS", (QueryKind.PINYIN,), "zs"),
        ("zhang san", (QueryKind.PINYIN,), "zhangsan"),
        ("lü", (QueryKind.PINYIN,), "lv"),
        ("+86 138-0013-8000", (QueryKind.MOBILE, QueryKind.CUSTOMER_NUMBER), "+8613800138000"),
        ("11010519491231002x", (QueryKind.ID_NUMBER, QueryKind.CUSTOMER_NUMBER), "11010519491231002X"),
        ("W-A", (QueryKind.CUSTOMER_NUMBER,), "W-A"),
        ("zhang.san@example.com", (QueryKind.EMAIL,), "zhang.san@example.com"),
    ],
)
def test_classify(typed: str, kinds: tuple[QueryKind, ...], text: str) -> None:
    read = classify_query(typed)
    assert read.kinds == kinds
    assert read.text == text


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "search_empty"),
        ("   ", "search_empty"),
        ("x" * 65, "search_too_long"),
        ("?!", "search_unreadable"),
    ],
)
def test_unreadable_input_is_a_field_error(typed: str, code: str) -> None:
    with pytest.raises(ServiceError) as caught:
        classify_query(typed)
    assert caught.value.code == code
    assert list(caught.value.fields) == ["q"]


# ---------------------------------------------------------------- names and pinyin


@pytest.fixture
def people(world: World) -> dict[str, int]:
    rows = {
        "张三": Decimal("100"),
        "张三丰": Decimal("900"),
        "王张三": Decimal("5000"),
        "单田芳": Decimal("10"),
        "欧阳娜娜": Decimal("10"),
        "李三丰": Decimal("50"),
        "赵敏": Decimal("70"),
    }
    made = {}
    for name, aum in rows.items():
        customer = CustomerFactory(name=name, aum=aum, org_unit_id=world.sub_a1)
        made[name] = customer.pk
    return made


def test_single_character_ranks_names_starting_with_it_first(people: dict[str, int]) -> None:
    # Exact name, then names starting with 张 by AUM (world.customer_a is 张三 too), then the others.
    found = names("risk_officer_a", "张")
    assert found[:1] == ["张三丰"]
    assert found[-1] == "王张三"
    assert set(found) == {"张三", "张三丰", "王张三"}


def test_whole_name_first(people: dict[str, int]) -> None:
    found = names("risk_officer_a", "张三")
    assert found[0] == "张三"
    assert found[-1] == "王张三"
    assert "张三丰" in found


def test_middle_fragment(people: dict[str, int]) -> None:
    assert names("risk_officer_a", "三丰") == ["张三丰", "李三丰"]
    assert names("risk_officer_a", "田") == ["单田芳"]


def test_longer_text_needs_every_pair_in_order(people: dict[str, int]) -> None:
    assert names("risk_officer_a", "张三丰") == ["张三丰"]
    assert names("risk_officer_a", "王张三") == ["王张三"]
    assert names("risk_officer_a", "三张王") == []


@pytest.mark.parametrize("username", ["risk_officer_a", "branch_manager_a"])
@pytest.mark.parametrize("small_scope", [2000, 0])
def test_a_fragment_at_the_start_and_again_later(
    world: World, settings, username: str, small_scope: int
) -> None:  # type: ignore[no-untyped-def]
    # A fragment that starts a name is stored once, as the start of the name: the name still
    # contains it, on every path (rank index, tier by tier, one statement over a small scope).
    settings.FINCRM_SEARCH_SMALL_SCOPE = small_scope
    for name, aum in (("三丰张三丰", "10"), ("张三张", "20"), ("丰三丰", "30")):
        CustomerFactory(name=name, aum=Decimal(aum), org_unit_id=world.sub_a1)
    assert names(username, "张三丰") == ["三丰张三丰"]
    assert names(username, "三丰") == ["三丰张三丰", "丰三丰"]
    assert names(username, "张三") == ["张三", "张三张", "三丰张三丰"]  # the whole name, starts, contains
    found = names(username, "张")
    assert set(found[:2]) == {"张三", "张三张"}
    assert found[2:] == ["三丰张三丰"]
    assert names(username, "丰") == ["丰三丰", "三丰张三丰"]


def test_pinyin_and_initials(people: dict[str, int]) -> None:
    assert names("risk_officer_a", "stf") == ["单田芳"]
    assert names("risk_officer_a", "shantianfang") == ["单田芳"]
    assert names("risk_officer_a", "shan") == ["单田芳"]
    assert names("risk_officer_a", "oyn") == ["欧阳娜娜"]
    assert names("risk_officer_a", "OuYang") == ["欧阳娜娜"]
    # Exact initials before longer ones: zs (张三 x2) before zsf (张三丰, larger AUM).
    found = names("risk_officer_a", "zs")
    assert found[-1] == "张三丰"
    assert set(found) == {"张三", "张三丰"}


def test_only_the_first_results_and_a_more_flag(world: World) -> None:
    for index in range(23):
        CustomerFactory(name="柳如烟", aum=Decimal(index))
    result = customer_search(actor=actor("risk_officer_a"), query="柳", limit=20)
    assert len(result.customers) == 20
    assert result.more is True
    assert [c.aum for c in result.customers] == sorted((c.aum for c in result.customers), reverse=True)
    assert customer_search(actor=actor("risk_officer_a"), query="柳", limit=30).more is False


def test_hidden_statuses_are_not_found(world: World) -> None:
    CustomerFactory(name="石破天", status="merged")
    assert names("risk_officer_a", "石破天") == []


# ---------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    "typed", ["+86 138-0013-8000", "13800138000", "0086 13800138000", "(+86) 138 0013 8000"]
)
def test_mobile_in_any_written_form(world: World, typed: str) -> None:
    assert numbers("risk_officer_a", typed) == ["W-A"]


def test_id_number_with_lower_case_x(world: World) -> None:
    assert numbers("risk_officer_a", "11010519491231002x") == ["W-A"]
    assert numbers("risk_officer_a", "110105 19491231 002X") == ["W-A"]


def test_further_identity_documents_are_searched(world: World) -> None:
    IdentityDocument.objects.create(customer_id=world.customer_b, id_type="passport", id_number="E12345678")
    assert numbers("risk_officer_a", "e12345678") == ["W-B"]


def test_customer_number(world: World) -> None:
    assert numbers("risk_officer_a", "W-A") == ["W-A"]
    assert numbers("risk_officer_a", "w-b") == ["W-B"]


def test_account_numbers_are_skipped_until_the_portfolio_has_accounts(world: World) -> None:
    read = classify_query("6217000010001234567")
    assert QueryKind.CUSTOMER_NUMBER in read.kinds
    customer_search(actor=actor("risk_officer_a"), query="6217000010001234567")  # no error


def test_an_identifier_search_is_audited_without_the_value(world: World) -> None:
    before = AuditEvent.objects.filter(action="customer.searched").count()
    customer_search(actor=actor("risk_officer_a"), query="+86 138-0013-8000")
    events = list(AuditEvent.objects.filter(action="customer.searched").order_by("pk"))[before:]
    assert len(events) == 1
    event = events[0]
    assert event.after == {"kinds": ["mobile"], "found": 1}
    assert event.object_id == str(world.customer_a)
    stored = f"{event.before} {event.after} {event.reason} {event.object_id}"
    assert "13800138000" not in stored
    assert "0013" not in stored


def test_an_identifier_search_event_waits_for_the_batch_writer(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like opening a 360, the search does not take the audit chain's lock: its event is taken at
    once and written with the batch (fincrm.audit.deferred), the same event."""
    writer = deferred.BatchWriter(delay=60)
    monkeypatch.setattr(writer, "_start", lambda: None)  # no thread: the test flushes
    monkeypatch.setattr(deferred, "_writer", writer)
    before = AuditEvent.objects.filter(action="customer.searched").count()

    customer_search(actor=actor("risk_officer_a"), query="+86 138-0013-8000")

    assert AuditEvent.objects.filter(action="customer.searched").count() == before
    assert writer.pending() == 1
    assert writer.flush() == 1
    event = AuditEvent.objects.filter(action="customer.searched").latest("sequence")
    assert event.after == {"kinds": ["mobile"], "found": 1}
    assert event.object_id == str(world.customer_a)


def test_a_name_search_is_not_audited(world: World) -> None:
    before = AuditEvent.objects.filter(action="customer.searched").count()
    customer_search(actor=actor("risk_officer_a"), query="张")
    assert AuditEvent.objects.filter(action="customer.searched").count() == before


def test_identifier_searches_are_rate_limited(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.FINCRM_IDENTIFIER_SEARCHES_PER_MINUTE = 2
    searcher = actor("risk_officer_a")
    customer_search(actor=searcher, query="13800138000")
    customer_search(actor=searcher, query="13800138001")
    with pytest.raises(ServiceError) as caught:
        customer_search(actor=searcher, query="13800138002")
    assert caught.value.status == 429
    customer_search(actor=searcher, query="张")  # names are not limited


# ---------------------------------------------------------------- scope


@pytest.mark.parametrize(
    "typed", ["张三", "张", "三", "zs", "zhangsan", "+86 138-0013-8000", "11010519491231002x", "W-A"]
)
def test_out_of_scope_is_never_found(world: World, typed: str) -> None:
    assert world.customer_a not in [
        c.pk for c in customer_search(actor=actor("account_manager_b"), query=typed).customers
    ]
    assert world.customer_a in [
        c.pk for c in customer_search(actor=actor("account_manager_a"), query=typed).customers
    ]


def test_without_the_view_permission_nothing_is_found(world: World) -> None:
    assert customer_search(actor=actor("system_admin_a"), query="张三").customers == []


@pytest.mark.parametrize(
    "username",
    [
        "account_manager_a",
        "account_manager_b",
        "team_lead_a",
        "team_lead_b",
        "branch_manager_a",
        "operations_b",
    ],
)
def test_scope_candidates_cover_the_scope(world: World, username: str) -> None:
    """The narrowing for own and team scopes never drops a customer the scope reaches."""
    searcher = actor(username)
    CustomerFactory(name="周芷若", org_unit_id=world.sub_b1, covering_team_id=world.team_a1)
    candidates = scope_candidates(searcher)
    assert candidates is not None
    visible = set(customer_queryset(searcher).values_list("pk", flat=True))
    assert visible
    assert (
        visible <= {row["pk"] for row in candidates.values("pk")} if hasattr(candidates, "values") else True
    )
    assert visible <= set(customer_queryset(searcher).filter(pk__in=candidates).values_list("pk", flat=True))


def test_scope_candidates_are_not_used_for_the_institution_scope(world: World) -> None:
    assert scope_candidates(actor("risk_officer_a")) is None
    assert scope_candidates(actor("system_admin_a")) is None


def test_refresh_replaces_terms(world: World) -> None:
    customer = CustomerFactory(name="张无忌")
    customer.name = "赵敏"
    refresh_search_terms([customer])
    terms = set(CustomerSearchTerm.objects.filter(customer=customer).values_list("kind", "term"))
    assert terms == terms_for_name("赵敏")


def test_deleting_a_customer_deletes_its_terms(world: World) -> None:
    # The terms keep their customer's id without a database foreign key: the ORM's cascade is
    # what removes them, and a term left behind would name an id a later customer may never get.
    customer = CustomerFactory(name="张无忌")
    kept = CustomerFactory(name="张三丰")
    assert CustomerSearchTerm.objects.filter(customer=customer).exists()
    customer.delete()
    assert not CustomerSearchTerm.objects.filter(customer_id=customer.pk).exists()
    assert set(
        CustomerSearchTerm.objects.filter(customer=kept).values_list("kind", "term")
    ) == terms_for_name("张三丰")

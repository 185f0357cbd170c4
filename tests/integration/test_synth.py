"""fincrm synth on SQLite (N=200): deterministic, valid identifiers, AUM by the DOMAIN.md formula,
search terms, scoping for a generated manager, and the bulk helpers equal to the real fields."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction as django_transaction
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent
from fincrm.customers.identity import check_mobile, check_resident_id, check_uscc
from fincrm.customers.models import Customer, CustomerSearchTerm, HouseholdMember
from fincrm.customers.search_terms import name_pinyin, terms_for_name
from fincrm.customers.selectors import access_customer, customer_queryset
from fincrm.integration import synth, synth_rows
from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound
from fincrm.portfolio import services as portfolio_services
from fincrm.portfolio.models import AumSnapshot, Transaction
from fincrm.security.fields import blind_index
from fincrm.users.actors import actor_for_user
from fincrm.users.models import User

pytestmark = pytest.mark.django_db

N = 200
PER_CUSTOMER = 5


def load(seed: int) -> synth.SynthResult:
    return synth.synth_load(actor=Actor.cli(), customers=N, seed=seed, transactions_per_customer=PER_CUSTOMER)


@pytest.fixture
def bank() -> synth.SynthResult:
    return load(11)


def customers(result: synth.SynthResult) -> list[Customer]:
    low = result.first_customer_id
    return list(Customer.objects.filter(pk__gte=low, pk__lt=low + N).order_by("pk"))


def test_same_seed_gives_the_same_bank() -> None:
    digests = []
    for seed in (11, 11, 12):
        with django_transaction.atomic():
            result = load(seed)
            digests.append(synth.digest(result.first_customer_id, N))
            django_transaction.set_rollback(True)
    assert digests[0] == digests[1]
    assert digests[0]["customers"] != digests[2]["customers"]
    assert digests[0]["transactions"] != digests[2]["transactions"]


def test_rows_and_structure(bank: synth.SynthResult) -> None:
    rows = customers(bank)
    assert len(rows) == N
    kinds = Counter(customer.kind for customer in rows)
    assert kinds["corporate"] == N // 20
    assert bank.rows["portfolio_transaction"] == Transaction.objects.count() == N * PER_CUSTOMER
    assert bank.rows["customers_customer"] == N
    # Corporate groups: subsidiaries point at their holding company, itself a corporate.
    subsidiaries = [customer for customer in rows if customer.parent_company_id]
    assert subsidiaries
    assert all(
        customer.kind == "corporate" and customer.parent_company.kind == "corporate"
        for customer in subsidiaries
    )
    # Households of two or three individuals, each with one head.
    members = HouseholdMember.objects.filter(customer__in=rows)
    by_household = Counter(member.household_id for member in members)
    assert by_household
    assert all(2 <= size <= 3 for size in by_household.values())
    assert members.filter(role="head").count() == len(by_household)
    # About one account manager per 800 customers (at least 4); staff went through the services.
    managers = User.objects.filter(username__startswith="sy_am")
    assert managers.count() == 4
    assert not managers.first().has_usable_password()
    assert AuditEvent.objects.filter(action="user.created", object_id=str(managers.first().pk)).exists()
    # One batch event per table, not one per customer.
    batch = AuditEvent.objects.filter(action="integration.synth.loaded")
    assert batch.filter(object_type="customers_customer").count() == 1
    assert not AuditEvent.objects.filter(action="customer.created").exists()


def test_every_identifier_is_valid_and_unique(bank: synth.SynthResult) -> None:
    rows = customers(bank)
    ids, mobiles = set(), set()
    for customer in rows:
        if customer.kind == "individual":
            checked = check_resident_id(customer.id_number)
            assert checked.ok, (customer.customer_number, customer.id_number)
            assert checked.birth_date == customer.birth_date
            assert check_mobile(customer.mobile).ok
            assert customer.mobile_bidx == blind_index(customer.mobile, "mobile")
            mobiles.add(customer.mobile)
        else:
            assert customer.id_type == "uscc"
            assert check_uscc(customer.id_number).ok, customer.id_number
        assert customer.id_number_bidx == blind_index(customer.id_number, "id_number")
        ids.add(customer.id_number)
    assert len(ids) == N
    assert len(mobiles) == N - N // 20


def test_aum_and_snapshots_follow_the_formula(bank: synth.SynthResult) -> None:
    today = portfolio_services.business_date()
    rows = customers(bank)
    assert any(customer.aum > 0 for customer in rows)
    for customer in rows:
        assert customer.aum == synth.expected_aum(customer.pk, today), customer.customer_number
        assert customer.value_tier == portfolio_services.value_tier_for(customer.aum)
    month_ends = portfolio_services.month_ends(portfolio_services.previous_month_end(today), 12)
    snapshots = AumSnapshot.objects.filter(customer__in=rows)
    assert snapshots.count() == N * 12
    for snapshot in snapshots.filter(customer__in=rows[:40], month_end__in=month_ends[::4]):
        assert snapshot.total == synth.expected_aum(snapshot.customer_id, snapshot.month_end)


def test_search_terms_are_those_of_the_names(bank: synth.SynthResult) -> None:
    rows = customers(bank)
    terms: dict[int, set[tuple[str, str]]] = {}
    for customer_id, kind, term in CustomerSearchTerm.objects.filter(customer__in=rows).values_list(
        "customer_id", "kind", "term"
    ):
        terms.setdefault(customer_id, set()).add((kind, term))
    for customer in rows:
        assert terms[customer.pk] == terms_for_name(customer.name), customer.name
        assert customer.name_pinyin == name_pinyin(customer.name)


def test_a_generated_manager_sees_only_their_book(bank: synth.SynthResult) -> None:
    manager = User.objects.select_related("org_unit").get(username="sy_am00001")
    actor = actor_for_user(manager)
    visible = set(customer_queryset(actor, "customer.view").values_list("pk", flat=True))
    own = {customer.pk for customer in customers(bank) if customer.primary_manager_id == manager.pk}
    assert own
    assert visible == own
    other = next(customer for customer in customers(bank) if customer.primary_manager_id != manager.pk)
    with pytest.raises(NotFound):
        access_customer(actor, other.pk, "customer.view")


@override_settings(DEBUG=True)
def test_the_command_prints_the_phases() -> None:
    out = StringIO()
    call_command("synth", "--customers", "40", "--seed", "3", "--transactions-per-customer", "2", stdout=out)
    text = out.getvalue()
    assert "transactions" in text
    assert "total" in text
    assert Customer.objects.filter(customer_number__startswith="SY").count() == 40


def test_the_command_refuses_without_debug() -> None:
    with pytest.raises(Exception, match="DEBUG"):
        call_command("synth", "--customers", "10", stdout=StringIO())


# ---------------------------------------------------------------- the fast paths equal the real ones


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fast_name_terms_equal_terms_for_name(seed: int) -> None:
    name = synth_rows.person_name(random.Random(seed))
    pinyin, terms = synth_rows.name_terms(name)
    assert set(terms) == terms_for_name(name)
    assert pinyin == name_pinyin(name)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=24_999_999), st.integers(min_value=0, max_value=10**6))
def test_generated_identifiers_are_valid(n: int, seed: int) -> None:
    assert check_resident_id(synth_rows.resident_id(n, "440305"), today=date(2026, 1, 1)).ok
    assert check_mobile(synth_rows.mobile_number(n, seed)).ok


def test_identifiers_are_unique_per_customer() -> None:
    numbers = [synth_rows.resident_id(n, "110105") for n in range(0, 2_000_000, 37)]
    mobiles = [synth_rows.mobile_number(n, 5) for n in range(0, 2_000_000, 37)]
    assert len(set(numbers)) == len(numbers)
    assert len(set(mobiles)) == len(mobiles)


def test_bulk_sealer_equals_the_fields(bank: synth.SynthResult) -> None:
    keys = synth._keys()
    sealer = synth_rows.Sealer(keys)
    for value, purpose in (
        ("11010519491231002X", "id_number"),
        ("+8613800138000", "mobile"),
        ("6217000000000000012", "account_number"),
    ):
        assert sealer.index(value, purpose) == blind_index(value, purpose)
    uid = synth_rows.row_uid()
    field = Customer._meta.get_field("id_number")
    assert field.decrypt_for(uid, sealer.seal("customers_customer", "id_number", uid, "x")) == "x"


def test_transactions_have_seasonality_and_aml_patterns() -> None:
    today = date(2026, 6, 15)
    midnight = datetime(2026, 6, 15, tzinfo=UTC)
    days, hours = synth_rows.day_slots(today), synth_rows.hour_slots()
    rows = [
        row
        for account_id in range(4000)
        for row in synth_rows.transaction_rows(
            synth_rows.TransactionAccount(account_id, account_id, "deposit", "CNY", 0, 1, account_id),
            20,
            9,
            midnight,
            days,
            hours,
        )
    ]
    assert len(rows) == 80_000
    cash = [row for row in rows if row["transaction_type"] == "cash"]
    above = [row for row in cash if 50_000 <= row["amount"] < 51_000 and row["channel"] == "counter"]
    below = [row for row in cash if 45_000 <= row["amount"] < 50_000]
    assert 0.001 < len(above) / len(rows) < 0.01
    assert below
    # Structuring: one customer's three deposits below the threshold on one day add up above it.
    by_day = Counter((row["customer_id"], row["booked_at"].date()) for row in below)
    assert max(by_day.values()) >= 3
    # More on salary days (10th and 15th) than on an ordinary weekday, fewer at night than by day.
    per_day = Counter(row["booked_at"].day for row in rows)
    assert per_day[15] > per_day[20]
    hour_counts = Counter(row["booked_at"].hour for row in rows)
    assert hour_counts[10] > 5 * hour_counts[3]

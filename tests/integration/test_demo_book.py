"""The demo book of business (fincrm demo-data), loaded at a small scale onto the test world."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from stdnum.cn import ric, uscc

from fincrm.audit.models import AuditEvent
from fincrm.customers.identity import resident_id_check_character
from fincrm.customers.models import Customer, CustomerSearchTerm, HouseholdMember
from fincrm.integration import demo
from fincrm.org.models import OrgUnit, Team
from fincrm.platform.actor import Actor
from fincrm.portfolio.models import Account, AumSnapshot, Holding, Transaction
from fincrm.security.fields import blind_index
from tests.support.world import World


@pytest.fixture
def small_book(world: World, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(demo, "INDIVIDUALS", 120)
    monkeypatch.setattr(demo, "CORPORATES", 12)
    monkeypatch.setattr(demo, "HOUSEHOLDS", 6)
    units, teams, managers = {}, {}, {}
    for index, code in enumerate(sorted(demo.REGIONS)):
        side = "a" if index % 2 == 0 else "b"
        units[code] = OrgUnit.objects.get(code=f"SB-{side.upper()}1")
        teams[f"T-{code}"] = Team.objects.get(code=f"T-{side.upper()}1")
        managers[code] = [World.user(f"account_manager_{side}")]
    return demo.load_demo_book(Actor.cli(), units, teams, managers)


def test_demo_customers_have_valid_identifiers(small_book: int) -> None:
    customers = list(Customer.objects.filter(customer_number__startswith="D").order_by("customer_number"))
    assert small_book == len(customers) == 132
    individuals = [customer for customer in customers if customer.kind == "individual"]
    corporates = [customer for customer in customers if customer.kind == "corporate"]
    assert len(individuals) == 120
    assert len(corporates) == 12
    assert all(ric.calc_check_digit(customer.id_number) == customer.id_number[-1] for customer in individuals)
    assert all(uscc.is_valid(customer.id_number) for customer in corporates)
    assert all(customer.mobile.startswith("+861") and len(customer.mobile) == 14 for customer in individuals)
    assert CustomerSearchTerm.objects.filter(customer__in=customers).exists()
    assert Customer.objects.filter(parent_company=corporates[0]).count() == 3
    assert (
        HouseholdMember.objects.filter(customer__in=individuals).values("household").distinct().count() == 6
    )


def test_demo_portfolio_and_aum(small_book: int) -> None:
    today = timezone.localdate()
    assert Account.objects.filter(kind="deposit").count() >= small_book
    card = Account.objects.filter(kind="credit_card").first()
    assert card is not None
    assert card.account_number is None
    assert len(card.card_first6) == 6
    assert Holding.objects.filter(maturity_date__lte=today + timedelta(days=90)).exists()
    assert Transaction.objects.filter(booked_at__gte=timezone.now() - timedelta(days=366)).count() == (
        Transaction.objects.count()
    )
    assert Customer.objects.filter(customer_number__startswith="D", aum__gt=0).count() == small_book
    assert AumSnapshot.objects.count() == small_book * 12
    deposit = Account.objects.filter(kind="deposit").first()
    assert deposit is not None
    assert (
        Account.objects.get(account_number_bidx=blind_index(deposit.account_number, "account_number"))
        == deposit
    )


def test_demo_writes_are_audited(small_book: int) -> None:
    assert AuditEvent.objects.filter(action="customer.created").count() == small_book
    loaded = set(
        AuditEvent.objects.filter(action="portfolio.batch.loaded").values_list("object_type", flat=True)
    )
    assert loaded >= {"customers.customer", "portfolio.account", "portfolio.holding", "portfolio.transaction"}
    event = AuditEvent.objects.filter(action="customer.created").first()
    assert event is not None
    assert "*" in event.after["id_number"]
    assert "*" in event.after["name"]


def test_check_characters() -> None:
    assert resident_id_check_character("11010519491231002") == "X"
    assert demo.uscc_for("350100", 12345678)[-1] == uscc.calc_check_digit(
        demo.uscc_for("350100", 12345678)[:-1]
    )
    assert uscc.is_valid(demo.uscc_for("440305", 10000001))

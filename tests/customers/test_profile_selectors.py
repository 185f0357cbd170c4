"""The 360's pure parts: risk flags, masked change history, the AUM mix, the read event's writer."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.http import HttpResponse
from hypothesis import given
from hypothesis import strategies as st

from fincrm.customers.models import Customer, CustomerStatus
from fincrm.customers.selectors import profile as selectors
from fincrm.customers.selectors.profile import (
    Aum,
    AumPoint,
    Choice,
    field_changes,
    record_opened_after,
    risk_flags,
)
from fincrm.platform.actor import Actor
from tests.customers.factories import resident_id
from tests.support.english import english

__all__ = ["english"]

dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
optional_dates = st.none() | dates


def codes(customer: Customer, as_of: date) -> set[str]:
    return {flag.code for flag in risk_flags(customer, as_of)}


@given(expires=optional_dates, as_of=dates)
def test_kyc_flags_follow_the_id_expiry(expires: date | None, as_of: date) -> None:
    found = codes(Customer(id_expires_on=expires), as_of)

    assert ("kyc_expired" in found) == (expires is not None and expires < as_of)
    soon = expires is not None and as_of <= expires <= as_of + timedelta(days=30)
    assert ("kyc_expiring" in found) == soon


@given(
    tolerance=st.sampled_from(["", "C1", "C3", "C5"]),
    assessed=optional_dates,
    expires=optional_dates,
    professional=st.booleans(),
    as_of=dates,
)
def test_risk_assessment_flags(
    tolerance: str, assessed: date | None, expires: date | None, professional: bool, as_of: date
) -> None:
    customer = Customer(
        risk_tolerance=tolerance,
        risk_assessed_on=assessed,
        risk_expires_on=expires,
        is_professional_investor=professional,
    )
    found = codes(customer, as_of)

    missing = not professional and (not tolerance or assessed is None)
    assert ("risk_assessment_missing" in found) == missing
    expired = not professional and not missing and expires is not None and expires < as_of
    assert ("risk_assessment_expired" in found) == expired


@pytest.mark.parametrize(("rating", "level"), [("low", "success"), ("medium", "warning"), ("high", "danger")])
def test_the_aml_rating_always_comes_first(rating: str, level: str) -> None:
    flags = risk_flags(Customer(aml_risk_rating=rating, is_professional_investor=True), date(2026, 1, 1))

    assert flags[0].code == "aml_rating"
    assert flags[0].level == level


def test_needs_review_and_overdue_aml_review() -> None:
    customer = Customer(
        status=CustomerStatus.NEEDS_REVIEW,
        aml_next_review_on=date(2025, 12, 31),
        is_professional_investor=True,
    )

    assert codes(customer, date(2026, 1, 1)) == {"aml_rating", "needs_review", "aml_review_overdue"}


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(old=mobiles, new=mobiles, number=st.integers(min_value=0, max_value=10**6))
def test_change_history_never_shows_a_clear_identifier(old: str, new: str, number: int) -> None:
    before = {"mobile": f"+86{old}", "id_number": resident_id(number), "occupation": "教师"}
    after = {"mobile": new, "id_number": resident_id(number + 1), "occupation": "教师"}

    changes = field_changes(before, after)

    text = " ".join(f"{change.before} {change.after}" for change in changes)
    for clear in (old, new, resident_id(number), resident_id(number + 1)):
        assert clear not in text
    assert "occupation" not in [change.field for change in changes]  # unchanged: left out


def test_change_history_labels_and_order() -> None:
    changes = field_changes({"lifecycle_stage": "prospect"}, {"lifecycle_stage": "customer", "note": "x"})

    assert [(change.field, change.label, change.before, change.after) for change in changes] == [
        ("lifecycle_stage", "lifecycle stage", "prospect", "customer"),
        ("note", "note", "", "x"),
    ]


@given(
    st.none() | st.text() | st.integers() | st.lists(st.text()),
    st.none() | st.dictionaries(st.text(), st.text()),
)
def test_change_history_takes_anything(before: Any, after: Any) -> None:
    field_changes(before, after)


amounts = st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False)


@given(st.dictionaries(st.sampled_from(selectors.ASSET_CLASSES), amounts))
def test_latest_mix_lists_every_class_and_its_share(mix: dict[str, Decimal]) -> None:
    aum = Aum(
        available=True,
        current=Decimal(0),
        updated_at=None,
        currency="CNY",
        classes=[Choice(code, code) for code in selectors.ASSET_CLASSES],
        points=[AumPoint(date(2026, 1, 31), sum(mix.values(), Decimal(0)), mix)],
    )

    rows = aum.latest_mix

    assert [choice.code for choice, _amount, _share in rows] == list(selectors.ASSET_CLASSES)
    assert sum(amount for _choice, amount, _share in rows) == sum(mix.values(), Decimal(0))
    total_share = sum(share for _choice, _amount, share in rows)
    assert total_share == 0 or abs(total_share - 100) <= Decimal("0.5")


def test_a_failed_read_event_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(selectors, "record_customer_viewed", broken)
    response = HttpResponse("ok")
    record_opened_after(response, Actor.system("test"), 7, via="page")

    with caplog.at_level(logging.ERROR, logger="fincrm.customers"):
        # What response.close() runs first (it then signals request_finished, which needs a database).
        for closer in response._resource_closers:  # type: ignore[attr-defined]
            closer()

    assert "customer.viewed could not be recorded for customer 7" in caplog.text

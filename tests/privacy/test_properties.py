"""Properties of the retention formula and the consent check."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from fincrm.privacy.retention import add_years


@given(st.dates(max_value=datetime.date(8000, 12, 31)), st.integers(min_value=0, max_value=100))
def test_add_years_keeps_month_and_never_shortens(day: datetime.date, years: int) -> None:
    later = add_years(day, years)
    assert later.year == day.year + years
    assert later.month == day.month
    assert later.day == day.day or (day.month, day.day, later.day) == (2, 29, 28)
    assert later >= day


@given(st.dates(max_value=datetime.date(8000, 12, 31)))
def test_ten_years_is_at_least_3652_days(day: datetime.date) -> None:
    assert (add_years(day, 10) - day).days >= 3651

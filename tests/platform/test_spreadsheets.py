"""Formula injection: what every CSV and XLSX export writes into a text cell."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fincrm.platform.spreadsheets import FORMULA_START, neutralize


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("张三", "张三"),
        ("plain", "plain"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_neutralize(cell: str, expected: str) -> None:
    assert neutralize(cell) == expected


@given(st.text())
def test_a_neutralized_cell_never_starts_a_formula_and_keeps_the_text(value: str) -> None:
    cell = neutralize(value)
    assert not cell.startswith(FORMULA_START)
    assert cell in (value, "'" + value)

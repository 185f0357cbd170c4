"""The customer preparation's shortcuts give exactly what the general path gives: a blind index
computed without the normalizer (the value is already in normal form) equals the real one."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fincrm.customers.models import CustomerSearchTerm
from fincrm.customers.search_terms import terms_for_name
from fincrm.integration import preparing
from fincrm.integration.synth_rows import Keys, copy_text
from fincrm.security.fields import blind_index_with, normalizer_for

KEYS = Keys("d1", b"k" * 32, "i1", b"x" * 32)


def preparer() -> preparing.Preparer:
    context = preparing.Context(
        entity="customers", mapping={"customer_number": "n"}, header=["n"], keys=KEYS, today=date(2026, 1, 1)
    )
    return preparing.Preparer(context)


CASES = [
    ("id_number", preparing._NORMAL_ID_NUMBER),
    ("mobile", preparing._NORMAL_MOBILE),
    ("email", preparing._NORMAL_EMAIL),
]


@pytest.mark.parametrize(("purpose", "normal"), CASES)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_normal_form_shortcut_equals_the_normalizer(
    purpose: str, normal: re.Pattern[str], data: st.DataObject
) -> None:
    # Any text, and text of the shape the shortcut takes (which the normalizer must give back unchanged).
    value = data.draw(st.one_of(st.text(min_size=1, max_size=40), st.from_regex(normal, fullmatch=True)))
    if not normalizer_for(purpose)(value):
        return  # no blind index for a value that normalizes to nothing
    expected = blind_index_with(KEYS.index_key_id, KEYS.index_key, value, purpose)
    assert preparer()._normal_index(value, purpose, normal) == expected


@pytest.mark.parametrize(
    ("purpose", "value"),
    [
        ("id_number", "11010519491231002X"),
        ("id_number", "91350100M000100Y43"),
        ("id_number", "11010519491231002x"),
        ("id_number", "110105 19491231002X"),
        ("mobile", "+8613800138000"),
        ("mobile", "+86 138-0013-8000"),
        ("email", "u12@example.com"),
        ("email", "U12@Example.COM"),
        ("email", "\uff5512@example.com"),  # a full-width u
    ],
)
def test_normal_form_shortcut_on_typical_values(purpose: str, value: str) -> None:
    normal = dict(CASES)[purpose]
    expected = blind_index_with(KEYS.index_key_id, KEYS.index_key, value, purpose)
    assert preparer()._normal_index(value, purpose, normal) == expected
    if purpose == "id_number" and value.isupper() and value.isalnum():
        assert normal.fullmatch(value)  # the shortcut is taken for the usual form


CELLS = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["a\\b", "\\N", "x\ty", "l\nm", "r\rs", "\\", "名字\\"]),
    st.booleans(),
    st.integers(),
    st.dates(),
    st.datetimes(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
)


@settings(max_examples=500, deadline=None)
@given(rows=st.lists(st.lists(CELLS, min_size=1, max_size=8).map(tuple), max_size=6))
def test_fast_copy_text_equals_copy_text(rows: list[tuple[object, ...]]) -> None:
    assert preparing.fast_copy_text(rows) == copy_text(rows)


def test_fast_copy_text_escapes_like_copy_text() -> None:
    rows = [(1, None, "a\tb", "c\\d", "e\nf", date(2026, 1, 2), True), (2, "plain", None, "名", False, 0, "")]
    assert preparing.fast_copy_text(rows) == copy_text(rows)
    assert preparing.fast_copy_text([]) == b""


TERMS = st.lists(
    st.tuples(
        st.integers(min_value=2, max_value=10**7),
        st.sampled_from(list(CustomerSearchTerm.Kind)),
        st.one_of(
            st.text(max_size=8), st.sampled_from(["zhang", "张三", "a\\b", "\\N", "x\ty", "l\nm", "r\rs"])
        ),
    ),
    max_size=20,
)


@settings(max_examples=500, deadline=None)
@given(terms=TERMS)
def test_terms_copy_text_equals_copy_text(terms: list[tuple[int, str, str]]) -> None:
    assert preparing.terms_copy_text(terms) == copy_text(terms)


def test_terms_of_real_names_are_written_as_copy_text_writes_them() -> None:
    names = ["欧阳明华", "单田芳", "John Smith", "Ünïcode Trading Co., Ltd.", "back\\slash 公司"]
    terms = [
        (row, kind, term) for row, name in enumerate(names, 2) for kind, term in sorted(terms_for_name(name))
    ]
    assert preparing.terms_copy_text(terms) == copy_text(terms)
    assert preparing.terms_copy_text([]) == b""

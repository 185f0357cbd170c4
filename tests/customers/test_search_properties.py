"""Properties of the search terms and of reading the box (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fincrm.customers.search_terms import normalize_name, terms_for_name
from fincrm.customers.selectors.search import classify_query
from fincrm.platform.errors import ServiceError

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
NAMES = st.one_of(st.text(HAN, min_size=1, max_size=8), st.text(max_size=30))


@settings(max_examples=300, deadline=None)
@given(NAMES)
def test_terms_for_name_never_raises_and_finds_every_short_substring(name: str) -> None:
    terms = terms_for_name(name)
    text = normalize_name(name)
    starts = {text[:1], text[:2]} if text else set()
    for start in range(len(text)):
        for fragment in {text[start], text[start : start + 2]}:
            # every fragment once: an "s" term where the name starts with it, else a "c" term
            kinds = {kind for kind, term in terms if term == fragment and kind in ("c", "s")}
            assert kinds == ({"s"} if fragment in starts else {"c"})
    assert {term for kind, term in terms if kind == "s"} == starts
    assert all(0 < len(term) <= 64 for _kind, term in terms)
    assert all("\x00" not in term for _kind, term in terms)


@settings(max_examples=300, deadline=None)
@given(st.text(HAN, min_size=1, max_size=6), st.data())
def test_every_fragment_of_a_chinese_name_is_read_as_a_name(name: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(name) - 1))
    end = data.draw(st.integers(start + 1, len(name)))
    read = classify_query(name[start:end])
    assert read.text == name[start:end]
    assert str(read.kinds[0]) == "name"


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_classify_never_raises_anything_but_a_field_error(typed: str) -> None:
    fields: list[str] = ["q"]
    try:
        read = classify_query(typed)
    except ServiceError as error:
        fields = list(error.fields)
    else:
        assert read.kinds
        assert read.text
    assert fields == ["q"]

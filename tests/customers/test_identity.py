"""Identity number validators: the examples of DOMAIN.md, the two stdnum traps, and properties
(every valid ID passes, any single-digit change fails, 15→18 round trip, no input ever raises)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric

from fincrm.customers.identity import (
    USCC_ALPHABET,
    check_bank_card,
    check_email,
    check_foreign_permanent_residence,
    check_hk_macau_permit,
    check_id_number,
    check_mobile,
    check_passport,
    check_resident_id,
    check_taiwan_permit,
    check_uscc,
    resident_id_15_to_18,
    resident_id_18_to_15,
    resident_id_check_character,
)
from fincrm.customers.models import IdType
from tests.support.english import english  # noqa: F401  (autouse: messages in English)

TODAY = date(2025, 6, 1)
REGIONS = ["110105", "310104", "440305", "320102", "510104", "999999", "000000"]


# ---------------------------------------------------------------- resident ID


def test_domain_example_is_valid() -> None:
    checked = check_resident_id("11010519491231002X", today=TODAY)
    assert checked.ok
    assert checked.value == "11010519491231002X"
    assert (checked.birth_date, checked.gender, checked.warnings) == (date(1949, 12, 31), "female", ())


def test_lower_case_x_and_full_width_and_separators_are_normalized() -> None:
    assert check_resident_id("11010519491231002x").value == "11010519491231002X"
    assert check_resident_id("１１０１０５ １９４９１２３１ ００２Ｘ").value == "11010519491231002X"  # noqa: RUF001
    assert check_resident_id("110105-19491231-002X").value == "11010519491231002X"


@pytest.mark.parametrize("position", range(18))
def test_changing_any_one_character_of_the_example_fails(position: int) -> None:
    number = "11010519491231002X"
    for replacement in "0123456789X":
        if replacement == number[position] or (replacement == "X" and position != 17):
            continue
        changed = number[:position] + replacement + number[position + 1 :]
        assert not check_resident_id(changed, today=TODAY).ok, changed


def test_future_birth_date_is_refused_although_stdnum_accepts_it() -> None:
    body = "11010520300101001"
    number = body + resident_id_check_character(body)
    assert check_resident_id(number, today=TODAY).error is not None
    assert check_resident_id(number, today=TODAY).error.code == "birth_date_future"  # type: ignore[union-attr]


def test_region_newer_than_birth_is_a_warning_although_stdnum_refuses_it() -> None:
    number = "440305196405200017"  # 深圳南山 created 1990, holder born 1964
    assert not ric.is_valid(number)
    checked = check_resident_id(number, today=TODAY)
    assert checked.ok
    assert [warning.code for warning in checked.warnings] == ["region_not_current"]
    assert not checked.blocking_warnings


def test_unknown_region_is_a_warning() -> None:
    body = "99999919800101001"
    checked = check_resident_id(body + resident_id_check_character(body), today=TODAY)
    assert checked.ok
    assert [warning.code for warning in checked.warnings] == ["region_unknown"]


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("", "required"),
        ("1101051949123100", "format"),
        ("11010519491331002X", "birth_date"),  # month 13
        ("11010518991231002X", "birth_date"),
        ("11010519491231002Y", "format"),
        ("X1010519491231002X", "format"),
    ],
)
def test_bad_resident_ids(number: str, code: str) -> None:
    checked = check_resident_id(number, today=TODAY)
    assert checked.error is not None
    assert checked.error.code in (code, "checksum")


def test_check_character_matches_stdnum_on_full_numbers() -> None:
    assert resident_id_check_character("11010519491231002") == "X"
    assert ric.calc_check_digit("11010519491231002X") == "X"


def test_legacy_15_digit_conversion() -> None:
    assert resident_id_15_to_18("110105491231002") == "11010519491231002X"
    assert check_resident_id("110105491231002", today=TODAY).value == "11010519491231002X"
    with pytest.raises(ValueError, match="15 digits"):
        resident_id_15_to_18("1101054912310")


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(REGIONS))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    sequence = draw(st.integers(min_value=0, max_value=999))
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return body + resident_id_check_character(body)


@given(number=resident_ids())
def test_every_generated_valid_id_passes(number: str) -> None:
    checked = check_resident_id(number, today=TODAY)
    assert checked.ok, checked.error
    assert checked.value == number
    assert checked.birth_date is not None
    assert checked.birth_date <= TODAY
    assert checked.gender == ("male" if int(number[16]) % 2 else "female")


@given(number=resident_ids(), position=st.integers(min_value=0, max_value=17), data=st.data())
def test_any_single_digit_change_fails(number: str, position: int, data: st.DataObject) -> None:
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([char for char in alphabet if char != number[position]]))
    changed = number[:position] + replacement + number[position + 1 :]
    assert not check_resident_id(changed, today=TODAY).ok


@given(number=resident_ids().filter(lambda n: n[6:8] == "19"))
def test_15_to_18_round_trip(number: str) -> None:
    legacy = resident_id_18_to_15(number)
    assert len(legacy) == 15
    assert resident_id_15_to_18(legacy) == number
    assert check_resident_id(legacy, today=TODAY).value == number


ANYTHING = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.binary(max_size=60),
    st.integers(),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3),
    st.text(alphabet="0123456789Xx+- ()", max_size=25),
)


@given(value=ANYTHING, id_type=st.sampled_from([*IdType.values, "bogus"]))
def test_arbitrary_input_never_raises(value: object, id_type: str) -> None:
    for checked in (
        check_id_number(id_type, value),
        check_mobile(value),
        check_bank_card(value),
        check_bank_card(value, origin="feed"),
        check_email(value),
    ):
        assert checked.ok or checked.error is not None
        assert checked.ok or checked.value == ""


# ---------------------------------------------------------------- USCC


def test_uscc_example_is_valid() -> None:
    checked = check_uscc("91350100M000100Y43")
    assert checked.ok
    assert checked.value == "91350100M000100Y43"
    assert checked.warnings == ()


def test_uscc_failed_check_is_an_overridable_warning() -> None:
    checked = check_uscc("91350100m000100y44")
    assert checked.ok
    assert checked.value == "91350100M000100Y44"
    assert [warning.code for warning in checked.blocking_warnings] == ["uscc_checksum"]


@pytest.mark.parametrize("letter", "IOSVZ")
def test_uscc_refuses_the_excluded_letters(letter: str) -> None:
    assert check_uscc(f"91350100M000100{letter}43").error is not None


def test_uscc_length_and_region() -> None:
    assert check_uscc("91350100M000100Y4").error.code == "length"  # type: ignore[union-attr]
    assert check_uscc("913501A0M000100Y43").error.code == "format"  # type: ignore[union-attr]


@given(body=st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17).map(lambda b: b[:2] + "350100" + b[8:]))
def test_uscc_with_its_check_character_passes_without_warning(body: str) -> None:
    from stdnum.cn import uscc

    number = body + uscc.calc_check_digit(body + "0")
    checked = check_uscc(number)
    assert checked.ok
    assert checked.warnings == ()


# ---------------------------------------------------------------- other documents


def test_other_documents() -> None:
    assert check_passport("e1234567 8").value == "E12345678"
    assert check_passport("ABCDE").error is not None  # no digit
    assert check_hk_macau_permit("H12345678").ok
    assert check_hk_macau_permit("M1234567890").ok
    assert not check_hk_macau_permit("K12345678").ok
    assert check_taiwan_permit("12345678").ok
    assert check_taiwan_permit("1234567890(B)").value == "1234567890B"
    assert not check_taiwan_permit("1234567").ok
    assert check_foreign_permanent_residence("USA110086050").error is not None
    assert check_foreign_permanent_residence("USA123456789012").ok
    body = "93184019800101001"
    assert check_foreign_permanent_residence(body + resident_id_check_character(body)).ok
    assert not check_foreign_permanent_residence(
        body + "0" if resident_id_check_character(body) != "0" else body + "1"
    ).ok


# ---------------------------------------------------------------- mobile


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "+8613800138000",
        "008613800138000",
        "+86 138-0013-8000",
        "8613800138000",
        "１３８００１３８０００",  # noqa: RUF001
    ],
)
def test_mainland_mobiles_are_stored_as_e164(value: str) -> None:
    assert check_mobile(value).value == "+8613800138000"


@pytest.mark.parametrize("value", ["12800138000", "1380013800", "+86123", "138001380001", "phone", "+"])
def test_bad_mobiles(value: str) -> None:
    assert check_mobile(value).error is not None


def test_other_countries_via_phonenumbers() -> None:
    assert check_mobile("+852 9123 4567").value == "+85291234567"
    assert check_mobile("0044 7911 123456").value == "+447911123456"
    assert check_mobile("+44 1").error is not None


@given(rest=st.text(alphabet="0123456789", min_size=9, max_size=9), second=st.sampled_from("3456789"))
def test_every_mainland_pattern_passes(rest: str, second: str) -> None:
    assert check_mobile(f"1{second}{rest}").value == f"+861{second}{rest}"


# ---------------------------------------------------------------- bank card and e-mail


@given(body=st.text(alphabet="0123456789", min_size=15, max_size=18))
def test_cards_with_a_luhn_digit_pass_and_a_changed_digit_fails(body: str) -> None:
    number = body + luhn.calc_check_digit(body)
    assert check_bank_card(number).value == number
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert check_bank_card(wrong).error is not None  # staff-typed: an error
    feed = check_bank_card(wrong, origin="feed")
    assert feed.ok
    assert [warning.code for warning in feed.warnings] == ["luhn"]


def test_card_length_and_separators() -> None:
    assert check_bank_card("6222 0212 3456 1236").value == "6222021234561236"
    assert check_bank_card("622202123456123").error is not None
    assert check_bank_card("62220212345612345678").error is not None


def test_email() -> None:
    assert check_email("Zhang.San@Example.COM").value == "Zhang.San@example.com"
    assert check_email("zhang@").error is not None


@given(born=st.dates(min_value=TODAY + timedelta(days=1), max_value=date(2999, 12, 31)))
def test_any_future_birth_date_is_refused(born: date) -> None:
    body = f"110105{born:%Y%m%d}001"
    checked = check_resident_id(body + resident_id_check_character(body), today=TODAY)
    assert checked.error is not None
    assert checked.error.code == "birth_date_future"

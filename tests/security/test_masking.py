"""Display masks: the DOMAIN.md examples, properties over arbitrary input, and the settings table."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from hypothesis import assume, given
from hypothesis import strategies as st

from fincrm.security.masking import (
    COMPOUND_SURNAMES,
    MASK_CHAR,
    MASKS,
    MAX_FULL_MASK,
    UnknownMaskKind,
    check_masks,
    mask,
    mask_address,
    mask_card,
    mask_email,
    mask_id_number,
    mask_mobile,
    mask_name,
    validate_masks,
)

KINDS = sorted(MASKS)

anything = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.text(alphabet="0123456789 -+*@.()Xx尾号省市区县张欧阳·", max_size=40),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
)
digits = st.text(alphabet="0123456789", min_size=1, max_size=25)
han = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


# ---------------------------------------------------------------- DOMAIN.md examples


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        ("card", "6222021234561234", "622202******1234"),
        ("card", "6222 0212 3456 1234 567", "622202*********4567"),
        ("card", "622202******1234", "622202******1234"),
        ("mobile", "13856785678", "138****5678"),
        ("mobile", "+8613812345678", "138****5678"),
        ("mobile", "0086 138-1234-5678", "138****5678"),
        ("mobile", "+85291234567", "+852****4567"),
        ("mobile", "+12025550123", "+1******0123"),
        ("mobile", "+4915112345678", "+49*******5678"),
        ("mobile", "01012345678", "*******5678"),
        ("id_number", "11010519491231002X", "110***********002X"),
        ("id_number", "11010519491231002x", "110***********002X"),
        ("id_number", "110105491231002", "110*********002"),
        ("id_number", "E12345678", "E*****678"),
        ("id_number", "H1234567801", "H******7801"),
        ("id_number", "A123456(7)", "A****567"),
        ("name", "张三", "张*"),
        ("name", "张三丰", "张**"),
        ("name", "欧阳娜娜", "欧阳**"),
        ("name", "司马相如", "司马**"),
        ("name", "欧阳", "欧*"),
        ("name", "张", "*"),
        ("name", "John Smith", "J*** S****"),
        ("name", "  Mary   Ann  Lee ", "M*** A** L**"),
        ("name", "买买提·艾力", "买**·艾*"),
        ("name", "J S", "* *"),
        ("account", "6217000010001234567", "尾号4567"),
        ("account", "6217-0000-1000", "尾号1000"),
        ("email", "zhang.san@Example.COM", "z***@example.com"),
        ("email", "a@bank.cn", "***@bank.cn"),
        ("address", "广东省深圳市南山区科技园科苑路15号", "广东省深圳市南山区****"),
        ("address", "北京市海淀区中关村大街1号", "北京市海淀区****"),
        ("address", "上海浦东新区世纪大道100号", "上海浦东新区****"),
        ("address", "江苏省苏州市昆山市玉山镇1号", "江苏省苏州市昆山市****"),
        ("address", "新疆维吾尔自治区乌鲁木齐市天山区光明路", "新疆维吾尔自治区乌鲁木齐市天山区****"),
        ("address", "贵州省黔东南苗族侗族自治州凯里市北京东路", "贵州省黔东南苗族侗族自治州凯里市****"),
        (
            "address",
            "内蒙古自治区呼伦贝尔市鄂温克族自治旗巴彦托海镇",
            "内蒙古自治区呼伦贝尔市鄂温克族自治旗****",
        ),
        ("address", "山东省济南市市中区经七路", "山东省济南市市中区****"),
        ("address", "北京市东城区东市场1号", "北京市东城区****"),
        ("address", "北京路88号", "****"),
        ("address", "1 Main Street, Springfield", "****"),
        ("full", "anything at all", "****"),
    ],
)
def test_mask_examples(kind: str, value: str, shown: str) -> None:
    assert mask(kind, value) == shown


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_values_mask_to_empty(kind: str, value: str | None) -> None:
    assert mask(kind, value) == ""


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        ("card", "1234", "****"),
        ("card", "62220212345612345678", "*" * 20),
        ("card", "6222O21234561234", "*" * 16),
        ("mobile", "call me", "******"),
        ("id_number", "12345", "*****"),
        ("account", "123", "***"),
        ("email", "not-an-address", "*" * 14),
        ("email", "a@b", "***"),
        ("card", "9" * 500, "*" * MAX_FULL_MASK),
    ],
)
def test_unrecognised_values_are_fully_masked(kind: str, value: str, shown: str) -> None:
    assert mask(kind, value) == shown


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(UnknownMaskKind):
        mask("iban", "GB82WEST12345698765432")


# ---------------------------------------------------------------- properties of every mask


@pytest.mark.parametrize("kind", KINDS)
@given(value=anything)
def test_masks_never_raise_and_are_idempotent(kind: str, value: object) -> None:
    shown = mask(kind, value)
    assert isinstance(shown, str)
    assert len(shown) <= 300
    assert mask(kind, shown) == shown


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "account"])
@given(value=anything)
def test_masks_always_hide_something(kind: str, value: object) -> None:
    shown = mask(kind, value)
    assert shown == "" or MASK_CHAR in shown


@given(value=st.text(min_size=1, max_size=200))
def test_unrecognised_text_never_shows_its_characters(value: str) -> None:
    shown = mask_card("x" + value)
    assert set(shown) == {MASK_CHAR}
    assert len(shown) <= MAX_FULL_MASK


def _assert_ends_only(text: str, shown: str, keep_start: int, keep_end: int) -> None:
    assert len(shown) == len(text)
    for index, (clear, masked) in enumerate(zip(text, shown, strict=True)):
        if index < keep_start or index >= len(text) - keep_end:
            assert masked == clear
        else:
            assert masked == MASK_CHAR


@given(number=st.text(alphabet="0123456789", min_size=16, max_size=19))
def test_card_shows_first_six_and_last_four_only(number: str) -> None:
    _assert_ends_only(number, mask_card(number), 6, 4)


@given(number=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), prefix=st.sampled_from(["", "+86", "0086"]))
def test_mainland_mobile_shows_first_three_and_last_four(number: str, prefix: str) -> None:
    _assert_ends_only(number, mask_mobile(prefix + number), 3, 4)


@given(number=st.from_regex(r"\+[2-9][0-9]{7,14}", fullmatch=True))
def test_foreign_mobile_keeps_country_code_and_at_most_half_of_the_rest(number: str) -> None:
    shown = mask_mobile(number)
    assert len(shown) == len(number)
    revealed = [index for index, char in enumerate(shown) if char != MASK_CHAR]
    hidden = len(shown) - len(revealed)
    assert hidden >= 1
    assert all(shown[index] == number[index] for index in revealed)
    assert shown[-1] == number[-1] or shown.endswith(MASK_CHAR)
    # Country code (at most "+" and 3 digits) plus a tail of at most 4 digits.
    assert len(revealed) <= 4 + 4


@given(
    number=st.from_regex(
        r"[1-6][0-9]{5}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9])[0-9]{3}[0-9X]", fullmatch=True
    )
)
def test_resident_id_never_shows_the_birth_date(number: str) -> None:
    shown = mask_id_number(number)
    assert shown[6:14] == MASK_CHAR * 8
    _assert_ends_only(number, shown, 3, 4)


@given(number=st.text(alphabet="0123456789", min_size=15, max_size=15))
def test_legacy_resident_id_never_shows_the_birth_date(number: str) -> None:
    shown = mask_id_number(number)
    assert shown[6:12] == MASK_CHAR * 6
    _assert_ends_only(number, shown, 3, 3)


@given(document=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=6, max_size=20))
def test_documents_never_show_more_than_half(document: str) -> None:
    shown = mask_id_number(document)
    assert len(shown) == len(document)
    revealed = sum(char != MASK_CHAR for char in shown)
    assert revealed * 2 <= len(document)
    first, last = shown.index(MASK_CHAR), shown.rindex(MASK_CHAR)
    _assert_ends_only(document, shown, first, len(shown) - last - 1)


@given(surname=han, given_name=st.text(alphabet=han, min_size=1, max_size=3))
def test_chinese_name_shows_the_surname_only(surname: str, given_name: str) -> None:
    name = surname + given_name
    shown = mask_name(name)
    kept = 2 if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES else 1
    assert shown == name[:kept] + MASK_CHAR * (len(name) - kept)


@given(
    compound=st.sampled_from(sorted(COMPOUND_SURNAMES)),
    given_name=st.text(alphabet=han, min_size=1, max_size=2),
)
def test_compound_surnames_are_kept_whole(compound: str, given_name: str) -> None:
    assert mask_name(compound + given_name) == compound + MASK_CHAR * len(given_name)


@given(
    parts=st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=20),
        min_size=1,
        max_size=4,
    )
)
def test_latin_name_shows_first_letter_of_each_part(parts: list[str]) -> None:
    shown = mask_name(" ".join(parts))
    assert shown == " ".join(part[0] + MASK_CHAR * (len(part) - 1) for part in parts)


@given(
    local=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=30),
    domain=st.from_regex(r"[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True),
)
def test_email_shows_at_most_the_first_letter_and_the_domain(local: str, domain: str) -> None:
    shown = mask_email(f"{local}@{domain}")
    assert shown.endswith("***@" + domain)
    assert shown in {local[0] + "***@" + domain, "***@" + domain}
    if len(local) == 1:
        assert shown == "***@" + domain


@given(
    province=st.sampled_from(["广东省", "四川省", "广西壮族自治区", "北京市", ""]),
    city=st.sampled_from(["深圳市", "成都市", "大兴安岭地区", "阿拉善盟", ""]),
    district=st.sampled_from(["南山区", "金牛县", "科尔沁右翼前旗", "达尔罕茂明安联合旗", "昆山市", ""]),
    rest=st.text(alphabet="0123456789号路街道镇村楼ABC", max_size=20),
)
def test_address_shows_divisions_only(province: str, city: str, district: str, rest: str) -> None:
    assume(province + city + district + rest)  # a blank address has nothing to hide: shown as ""
    shown = mask_address(province + city + district + rest)
    assert shown == province + city + district + "****"


@given(value=st.text(max_size=80))
def test_address_reveals_only_a_leading_run_of_han_characters(value: str) -> None:
    shown = mask_address(value)
    if shown:
        assert shown.endswith("****")
        kept = shown[: -len("****")]
        assert "".join(value.split()).startswith(kept)
        assert all("\u3400" <= char <= "\U0003134f" for char in kept)


# ---------------------------------------------------------------- the settings table


def test_defaults_are_valid() -> None:
    assert check_masks() == []


@override_settings(
    FINCRM_MASKS={
        "card": {"keep_start": 0},
        "mobile": {"keep_end": 2},
        "id_number": {"keep_start": 0, "keep_end": 1},
        "name": {"keep_surname": False},
        "account": {"keep_end": 2, "prefix": "ending "},
        "email": {"keep_start": 0, "keep_domain": False},
        "address": {"keep_levels": 1},
    }
)
def test_an_institution_may_tighten_every_mask() -> None:
    assert mask("card", "6222021234561234") == "************1234"
    assert mask("mobile", "13812345678") == "138******78"
    assert mask("mobile", "+85291234567") == "+852******67"
    assert mask("id_number", "11010519491231002X") == "*****************X"
    assert mask("name", "欧阳娜娜") == "****"
    assert mask("name", "John Smith") == "**** *****"
    assert mask("account", "6217000010001234567") == "ending 67"
    assert mask("email", "zhang.san@example.com") == "***@****"
    assert mask("address", "广东省深圳市南山区科技园") == "广东省****"
    assert check_masks() == []


@override_settings(FINCRM_MASKS={"address": {"keep_levels": 0}, "card": {"keep_end": 0, "keep_start": 0}})
def test_masks_can_hide_everything() -> None:
    assert mask("address", "广东省深圳市南山区科技园") == "****"
    assert mask("card", "6222021234561234") == "*" * 16


@pytest.mark.parametrize(
    "overrides",
    [
        {"card": {"keep_start": 8}},
        {"card": {"keep_end": 5}},
        {"mobile": {"keep_start": 4}},
        {"id_number": {"keep_start": 6}},
        {"email": {"keep_start": 2}},
        {"address": {"keep_levels": 4}},
        {"account": {"keep_end": 6}},
    ],
)
def test_loosening_a_mask_is_refused(overrides: dict[str, dict[str, int]]) -> None:
    with pytest.raises(ImproperlyConfigured, match="tightened, not loosened"):
        validate_masks(overrides)
    with override_settings(FINCRM_MASKS=overrides):
        assert [error.id for error in check_masks()] == ["fincrm_security.E010"]
        with pytest.raises(ImproperlyConfigured):
            mask("card", "6222021234561234")


@pytest.mark.parametrize(
    "overrides",
    [
        ["card"],
        {"passport": {"keep_end": 2}},
        {"card": {"keep_middle": 1}},
        {"card": {"keep_start": -1}},
        {"card": {"keep_start": "6"}},
        {"card": {"keep_start": True}},
        {"card": 6},
        {"name": {"keep_surname": "no"}},
        {"account": {"prefix": "No. 1"}},
        {"account": {"prefix": ""}},
    ],
)
def test_malformed_settings_are_refused(overrides: object) -> None:
    with pytest.raises(ImproperlyConfigured):
        validate_masks(overrides)  # type: ignore[arg-type]


def test_settings_changes_take_effect_without_restart() -> None:
    assert mask("card", "6222021234561234") == "622202******1234"
    with override_settings(FINCRM_MASKS={"card": {"keep_start": 4}}):
        assert mask("card", "6222021234561234") == "6222********1234"
    assert mask("card", "6222021234561234") == "622202******1234"

"""Display masks for personal data (JR/T 0171-2020 C2 identifiers, names, addresses).

Pure functions, no database. One function per kind plus the ``mask(kind, value)``
dispatcher. The rules are a settings table: ``DEFAULT_MASKS`` below holds the defaults
from DOMAIN.md; ``settings.FINCRM_MASKS`` may override parameters per kind, but only to
reveal *less* (an institution may tighten, never loosen). See docs/security-masking.md.

Guarantees, for every kind and every input:
- a mask never raises on a value (None, empty, short, garbage, any type);
- it reveals only positions its rule allows, and always hides at least one position;
- digit masks keep the (normalized) length; ``*`` stands for one hidden character;
- masking a masked value gives the same value (idempotent), so stored truncated card
  numbers such as ``622202******1234`` display unchanged.
Empty input (None, "", blanks) gives "" (nothing to hide). Input a rule does not
recognise is fully masked: one ``*`` per character, at most ``MAX_FULL_MASK`` of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

MASK_CHAR = "*"
# A fully masked value never grows beyond this, so garbage input cannot flood a page or a log.
MAX_FULL_MASK = 32
# The fixed run that stands for a hidden part of unknown length (e-mail local part, address tail).
HIDDEN_RUN = "****"

DEFAULT_MASKS: dict[str, dict[str, Any]] = {
    # PCI DSS 3.4: at most the first 6 and last 4 digits.
    "card": {"keep_start": 6, "keep_end": 4},
    # Mainland mobile after +86/0086 is stripped; other countries keep the country code + last digits.
    "mobile": {"keep_start": 3, "keep_end": 4},
    # Resident ID: region prefix + last 4; the birth date (positions 7-14) is never shown.
    "id_number": {"keep_start": 3, "keep_end": 4},
    # Chinese: surname (compound surnames from COMPOUND_SURNAMES); other: first letter of each part.
    "name": {"keep_surname": True},
    # Account numbers show only their tail: 尾号1234.
    "account": {"keep_end": 4, "prefix": "尾号"},
    # First letter of the local part + *** + @domain.
    "email": {"keep_start": 1, "keep_domain": True},
    # Province, city, district (省/市/区/县/旗 ...); the rest becomes ****.
    "address": {"keep_levels": 3},
    # Everything hidden (C3 data, free text that may hold anything).
    "full": {},
}

# Shortest well-formed value per kind, used to refuse settings that would reveal everything.
_SHORTEST = {"card": 16, "mobile": 11, "id_number": 15, "account": 8}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


COMPOUND_SURNAMES = _words(
    """
    欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 端木 独孤 南宫 西门
    司空 百里 呼延 东郭 闻人 万俟 澹台 公冶 宗政 濮阳 太叔 申屠 仲孙 单于 赫连 淳于 拓跋 完颜 第五 鲜于
    闾丘 亓官 司寇 子车 颛孙 壤驷 公良 漆雕 乐正 宰父 谷梁 段干 梁丘 左丘 东门 公西 呼衍 羊舌 微生 公羊
    """
)


class UnknownMaskKind(ValueError):
    """A caller named a mask kind that does not exist (a programming error, not bad data)."""


# ---------------------------------------------------------------- settings table


def validate_masks(overrides: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Merge ``FINCRM_MASKS`` over the defaults; refuse anything that reveals more than a default."""
    rules = {kind: dict(params) for kind, params in DEFAULT_MASKS.items()}
    if overrides is None:
        return rules
    if not isinstance(overrides, Mapping):
        raise ImproperlyConfigured("FINCRM_MASKS must be a dict of mask kind -> parameters")
    for kind, params in overrides.items():
        if kind not in DEFAULT_MASKS:
            raise ImproperlyConfigured(f"FINCRM_MASKS: unknown mask kind {kind!r}")
        if not isinstance(params, Mapping):
            raise ImproperlyConfigured(f"FINCRM_MASKS[{kind!r}] must be a dict")
        for name, value in params.items():
            rules[kind][name] = _validated_param(kind, name, value)
        keep = rules[kind].get("keep_start", 0) + rules[kind].get("keep_end", 0)
        if kind in _SHORTEST and keep >= _SHORTEST[kind]:
            raise ImproperlyConfigured(
                f"FINCRM_MASKS[{kind!r}]: keep_start + keep_end must stay below {_SHORTEST[kind]}"
            )
    return rules


def _validated_param(kind: str, name: str, value: Any) -> Any:
    default = DEFAULT_MASKS[kind].get(name, _MISSING)
    where = f"FINCRM_MASKS[{kind!r}][{name!r}]"
    if default is _MISSING:
        raise ImproperlyConfigured(f"{where}: unknown parameter")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ImproperlyConfigured(f"{where} must be true or false")
        if value and not default:
            raise ImproperlyConfigured(f"{where}: a mask may be tightened, not loosened")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ImproperlyConfigured(f"{where} must be a whole number >= 0")
        if value > default:
            raise ImproperlyConfigured(
                f"{where}: a mask may be tightened, not loosened (default {default}, got {value})"
            )
        return value
    if (
        not isinstance(value, str)
        or not value.strip()
        or MASK_CHAR in value
        or any(ch.isdigit() for ch in value)
    ):
        raise ImproperlyConfigured(f"{where} must be non-empty text without digits or {MASK_CHAR!r}")
    return value


_MISSING = object()
_cache: tuple[object, dict[str, dict[str, Any]]] | None = None


def mask_rules() -> dict[str, dict[str, Any]]:
    """The effective rules (defaults + validated ``FINCRM_MASKS``), re-read when the setting changes."""
    global _cache
    raw = getattr(settings, "FINCRM_MASKS", None)
    cached = _cache
    if cached is not None and cached[0] is raw:
        return cached[1]
    rules = validate_masks(raw)
    _cache = (raw, rules)
    return rules


def check_masks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """System check: ``FINCRM_MASKS`` is valid and only tightens the defaults."""
    try:
        validate_masks(getattr(settings, "FINCRM_MASKS", None))
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="fincrm_security.E010")]
    return []


def _rule(kind: str) -> dict[str, Any]:
    return mask_rules()[kind]


# ---------------------------------------------------------------- helpers


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    try:
        return str(value).strip()
    except Exception:  # a hostile __str__ must not break a page
        return "?"


def hide_all(value: object) -> str:
    """Every character hidden: one ``*`` per character, capped at MAX_FULL_MASK."""
    text = _text(value)
    return MASK_CHAR * min(len(text), MAX_FULL_MASK)


def _keep_ends(text: str, keep_start: int, keep_end: int) -> str:
    """Show the first/last characters, ``*`` for every other one (length kept)."""
    hidden = len(text) - keep_start - keep_end
    if hidden <= 0:
        return hide_all(text)
    return text[:keep_start] + MASK_CHAR * hidden + (text[len(text) - keep_end :] if keep_end else "")


def _half_budget(length: int, keep_start: int, keep_end: int) -> tuple[int, int]:
    """Shrink the kept ends so at most half of a value is shown, favouring the tail."""
    budget = length // 2
    end = min(keep_end, max(budget - (1 if keep_start else 0), 0))
    start = min(keep_start, budget - end)
    return start, end


_SEPARATORS = re.compile(r"[\s\-]")
_DIGITS = re.compile(r"[0-9*]+")  # '*' is an already hidden digit


# ---------------------------------------------------------------- kinds


def mask_card(value: object) -> str:
    """``6222021234561234`` → ``622202******1234`` (16-19 digits; spaces and hyphens dropped)."""
    text = _SEPARATORS.sub("", _text(value))
    if not text:
        return ""
    rule = _rule("card")
    if not (16 <= len(text) <= 19 and _DIGITS.fullmatch(text)):
        return hide_all(text)
    return _keep_ends(text, rule["keep_start"], rule["keep_end"])


# ITU-T E.164 country codes of one and two digits; every other code has three.
_ONE_DIGIT_CODES = frozenset("17")
_TWO_DIGIT_CODES = _words(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98"
)
_MAINLAND_MOBILE = re.compile(r"1[0-9*]{10}")


def _country_code(digits: str) -> str:
    if digits[:1] in _ONE_DIGIT_CODES:
        return digits[:1]
    if digits[:2] in _TWO_DIGIT_CODES:
        return digits[:2]
    return digits[:3]


def mask_mobile(value: object) -> str:
    """``13812345678``/``+8613812345678`` → ``138****5678``; ``+85291234567`` → ``+852****4567``."""
    text = re.sub(r"[\s\-().]", "", _text(value))
    if not text:
        return ""
    rule = _rule("mobile")
    national = text
    if text.startswith("+86"):
        national = text[3:]
    elif text.startswith("0086"):
        national = text[4:]
    if _MAINLAND_MOBILE.fullmatch(national):
        return _keep_ends(national, rule["keep_start"], rule["keep_end"])
    if text.startswith("00") and _DIGITS.fullmatch(text[2:]):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
        code = _country_code(digits)
        if not (8 <= len(digits) <= 15 and _DIGITS.fullmatch(digits)) or not code.isdigit():
            return hide_all(text)
        subscriber = digits[len(code) :]
        _, end = _half_budget(len(subscriber), 0, rule["keep_end"])
        return "+" + code + _keep_ends(subscriber, 0, end)
    # A national number of another shape (a landline typed into the field): its tail only.
    if 5 <= len(text) <= 15 and _DIGITS.fullmatch(text):
        _, end = _half_budget(len(text), 0, rule["keep_end"])
        return _keep_ends(text, 0, end)
    return hide_all(text)


_DOCUMENT = re.compile(r"[0-9A-Z*]+")


def mask_id_number(value: object) -> str:
    """Resident ID ``11010519491231002X`` → ``110***********002X``; passports and permits keep
    at most half (``E12345678`` → ``E*****678``). Spaces, hyphens and brackets are dropped."""
    text = re.sub(r"[\s\-()\uff08\uff09]", "", _text(value)).upper()
    if not text:
        return ""
    rule = _rule("id_number")
    if not (6 <= len(text) <= 20 and _DOCUMENT.fullmatch(text)):
        return hide_all(text)
    start, end = _half_budget(len(text), rule["keep_start"], rule["keep_end"])
    if len(text) == 15 and text.isdigit():
        # Legacy 15-digit resident ID: the birth date YYMMDD ends at position 12, so keep at most 3.
        end = min(end, 3)
    return _keep_ends(text, start, end)


_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CHINESE_NAME = re.compile(rf"[{_HAN}][{_HAN}*]*")
_NAME_PARTS = re.compile(r"(\s+|[·•・.])")


def mask_name(value: object) -> str:
    """Chinese: surname + ``*`` per other character (``张*``, ``欧阳**``). Other names: the first
    letter of each part (parts split by blanks or a middle dot), ``*`` for every other character
    (``John Smith`` → ``J*** S****``)."""
    text = re.sub(r"\s+", " ", _text(value))
    if not text:
        return ""
    if len(text) > 100:
        return hide_all(text)
    keep = bool(_rule("name")["keep_surname"])
    if _CHINESE_NAME.fullmatch(text):
        surname = 2 if len(text) >= 3 and text[:2] in COMPOUND_SURNAMES else 1
        if not keep or surname >= len(text):
            return MASK_CHAR * len(text)
        return text[:surname] + MASK_CHAR * (len(text) - surname)
    pieces = _NAME_PARTS.split(text)
    masked = []
    for index, piece in enumerate(pieces):
        if index % 2:  # separator
            masked.append(piece)
        elif piece:
            masked.append((piece[0] if keep else MASK_CHAR) + MASK_CHAR * (len(piece) - 1))
    result = "".join(masked)
    if MASK_CHAR not in result or sum(ch != MASK_CHAR for ch in result if ch.isalnum()) * 2 > len(text):
        # Only initials ("J S") or mostly initials: nothing would be hidden, so hide every part.
        hidden = "".join(piece if index % 2 else MASK_CHAR * len(piece) for index, piece in enumerate(pieces))
        return hidden if MASK_CHAR in hidden else hide_all(text)
    return result


def mask_account(value: object) -> str:
    """``6217000010001234567`` → ``尾号4567``: the tail only (at most half of the number)."""
    text = _SEPARATORS.sub("", _text(value)).upper()
    if not text:
        return ""
    rule = _rule("account")
    prefix: str = rule["prefix"]
    if text.startswith(prefix.upper()):
        tail = text[len(prefix) :]  # already masked: keep what it shows, never more
        if 0 < len(tail) <= DEFAULT_MASKS["account"]["keep_end"] and _DOCUMENT.fullmatch(tail):
            return prefix + tail[len(tail) - min(rule["keep_end"], len(tail)) :]
        return hide_all(text)
    if not (8 <= len(text) <= 34 and _DOCUMENT.fullmatch(text)) or not text.strip(MASK_CHAR):
        return hide_all(text)
    _, end = _half_budget(len(text), 0, rule["keep_end"])
    return prefix + text[len(text) - end :]


_EMAIL = re.compile(r"([^@\s]+)@([^@\s]+\.[^@\s]+|[^@\s]*\*[^@\s]*)")


def mask_email(value: object) -> str:
    """``zhang.san@example.com`` → ``z***@example.com`` (local part hidden, its length too)."""
    text = _text(value)
    if not text:
        return ""
    match = _EMAIL.fullmatch(text)
    if match is None or len(text) > 254:
        return hide_all(text)
    rule = _rule("email")
    local, domain = match.group(1), match.group(2).lower()
    shown = local[: min(rule["keep_start"], len(local) - 1)].split(MASK_CHAR)[0]
    return shown + "***@" + (domain if rule["keep_domain"] else HIDDEN_RUN)


# Administrative divisions, from the top. A component is a short run of Han characters ending in
# its level's suffix. Characters of street-level names, and the suffixes of other levels, never occur
# inside a component's name, so a street or a market (市场) is not mistaken for a division.
_STREET = "镇乡街路道巷弄村号楼栋室园座层"


def _name_chars(excluded: str) -> str:
    return rf"[^\W\d_{_STREET}{excluded}]"


_ADDRESS_LEVELS = (
    re.compile(
        rf"(?:北京|上海|天津|重庆)(?:市|(?={_name_chars('省市')}{{1,5}}?[区县]))"
        rf"|{_name_chars('省市区县旗盟')}{{2,5}}?(?:省|自治区|特别行政区)"
    ),
    re.compile(
        rf"{_name_chars('省市区县旗盟')}{{1,5}}?(?:市|地区|盟)|{_name_chars('省市区县旗盟')}{{1,10}}?自治州"
    ),
    re.compile(
        rf"{_name_chars('省区县旗盟')}{{1,5}}?(?:区|县|市)|{_name_chars('省区县旗盟')}{{1,8}}?旗|{_name_chars('省区县旗盟')}{{1,14}}?自治[县旗]"
    ),
)
_HAN_CHAR = re.compile(rf"[{_HAN}]")


def mask_address(value: object) -> str:
    """``广东省深圳市南山区科技园科苑路15号`` → ``广东省深圳市南山区****``: down to the district."""
    text = re.sub(r"\s+", "", _text(value))
    if not text:
        return ""
    levels = _rule("address")["keep_levels"]
    shown = ""
    position = 0
    for pattern in _ADDRESS_LEVELS[:levels]:
        match = pattern.match(text, position)
        if match is not None and all(_HAN_CHAR.fullmatch(ch) for ch in match.group()):
            shown += match.group()
            position = match.end()
    return shown + HIDDEN_RUN


def mask_full(value: object) -> str:
    """Everything hidden: ``****`` for any non-empty value (the length is not shown either)."""
    return HIDDEN_RUN if _text(value) else ""


MASKS: dict[str, Callable[[object], str]] = {
    "card": mask_card,
    "mobile": mask_mobile,
    "id_number": mask_id_number,
    "name": mask_name,
    "account": mask_account,
    "email": mask_email,
    "address": mask_address,
    "full": mask_full,
}


def mask(kind: str, value: object) -> str:
    """Mask ``value`` with the rule for ``kind`` (one of ``MASKS``)."""
    try:
        function = MASKS[kind]
    except KeyError as error:
        raise UnknownMaskKind(kind) from error
    return function(value)

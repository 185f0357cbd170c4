"""The terms a customer's name is found by: characters, pairs of characters, pinyin and initials.

Kinds (``CustomerSearchTerm.Kind``):

* ``s`` the first character and the first pair (the surname, or the start of the name), so
  names that *start* with what was typed rank above names that merely contain it;
* ``c`` every other character and pair of adjacent characters of the normalized name. A
  character or pair at the start is an ``s`` term only, even when it occurs again later: a name
  *contains* a fragment when it has the fragment as ``c`` or ``s``. Two terms fewer per name
  than keeping both (an import of a million customers writes 2 million rows fewer, each with
  two index entries); the search's "contains" tier for a one- or two-character fragment reads
  ``c`` alone, since every ``s`` match was the tier before.
* ``p`` the full pinyin (``zhangsan``); Latin names: the whole name and each word;
* ``i`` the pinyin initials (``zs``); Latin names of several words: the first letters.

pypinyin reads heteronym surnames as common words (单 → dan, 曾 → ceng); as surnames they are read
shàn, zēng …, so the surname is looked up in SURNAME_READINGS first. Per-character pinyin is
memoized (an import of a million names repeats a few thousand characters); a given name with a
heteronym character is read as a phrase, so pypinyin's phrase table can pick the reading.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache

from django.db.models import OuterRef, Subquery
from pypinyin import Style, lazy_pinyin, pinyin

from fincrm.customers.models import Customer, CustomerSearchTerm
from fincrm.security.masking import COMPOUND_SURNAMES

Kind = CustomerSearchTerm.Kind

# Readings of heteronym characters when they are a surname (GB/T 28039 and common usage). Only
# entries where pypinyin's default reading differs matter; the others document the choice.
SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "单": ("shan",),
    "曾": ("zeng",),
    "解": ("xie",),
    "仇": ("qiu",),
    "查": ("zha",),
    "区": ("ou",),
    "朴": ("piao",),
    "盖": ("ge",),
    "任": ("ren",),
    "乐": ("yue",),
    "繁": ("po",),
    "员": ("yun",),
    "纪": ("ji",),
    "缪": ("miao",),
    "秘": ("bi",),
    "种": ("chong",),
    "重": ("chong",),
    "燕": ("yan",),
    "葛": ("ge",),
    "黑": ("he",),
    "宓": ("mi",),
    "洗": ("xian",),
    "冼": ("xian",),
    "覃": ("qin",),
    "召": ("shao",),
    "相": ("xiang",),
    "过": ("guo",),
    "句": ("gou",),
    "祭": ("zhai",),
    "谌": ("chen",),
    "沈": ("shen",),
    "藏": ("zang",),
    "贲": ("ben",),
    "翟": ("zhai",),
    "柏": ("bai",),
    "薄": ("bo",),
    "蕃": ("pi",),
    "长": ("chang",),
    "折": ("she",),
    "阚": ("kan",),
    "隗": ("wei",),
    "郇": ("xun",),
    "能": ("nai",),
    "卜": ("bu",),
    "粘": ("nian",),
    "都": ("du",),
    "乜": ("nie",),
    "佴": ("nai",),
    "莘": ("shen",),
    # Compound surnames (COMPOUND_SURNAMES) whose characters read differently inside them.
    "尉迟": ("yu", "chi"),
    "万俟": ("mo", "qi"),
    "长孙": ("zhang", "sun"),
    "单于": ("chan", "yu"),
    "澹台": ("tan", "tai"),
}

MAX_TERM_LENGTH = CustomerSearchTerm._meta.get_field("term").max_length or 64

# Control characters, surrogates and unassigned code points never reach a term (PostgreSQL
# refuses NUL, UTF-8 cannot encode a lone surrogate).
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Cn", "Co"})


def is_han(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


def normalize_name(name: str) -> str:
    """NFKC, spaces and control characters removed, lower case: what terms and queries compare."""
    text = unicodedata.normalize("NFKC", name).lower()
    return "".join(
        char for char in text if not char.isspace() and unicodedata.category(char) not in _DROPPED_CATEGORIES
    )


@lru_cache(maxsize=65536)
def char_pinyin(char: str) -> str:
    reading = lazy_pinyin(char, style=Style.NORMAL, errors="ignore")
    return reading[0] if reading else ""


@lru_cache(maxsize=65536)
def is_heteronym(char: str) -> bool:
    readings = pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore")
    return bool(readings) and len(set(readings[0])) > 1


def surname_length(name: str) -> int:
    return 2 if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES else 1


def _given_name_syllables(given: str) -> list[str]:
    if any(is_heteronym(char) for char in given):
        readings = lazy_pinyin(given, style=Style.NORMAL, errors="ignore")
        if len(readings) == len(given):
            return readings
    return [char_pinyin(char) for char in given]


def name_syllables(name: str) -> list[str]:
    """Pinyin syllables of a Chinese name, the surname read as a surname; [] for other names."""
    text = normalize_name(name)
    if not text or not all(is_han(char) for char in text):
        return []
    head = surname_length(text)
    surname = text[:head]
    syllables = list(SURNAME_READINGS.get(surname) or [char_pinyin(char) for char in surname])
    syllables += _given_name_syllables(text[head:])
    return [syllable for syllable in syllables if syllable]


# A name's pinyin is wanted twice in a row (name_pinyin, then terms_for_name, for the same name);
# a company name's phrase reading costs ~65 us each time.
@lru_cache(maxsize=1024)
def _syllables_and_initials(name: str) -> tuple[str, str]:
    syllables = name_syllables(name)
    return "".join(syllables), "".join(syllable[0] for syllable in syllables)


def name_pinyin(name: str) -> str:
    """Full pinyin of a name without spaces (``zhangsan``); the normalized name for other scripts."""
    full, _initials = _syllables_and_initials(name)
    return (full or normalize_name(name))[:400]


def fragment_terms(text: str) -> set[tuple[str, str]]:
    """The ``s`` and ``c`` terms of a normalized, non-empty name (see the module's docstring)."""
    starts = {text[:1], text[:2]}
    terms: set[tuple[str, str]] = {(Kind.START, fragment) for fragment in starts}
    for index, char in enumerate(text):
        if char not in starts:
            terms.add((Kind.CHARACTERS, char))
        pair = text[index : index + 2]
        if len(pair) == 2 and pair not in starts:
            terms.add((Kind.CHARACTERS, pair))
    return terms


def terms_for_name(name: str) -> set[tuple[str, str]]:
    """(kind, term) pairs a name is found by."""
    text = normalize_name(name)
    if not text:
        return set()
    terms = fragment_terms(text)
    full, initials = _syllables_and_initials(name)
    if full:
        terms.add((Kind.PINYIN, full[:MAX_TERM_LENGTH]))
        terms.add((Kind.INITIALS, initials[:MAX_TERM_LENGTH]))
    else:
        # Latin names: the whole name and each word, found by prefix; several words, the initials.
        terms.add((Kind.PINYIN, text[:MAX_TERM_LENGTH]))
        words = [normalize_name(word) for word in unicodedata.normalize("NFKC", name).split()]
        words = [word for word in words if word]
        for word in words:
            terms.add((Kind.PINYIN, word[:MAX_TERM_LENGTH]))
        if len(words) > 1:
            terms.add((Kind.INITIALS, "".join(word[0] for word in words)[:MAX_TERM_LENGTH]))
    return terms


def refresh_search_terms(customers: Iterable[Customer]) -> None:
    """Replace the search terms of ``customers`` (called by every service that writes a name).
    Each term's ``rank`` is the customer's AUM, the order search reads the matches of a term in."""
    customers = list(customers)
    if not customers:
        return
    CustomerSearchTerm.objects.filter(customer_id__in=[c.pk for c in customers]).delete()
    CustomerSearchTerm.objects.bulk_create(
        [
            CustomerSearchTerm(customer_id=customer.pk, kind=kind, term=term, rank=_aum(customer))
            for customer in customers
            for kind, term in sorted(terms_for_name(customer.name))
        ],
        batch_size=2000,
    )
    unknown = [customer.pk for customer in customers if "aum" in customer.get_deferred_fields()]
    if unknown:
        CustomerSearchTerm.objects.filter(customer_id__in=unknown).update(
            rank=Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("aum")[:1])
        )


def _aum(customer: Customer) -> Decimal:
    """The AUM the instance holds (0 when it was not loaded: read from the table after)."""
    if "aum" in customer.get_deferred_fields() or customer.aum is None:
        return Decimal(0)
    return Decimal(customer.aum)

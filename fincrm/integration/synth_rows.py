"""Row generation of the synthetic bank: pure functions of (seed, customer index), no database.

Runs in worker processes (forked) on PostgreSQL, so it never touches the keyring or a connection:
the caller hands over the raw data and index keys (:class:`Keys`) and gets back column tuples
(SQLite) or COPY text (PostgreSQL). Every random draw comes from a ``random.Random`` seeded by
(seed, chunk), so the output does not depend on how chunks are spread over workers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import math
import os
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fincrm.customers.identity import resident_id_check_character
from fincrm.customers.search_terms import (
    MAX_TERM_LENGTH,
    SURNAME_READINGS,
    _given_name_syllables,
    char_pinyin,
    fragment_terms,
    name_pinyin,
    surname_length,
    terms_for_name,
)
from fincrm.integration.demo import (
    COMPANY_WORDS,
    INDUSTRIES,
    card_number,
    uscc_for,
)
from fincrm.security.keyring import NONCE_BYTES, TOKEN_VERSION

# Shares of the population in per mille (2020 census, rounded), the 100 most common surnames plus
# heteronym surnames (read differently as surnames: 单 shàn, 曾 zēng, 解 xiè, 仇 qiú …) and
# compound ones; the rest of the weight goes to RARE_SURNAMES (the long tail).
SURNAME_WEIGHTS: dict[str, float] = {
    "王": 71, "李": 70, "张": 70, "刘": 54, "陈": 45, "杨": 31, "黄": 25, "赵": 20, "吴": 20, "周": 19,
    "徐": 15, "孙": 15, "马": 13, "朱": 13, "胡": 12, "郭": 11, "何": 11, "林": 10, "高": 10, "罗": 9,
    "郑": 9, "梁": 8, "谢": 8, "宋": 7, "唐": 7, "许": 7, "韩": 7, "冯": 6, "邓": 6, "曹": 6,
    "彭": 6, "曾": 6, "肖": 5, "田": 5, "董": 5, "袁": 5, "潘": 4, "于": 4, "蒋": 4, "蔡": 4,
    "余": 4, "杜": 4, "叶": 4, "程": 4, "苏": 3, "魏": 3, "吕": 3, "丁": 3, "任": 3, "沈": 3,
    "姚": 3, "卢": 3, "姜": 3, "崔": 3, "钟": 3, "谭": 3, "陆": 3, "汪": 2, "范": 2, "金": 2,
    "石": 2, "廖": 2, "贾": 2, "夏": 2, "韦": 2, "付": 2, "方": 2, "白": 2, "邹": 2, "孟": 2,
    "熊": 2, "秦": 2, "邱": 2, "江": 2, "尹": 2, "薛": 2, "闫": 2, "段": 2, "雷": 2, "侯": 2,
    "龙": 2, "史": 2, "陶": 1, "黎": 1, "贺": 1, "顾": 1, "毛": 1, "郝": 1, "龚": 1, "邵": 1,
    "单": 0.5, "解": 0.3, "仇": 0.2, "查": 0.3, "区": 0.2, "朴": 0.3, "盖": 0.2, "乐": 0.3,
    "缪": 0.3, "翟": 0.5, "覃": 0.5, "召": 0.1, "种": 0.1,
    "欧阳": 0.5, "司马": 0.2, "上官": 0.2, "诸葛": 0.1, "尉迟": 0.1, "令狐": 0.1, "慕容": 0.1,
    "东方": 0.1, "皇甫": 0.1, "长孙": 0.05,
}  # fmt: skip
RARE_SURNAMES = "万严武戴莫孔向常汤康易乔赖文颜洪钱柳童凌庞樊左殷温葛伍申"
# Given-name characters, most common first (drawn by a Zipf law).
GIVEN = (
    "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红建国志文辉鹏飞斌宇浩凯健俊帆帅旭宁"
    "龙林欣晨瑞博晓东雪梅海燕春秋子涵梓轩一诺怡思雨嘉佳琪鑫宏亮成家豪天佑阳丹婷雅琴德福"
    "光荣永胜金凤淑珍芝云振长江朝乐田"
)
OCCUPATIONS = (
    "职员",
    "教师",
    "工程师",
    "医生",
    "个体经营者",
    "公务员",
    "销售",
    "退休人员",
    "自由职业",
    "企业主",
)
INCOME_BANDS = ("lt_100k", "100k_300k", "300k_1m", "gt_1m")
# Products of the synthetic catalog: code suffix, name, type, risk, currency, term days, private, issuer.
PRODUCTS = (
    ("DEP-3M", "三个月定期存款", "deposit", "R1", "CNY", 90, False, "合成银行"),
    ("DEP-1Y", "一年期定期存款", "deposit", "R1", "CNY", 365, False, "合成银行"),
    ("DEP-3Y", "三年期大额存单", "deposit", "R1", "CNY", 1095, False, "合成银行"),
    ("WM-CASH", "天天利现金管理", "wealth", "R1", "CNY", None, False, "合成理财有限责任公司"),
    ("WM-90", "稳健90天理财", "wealth", "R2", "CNY", 90, False, "合成理财有限责任公司"),
    ("WM-365", "增利一年期理财", "wealth", "R3", "CNY", 365, False, "合成理财有限责任公司"),
    ("WM-USD", "美元稳健理财", "wealth", "R2", "USD", 180, False, "合成理财有限责任公司"),
    ("WM-PRIV", "私享权益增强理财", "wealth", "R4", "CNY", 730, True, "合成理财有限责任公司"),
    ("FD-MMF", "合成货币市场基金", "fund", "R1", "CNY", None, False, "合成基金管理有限公司"),
    ("FD-BOND", "合成纯债债券基金", "fund", "R2", "CNY", None, False, "合成基金管理有限公司"),
    ("FD-MIX", "合成均衡混合基金", "fund", "R3", "CNY", None, False, "合成基金管理有限公司"),
    ("FD-EQ", "合成成长股票基金", "fund", "R4", "CNY", None, False, "合成基金管理有限公司"),
    ("FD-QDII", "合成全球科技QDII基金", "fund", "R4", "USD", None, False, "合成基金管理有限公司"),
    ("FD-PE", "合成私募股权基金", "fund", "R5", "CNY", 1825, True, "合成私募基金管理有限公司"),
    ("SEC-A", "A股证券组合", "securities", "R4", "CNY", None, False, "合成证券股份有限公司"),
    ("SEC-HK", "港股通证券组合", "securities", "R5", "HKD", None, False, "合成证券股份有限公司"),
    ("INS-ANN", "金色年华年金保险", "insurance", "R1", "CNY", 3650, False, "合成人寿保险股份有限公司"),
    ("INS-UL", "稳赢万能险", "insurance", "R2", "CNY", None, False, "合成人寿保险股份有限公司"),
    ("LN-MORT", "个人住房贷款", "loan", "R1", "CNY", 9125, False, "合成银行"),
    ("LN-CORP", "流动资金贷款", "loan", "R1", "CNY", 365, False, "合成银行"),
    ("CARD-STD", "合成银联信用卡", "card", "R1", "CNY", None, False, "合成银行"),
)
INVESTABLE = tuple(spec for spec in PRODUCTS if spec[2] not in ("loan", "card"))

CORPORATE_EVERY = 20  # customer n is a corporate when n % 20 == 19: 5 %
HOUSEHOLD_EVERY = 20  # a household starts at every 20th position of a manager's book
GROUP_SIZE = 10  # corporates k, k+1, k+2, k+3 (k % 10 == 0) form a group under k
ID_DAYS = 25_000  # birth dates spread over 1940-01-01 + 25,000 days (to 2008-06)
ID_EPOCH = date(1940, 1, 1)
_LARGE_PRIMES = (1_000_003, 998_244_353, 1_000_000_007, 2_147_483_647)


@dataclass(frozen=True)
class Keys:
    data_key_id: str
    data_key: bytes
    index_key_id: str
    index_key: bytes
    store_full_card_numbers: bool = False


@dataclass(frozen=True)
class Manager:
    user_id: int
    team_id: int
    org_unit_id: int
    region: str
    city: str


@dataclass(frozen=True)
class Layout:
    """Everything a worker needs to make the rows of customers ``[start, stop)``."""

    seed: int
    customers: int
    base_id: int  # customer n has id base_id + n
    household_base_id: int  # household of position p has id household_base_id + p // HOUSEHOLD_EVERY
    managers: tuple[Manager, ...]
    products: dict[str, int]  # code -> id
    keys: Keys
    today: date
    now: datetime
    number_prefix: str = "SY"
    tables: dict[str, str] = field(default_factory=dict)  # logical name -> db table


# ---------------------------------------------------------------- the book: who covers whom


def permutation(customers: int, seed: int) -> tuple[int, int, int]:
    """(multiplier, offset, inverse): position p = (n * multiplier + offset) mod N is a bijection,
    so each manager's book (a contiguous run of positions) is scattered over customer numbers."""
    multiplier = next(prime for prime in _LARGE_PRIMES if customers % prime != 0)
    offset = seed % customers if customers else 0
    return multiplier, offset, pow(multiplier, -1, customers) if customers > 1 else 0


def position_of(n: int, layout: Layout, perm: tuple[int, int, int]) -> int:
    return (n * perm[0] + perm[1]) % layout.customers


def customer_at(position: int, layout: Layout, perm: tuple[int, int, int]) -> int:
    return ((position - perm[1]) * perm[2]) % layout.customers


def manager_index(position: int, layout: Layout) -> int:
    return position * len(layout.managers) // layout.customers


def is_corporate(n: int) -> bool:
    return n % CORPORATE_EVERY == CORPORATE_EVERY - 1


# ---------------------------------------------------------------- identifiers


def resident_id(n: int, region: str) -> str:
    """A valid GB 11643 number, unique per n: (birth day, sequence) is an injection of n."""
    born = ID_EPOCH + timedelta(days=(n * 7919) % ID_DAYS)
    sequence = n // ID_DAYS % 1000
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return body + resident_id_check_character(body)


def mobile_number(n: int, seed: int) -> str:
    """E.164 mainland mobile, unique per n (an affine bijection modulo 10**9)."""
    return f"+861{'3456789'[n % 7]}{(n * 7_919_813 + seed * 104_729) % 10**9:09d}"


def _surname_table() -> tuple[list[str], list[float]]:
    names = list(SURNAME_WEIGHTS) + list(RARE_SURNAMES)
    rest = max(1000.0 - sum(SURNAME_WEIGHTS.values()), 1.0) / len(RARE_SURNAMES)
    cumulative: list[float] = []
    total = 0.0
    for weight in [*SURNAME_WEIGHTS.values(), *([rest] * len(RARE_SURNAMES))]:
        total += weight
        cumulative.append(total)
    return names, cumulative


_SURNAMES, _SURNAME_CUMULATIVE = _surname_table()
_GIVEN_CUMULATIVE = list(itertools.accumulate(1 / rank for rank in range(1, len(GIVEN) + 1)))


def person_name(rng: random.Random) -> str:
    surname = rng.choices(_SURNAMES, cum_weights=_SURNAME_CUMULATIVE)[0]
    length = 1 if rng.random() < 0.2 else 2  # one-character given names: about a fifth of people
    return surname + "".join(rng.choices(GIVEN, cum_weights=_GIVEN_CUMULATIVE, k=length))


@lru_cache(maxsize=4096)
def _surname_syllables(surname: str) -> tuple[str, ...]:
    return tuple(SURNAME_READINGS.get(surname) or [char_pinyin(char) for char in surname])


@lru_cache(maxsize=200_000)
def _given_syllables(given: str) -> tuple[str, ...]:
    return tuple(_given_name_syllables(given))


def name_terms(name: str) -> tuple[str, list[tuple[str, str]]]:
    """(name_pinyin, search terms) of a generated Chinese name: what ``name_pinyin`` and
    ``terms_for_name`` give (the tests compare them on thousands of names), memoized by surname and
    by given name, as a million names share a few hundred surnames and some 20,000 given names."""
    head = surname_length(name)
    syllables = [s for s in (*_surname_syllables(name[:head]), *_given_syllables(name[head:])) if s]
    full = "".join(syllables)
    initials = "".join(syllable[0] for syllable in syllables)
    terms = fragment_terms(name)
    terms.update((("p", full[:MAX_TERM_LENGTH]), ("i", initials[:MAX_TERM_LENGTH])))
    return full[:400], sorted(terms)


@lru_cache(maxsize=4096)
def _company_terms(name: str) -> tuple[str, list[tuple[str, str]]]:
    return name_pinyin(name), sorted(terms_for_name(name))


# ---------------------------------------------------------------- sealing (no keyring in workers)


def row_uid() -> str:
    """A random (version 4) UUID in canonical text, without uuid.UUID's parsing per row."""
    text = os.urandom(16).hex()
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{'89ab'[int(text[16], 16) & 3]}{text[17:20]}-{text[20:]}"


class Sealer:
    """EncryptedTextField.encrypt_for and blind_index with raw keys: same token format, key,
    associated data and HMAC input (checked against the real functions by the caller and the
    tests), none of the keyring's per-call bookkeeping. Values come already in normal form."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.aead = AESGCM(keys.data_key)
        self.prefix = f"{TOKEN_VERSION}:{keys.data_key_id}:"
        self.index_prefix = f"{keys.index_key_id}:"

    def seal(self, table: str, column: str, uid: str, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.aead.encrypt(nonce, plaintext.encode(), f"fincrm:v1:{table}:{column}:{uid}".encode())
        return f"{self.prefix}{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"

    def index(self, normalized: str, purpose: str) -> str:
        message = purpose.encode() + b"\x00" + normalized.encode()
        return self.index_prefix + hmac.digest(self.keys.index_key, message, "sha256").hex()


# ---------------------------------------------------------------- one chunk of customers


@dataclass
class Chunk:
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    terms: list[tuple[Any, ...]] = field(default_factory=list)
    accounts: list[tuple[Any, ...]] = field(default_factory=list)
    holdings: list[tuple[Any, ...]] = field(default_factory=list)
    households: list[tuple[Any, ...]] = field(default_factory=list)
    members: list[tuple[Any, ...]] = field(default_factory=list)


CUSTOMER_COLUMNS = (
    "id", "created_at", "updated_at", "row_uid", "customer_number", "kind", "status", "name",
    "name_pinyin", "id_type", "id_number", "id_number_bidx", "id_expires_on", "gender", "birth_date",
    "nationality", "mobile", "mobile_bidx", "email", "email_bidx", "address", "occupation", "employer",
    "income_band", "source_of_funds", "industry", "aml_risk_rating", "aml_next_review_on",
    "risk_tolerance", "risk_assessed_on", "risk_expires_on", "is_professional_investor",
    "professional_evidence", "lifecycle_stage", "source_channel", "value_tier", "aum", "aum_updated_at",
    "org_unit_id", "primary_manager_id", "covering_team_id", "parent_company_id", "merged_into_id",
    "restricted_until",
)  # fmt: skip
TERM_COLUMNS = ("customer_id", "kind", "term")
ACCOUNT_COLUMNS = (
    "created_at", "updated_at", "row_uid", "customer_id", "kind", "product_id", "account_number",
    "account_number_bidx", "number_last4", "card_first6", "currency", "balance", "opened_on",
    "org_unit_id", "status",
)  # fmt: skip
HOLDING_COLUMNS = (
    "created_at", "updated_at", "customer_id", "account_id", "product_id", "amount", "currency",
    "market_value", "cash_value", "start_date", "maturity_date",
)  # fmt: skip
HOUSEHOLD_COLUMNS = ("id", "created_at", "updated_at", "name", "org_unit_id")
MEMBER_COLUMNS = ("created_at", "updated_at", "household_id", "customer_id", "role")

_CENT = Decimal("0.01")


def _money(rng: random.Random, mu: float, sigma: float, cap: float = 5e7) -> Decimal:
    return Decimal(f"{min(rng.lognormvariate(mu, sigma), cap):.2f}")


def _chunk_rng(seed: int, start: int) -> random.Random:
    return random.Random(f"fincrm-synth:{seed}:{start}")  # noqa: S311 - test data, not a secret


def make_chunk(layout: Layout, start: int, stop: int) -> Chunk:
    """Rows of customers ``start`` to ``stop - 1`` (customer index n, id ``base_id + n``)."""
    rng = _chunk_rng(layout.seed, start)
    perm = permutation(layout.customers, layout.seed)
    sealer = Sealer(layout.keys)
    customer_table, account_table = layout.tables["customer"], layout.tables["account"]
    chunk = Chunk()
    now, today = layout.now, layout.today
    for n in range(start, stop):
        position = position_of(n, layout, perm)
        manager = layout.managers[manager_index(position, layout)]
        customer_id = layout.base_id + n
        uid = row_uid()
        corporate = is_corporate(n)
        number = f"{layout.number_prefix}{n + 1:010d}"
        aml = rng.choices(("low", "medium", "high"), cum_weights=(85, 97, 100))[0]
        review = today + timedelta(days=rng.randrange(30, 180 if aml == "high" else 720))
        channel = rng.choices(
            ("branch", "online", "referral", "campaign", "partner"), cum_weights=(50, 75, 87, 95, 100)
        )[0]
        parent_id = None
        if corporate:
            k = n // CORPORATE_EVERY
            words = "".join(rng.sample(COMPANY_WORDS, 2))
            suffix, industry = INDUSTRIES[k % len(INDUSTRIES)]
            name = f"{manager.city}{words}{suffix}有限公司"
            pinyin, terms = _company_terms(name)
            if k % GROUP_SIZE in (1, 2, 3):
                parent_id = layout.base_id + (k - k % GROUP_SIZE) * CORPORATE_EVERY + CORPORATE_EVERY - 1
            id_type, id_number = "uscc", uscc_for(manager.region, 10_000_000 + k)
            mobile = None
            gender = birth = tolerance = assessed = expires = None
            occupation, income = "", ""
        else:
            industry = ""
            name = person_name(rng)
            pinyin, terms = name_terms(name)
            id_type, id_number = "resident_id", resident_id(n, manager.region)
            birth = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
            gender = "male" if int(id_number[16]) % 2 else "female"
            mobile = mobile_number(n, layout.seed)
            tolerance = rng.choices(("C1", "C2", "C3", "C4", "C5"), cum_weights=(15, 45, 75, 93, 100))[0]
            assessed = today - timedelta(days=rng.randrange(500))
            expires = assessed + timedelta(days=365)
            occupation = rng.choice(OCCUPATIONS)
            income = rng.choices(INCOME_BANDS, cum_weights=(45, 80, 96, 100))[0]
        chunk.customers.append(
            (
                customer_id, now, now, uid, number, "corporate" if corporate else "individual",
                "active", name, pinyin, id_type,
                sealer.seal(customer_table, "id_number", uid, id_number),
                sealer.index(id_number, "id_number"), None, gender or "", birth, "CHN",
                sealer.seal(customer_table, "mobile", uid, mobile) if mobile else None,
                sealer.index(mobile, "mobile") if mobile else None, None, None, None, occupation, "",
                income, "", industry, aml, review, tolerance or "", assessed, expires, False, "",
                "customer", channel, "mass", Decimal("0.00"), None, manager.org_unit_id,
                manager.user_id, manager.team_id, parent_id, None, None,
            )
        )  # fmt: skip
        chunk.terms.extend((customer_id, kind, term) for kind, term in terms)
        _accounts(chunk, layout, sealer, account_table, rng, n, customer_id, corporate, manager)
        _holdings(chunk, layout, rng, customer_id, corporate)
        if not corporate and position % HOUSEHOLD_EVERY == 0:
            _household(chunk, layout, perm, rng, n, position, name, manager)
    return chunk


def _accounts(
    chunk: Chunk,
    layout: Layout,
    sealer: Sealer,
    table: str,
    rng: random.Random,
    n: int,
    customer_id: int,
    corporate: bool,
    manager: Manager,
) -> None:
    specs: list[tuple[str, Decimal, str, str | None]] = [
        ("deposit", _money(rng, 13.5 if corporate else 10.3, 1.5), "CNY", None)
    ]
    if rng.random() < (0.3 if corporate else 0.08):
        specs.append(("deposit", _money(rng, 10 if corporate else 8.5, 1.0), "USD", None))
    if corporate:
        if rng.random() < 0.4:
            specs.append(("loan", _money(rng, 15, 0.8), "CNY", "LN-CORP"))
    else:
        if rng.random() < 0.35:
            specs.append(("credit_card", _money(rng, 8, 1.0, cap=2e5), "CNY", "CARD-STD"))
        if rng.random() < 0.1:
            specs.append(("loan", _money(rng, 13.5, 0.6), "CNY", "LN-MORT"))
        if rng.random() < 0.15:
            specs.append(("securities", _money(rng, 9, 1.2), "CNY", None))
    opened = layout.today - timedelta(days=rng.randrange(400, 6000))
    for j, (kind, balance, currency, product) in enumerate(specs):
        serial = n * 8 + j
        uid = row_uid()
        if kind == "credit_card":
            digits = card_number(serial)
            stored = digits if layout.keys.store_full_card_numbers else None
            last4, first6 = digits[-4:], digits[:6]
        else:
            digits = f"6217{serial:015d}"
            stored, last4, first6 = digits, digits[-4:], ""
        chunk.accounts.append(
            (
                layout.now, layout.now, uid, customer_id, kind,
                layout.products[f"SY-{product}"] if product else None,
                sealer.seal(table, "account_number", uid, stored) if stored else None,
                sealer.index(digits, "account_number"), last4, first6, currency, balance,
                opened + timedelta(days=j * 30), manager.org_unit_id, "active",
            )
        )  # fmt: skip


def _holdings(chunk: Chunk, layout: Layout, rng: random.Random, customer_id: int, corporate: bool) -> None:
    if rng.random() > (0.3 if corporate else 0.55):
        return
    for code, _name, kind, _risk, currency, term, _private, _issuer in rng.sample(
        INVESTABLE, rng.choice((1, 1, 2, 3))
    ):
        amount = _money(rng, 11.8, 1.1)
        if term:
            remaining = rng.randint(1, min(90, term)) if rng.random() < 0.3 else rng.randint(1, term)
            maturity: date | None = layout.today + timedelta(days=remaining)
            assert maturity is not None
            start = maturity - timedelta(days=term)
        else:
            maturity = None
            start = layout.today - timedelta(days=rng.randrange(30, 540))
        market_value = (amount * Decimal(f"{rng.uniform(0.92, 1.15):.4f}")).quantize(_CENT)
        cash_value = None
        if kind == "insurance":
            cash_value = (amount * Decimal(f"{rng.uniform(0.6, 1.05):.4f}")).quantize(_CENT)
            market_value = amount
        chunk.holdings.append(
            (
                layout.now, layout.now, customer_id, None, layout.products[f"SY-{code}"], amount, currency,
                market_value, cash_value, start, maturity,
            )
        )  # fmt: skip


def _household(
    chunk: Chunk,
    layout: Layout,
    perm: tuple[int, int, int],
    rng: random.Random,
    n: int,
    position: int,
    name: str,
    manager: Manager,
) -> None:
    """The customer at a manager's position p (p % 20 == 0) heads a household with the individuals
    at p + 1 (and p + 2 for every other one) when they are in the same manager's book."""
    own = manager_index(position, layout)
    size = 3 if rng.random() < 0.4 else 2
    members = []
    for step in range(1, size):
        other_position = position + step
        if other_position >= layout.customers or manager_index(other_position, layout) != own:
            break
        other = customer_at(other_position, layout, perm)
        if is_corporate(other):
            break
        members.append(other)
    if not members:
        return
    household_id = layout.household_base_id + position // HOUSEHOLD_EVERY
    now = layout.now
    chunk.households.append(
        (household_id, now, now, f"{name[: surname_length(name)]}家", manager.org_unit_id)
    )
    chunk.members.append((now, now, household_id, layout.base_id + n, "head"))
    for other in members:
        chunk.members.append((now, now, household_id, layout.base_id + other, "member"))


# ---------------------------------------------------------------- COPY text


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: Any) -> str:
    kind = type(value)
    if kind is str:  # the common case first: this runs once per cell of millions of rows
        return value.translate(_ESCAPES) if _NEEDS_ESCAPE.search(value) else value
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is datetime or kind is date:
        return value.isoformat()
    return str(value)


def copy_text(rows: Sequence[tuple[Any, ...]]) -> bytes:
    return "".join("\t".join(map(_copy_value, row)) + "\n" for row in rows).encode("utf-8")


def chunk_copy_text(layout: Layout, start: int, stop: int) -> tuple[int, dict[str, tuple[int, bytes]]]:
    """``make_chunk`` as COPY text per table: what a worker process hands back."""
    chunk = make_chunk(layout, start, stop)
    # Terms are normalized names (no tab, newline or backslash): formatted directly.
    terms = "".join(f"{customer}\t{kind}\t{term}\n" for customer, kind, term in chunk.terms).encode()
    return start, {
        "term": (len(chunk.terms), terms),
    } | {
        table: (len(rows), copy_text(rows))
        for table, rows in (
            ("customer", chunk.customers),
            ("account", chunk.accounts),
            ("holding", chunk.holdings),
            ("household", chunk.households),
            ("member", chunk.members),
        )
    }


def chunks(customers: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, customers, size):
        yield start, min(customers, start + size)


# ---------------------------------------------------------------- transactions (the Python twin of the SQL)

HOUR_WEIGHTS = (
    0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.5, 2.5, 3.0, 3.0,
    2.2, 2.0, 2.6, 2.8, 2.6, 2.2, 1.8, 1.9, 2.0, 1.6, 0.9, 0.5,
)  # fmt: skip
DAY_SLOTS = 4096
HOUR_SLOTS = 1024
STRUCTURING_PER_MILLE = 5  # customers making several cash deposits just below CNY 50,000 on one day
ABOVE_THRESHOLD_PER_10K = 20  # rows that are one cash deposit just above CNY 50,000


def day_weight(day: date) -> float:
    """Monthly and weekly seasonality: salary days, month ends, weekends, Spring Festival, Double 11."""
    weight = 0.7 if day.weekday() >= 5 else 1.0
    if day.day in (10, 15):
        weight *= 1.6
    elif day.day <= 3:
        weight *= 1.2
    elif (day + timedelta(days=3)).month != day.month:
        weight *= 1.3
    weight *= {1: 1.25, 2: 1.2, 6: 1.05, 11: 1.15, 12: 1.1}.get(day.month, 1.0)
    return weight


def _slots(weights: Sequence[float], count: int) -> list[int]:
    """``count`` slots, each naming an index of ``weights`` in proportion to its weight."""
    total = sum(weights)
    slots: list[int] = []
    cumulative = 0.0
    for index, weight in enumerate(weights):
        cumulative += weight
        while len(slots) < round(cumulative / total * count):
            slots.append(index)
    return (slots + [len(weights) - 1] * count)[:count]


def day_slots(today: date) -> list[int]:
    """Day offsets back from ``today`` (0 to 364), weighted by seasonality."""
    return _slots([day_weight(today - timedelta(days=offset)) for offset in range(365)], DAY_SLOTS)


def hour_slots() -> list[int]:
    return _slots(HOUR_WEIGHTS, HOUR_SLOTS)


def _hash64(seed: int, text: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class TransactionAccount:
    account_id: int
    customer_id: int
    kind: str
    currency: str
    rank: int  # the account's position among the customer's transacting accounts
    count: int  # how many transacting accounts the customer has
    ordinal: int  # the customer's position in the synthetic book: hashes use it, never database ids


def _lognormal(bits: int, mu: float, sigma: float, cap: float) -> Decimal:
    u1 = ((bits & 0xFFFFF) + 1) / (2**20 + 1)
    u2 = ((bits >> 20) & 0xFFFFF) / 2**20
    z = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
    return Decimal(f"{min(math.exp(mu + sigma * z), cap):.2f}")


def transaction_rows(
    account: TransactionAccount,
    per_customer: int,
    seed: int,
    midnight: datetime,
    days: list[int],
    hours: list[int],
) -> Iterator[dict[str, Any]]:
    """The transactions of one account (SQLite path; the PostgreSQL statement in synth.py makes
    the same decisions from hashtextextended)."""
    count = per_customer // account.count + (1 if account.rank < per_customer % account.count else 0)
    structuring = _hash64(seed + 2, str(account.ordinal)) & 1023 < STRUCTURING_PER_MILLE * 1024 // 1000
    structuring_day = (_hash64(seed + 3, str(account.ordinal)) & 0x7FFFFFFF) % 365
    for i in range(1, count + 1):
        h1 = _hash64(seed, f"{account.ordinal}:{account.rank}:{i}")
        h2 = _hash64(seed + 1, f"{account.ordinal}:{account.rank}:{i}")
        day = days[h1 & (DAY_SLOTS - 1)]
        seconds = hours[(h1 >> 12) & (HOUR_SLOTS - 1)] * 3600 + ((h1 >> 22) & 4095) % 3600
        pick = (h1 >> 34) & 1023
        cross_border = False
        if account.kind == "credit_card":
            kind, channel, direction = "card", "pos", "out"
            amount = _lognormal(h2 >> 10, 6.5, 1.2, 2e5)
        elif structuring and i <= 3 and account.currency == "CNY" and account.rank == 0:
            kind, channel, direction = "cash", "counter", "in"
            day = structuring_day
            amount = Decimal(45_000 + ((h2 >> 8) & 0x7FFFFFFF) % 500_000 / 100).quantize(_CENT)
        elif (h2 & 0x3FFF) < ABOVE_THRESHOLD_PER_10K * 16384 // 10_000 and account.currency == "CNY":
            kind, channel, direction = "cash", "counter", "in" if (h2 >> 14) & 1 else "out"
            amount = Decimal(50_000 + ((h2 >> 15) & 0x7FFFFFFF) % 100_000 / 100).quantize(_CENT)
        else:
            if pick < 512:
                kind = "transfer"
            elif pick < 665:
                kind = "cash"
            elif pick < 921:
                kind = "card"
            elif pick < 972:
                kind = "fee"
            else:
                kind = "interest"
            sub = (h1 >> 44) & 1023
            channel = {
                "cash": "counter" if sub < 400 else "atm",
                "card": "pos",
                "transfer": "mobile" if sub < 600 else ("online" if sub < 900 else "counter"),
            }.get(kind, "core")
            if kind == "interest":
                direction = "in"
            elif kind in ("card", "fee"):
                direction = "out"
            else:
                direction = "in" if ((h2 >> 50) & 1023) < 461 else "out"
            if kind in ("fee", "interest"):
                amount = _lognormal(h2 >> 10, 3.0, 1.0, 5e3)
            else:
                amount = _lognormal(h2 >> 10, 7.5, 1.6, 3e6)
            cross_border = kind == "transfer" and ((h1 >> 54) & 1023) < 31
        booked = midnight - timedelta(days=day) + timedelta(seconds=seconds)
        yield {
            "customer_id": account.customer_id,
            "account_id": account.account_id,
            "booked_at": booked,
            "amount": amount,
            "currency": account.currency,
            "direction": direction,
            "channel": channel,
            "transaction_type": kind,
            "cross_border": cross_border,
        }

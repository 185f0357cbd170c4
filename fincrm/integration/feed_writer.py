"""Writing feeds: ``FeedWriter`` (any feed, streamed) and ``synth_feed_write`` (a nightly feed for
the synthetic bank, ``fincrm synth-feed``).

``FeedWriter`` writes each entity's CSV straight to disk while hashing it (memory does not grow
with the rows), then the manifest LAST through a temporary name and an atomic rename: a drop-folder
poller sees a feed only when it is complete.

The synthetic feed changes customers of the synthetic bank already in the database (``fincrm
synth``: customer n has the number ``SY{n+1:010d}`` and a first CNY deposit account numbered
``6217{8n:015d}``) and books new transactions on those accounts. Changed customers are individuals;
each row carries the key and four changed fields (mobile, address, occupation, AML risk rating) with
new values. Deterministic for (seed, sequence).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from zoneinfo import ZoneInfo

from fincrm.integration import synth_rows
from fincrm.integration.feeds import FORMAT, MANIFEST, ORDER
from fincrm.integration.synth import NUMBER_PREFIX

SHANGHAI = ZoneInfo("Asia/Shanghai")
CUSTOMER_HEADER = ("op", "customer_number", "mobile", "address", "occupation", "aml_risk_rating")
TRANSACTION_HEADER = (
    "op", "source_ref", "account_number", "booked_at", "business_date", "amount", "currency", "direction",
    "channel", "transaction_type", "cross_border",
)  # fmt: skip
STREETS = ("人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "文化路", "胜利路", "长江路", "滨江路")
DISTRICTS = (
    "东城区",
    "西城区",
    "朝阳区",
    "海淀区",
    "浦东新区",
    "天河区",
    "福田区",
    "西湖区",
    "武侯区",
    "江汉区",
)
CITIES = ("北京市", "上海市", "广州市", "深圳市", "杭州市", "南京市", "成都市", "武汉市", "西安市", "天津市")


class _HashingFile:
    """A binary file that hashes and counts what is written to it."""

    def __init__(self, path: Path) -> None:
        self.handle: IO[bytes] = path.open("wb")
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.handle.write(data)


class _EntityFile:
    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.raw = _HashingFile(path)
        self.buffer: list[str] = []
        self.rows = 0
        self._csv = csv.writer(self, lineterminator="\n")
        self._csv.writerow(header)

    # csv.writer writes text here; it is encoded and flushed in blocks.
    def write(self, text: str) -> int:
        self.buffer.append(text)
        if len(self.buffer) >= 4096:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self.buffer:
            self.raw.write("".join(self.buffer).encode("utf-8"))
            self.buffer.clear()

    def row(self, values: Iterable[Any]) -> None:
        self._csv.writerow(values)
        self.rows += 1

    def close(self) -> tuple[int, str]:
        self.flush()
        self.raw.handle.close()
        return self.rows, self.raw.digest.hexdigest()


class FeedWriter:
    """``with FeedWriter(parent, "core", 42, date) as feed: feed.open("customers", header).row([...])``.

    The folder ``parent/<system>-<sequence>`` is created; the manifest is written when the block
    ends without an error (nothing is published when it fails)."""

    def __init__(self, parent: Path, system: str, sequence: int, business_date: date) -> None:
        self.system, self.sequence, self.business_date = system, sequence, business_date
        self.folder = Path(parent) / f"{system}-{sequence}"
        self.folder.mkdir(parents=True, exist_ok=False)
        self.files: dict[str, _EntityFile] = {}
        self.manifest: dict[str, Any] = {}

    def open(self, entity: str, header: Sequence[str]) -> _EntityFile:
        if entity not in ORDER or entity in self.files:
            raise ValueError(f"{entity!r} is not an entity, or already has a file")
        self.files[entity] = _EntityFile(self.folder / f"{entity}.csv", header)
        return self.files[entity]

    def __enter__(self) -> FeedWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        listed = []
        for entity, handle in self.files.items():
            rows, sha256 = handle.close()
            listed.append({"entity": entity, "name": handle.path.name, "rows": rows, "sha256": sha256})
        if exc_type is not None:
            return
        self.manifest = {
            "format": FORMAT,
            "system": self.system,
            "sequence": self.sequence,
            "business_date": self.business_date.isoformat(),
            "files": listed,
        }
        temporary = self.folder / f".{MANIFEST}.tmp"
        temporary.write_text(json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.folder / MANIFEST)


# ---------------------------------------------------------------- the synthetic bank's nightly feed


@dataclass(frozen=True)
class SynthFeed:
    folder: Path
    customers: int
    transactions: int
    accounts: int  # distinct accounts the transactions were booked on


def deposit_account(n: int) -> str:
    """The clear number of synthetic customer n's first (CNY deposit) account (synth_rows._accounts)."""
    return f"6217{n * 8:015d}"


def individual_ordinal(index: int) -> int:
    """The index-th individual customer ordinal (customer n is a corporate when n % 20 == 19)."""
    every = synth_rows.CORPORATE_EVERY
    return index + index // (every - 1)


def individuals_below(customers: int) -> int:
    every = synth_rows.CORPORATE_EVERY
    return customers - customers // every


def _mobile(rng: random.Random) -> str:
    return f"+861{'3456789'[rng.randrange(7)]}{rng.randrange(10**9):09d}"


def _address(rng: random.Random) -> str:
    return (
        f"{rng.choice(CITIES)}{rng.choice(DISTRICTS)}{rng.choice(STREETS)}{rng.randrange(1, 999)}号"
        f"{rng.randrange(1, 30)}栋{rng.randrange(101, 3300)}室"
    )


def _amount(rng: random.Random, mu: float, sigma: float, cap: float) -> Decimal:
    return Decimal(f"{min(rng.lognormvariate(mu, sigma), cap):.2f}")


def _transaction_kind(rng: random.Random) -> tuple[str, str, str, float, float, float]:
    """(type, channel, direction, mu, sigma, cap) with the mix of synth_rows.transaction_rows."""
    pick = rng.random()
    if pick < 0.5:
        return (
            "transfer",
            rng.choice(("mobile", "mobile", "online", "counter")),
            rng.choice(("in", "out")),
            7.5,
            1.6,
            3e6,
        )
    if pick < 0.65:
        return "cash", rng.choice(("counter", "atm")), rng.choice(("in", "out")), 7.0, 1.2, 3e5
    if pick < 0.9:
        return "card", "pos", "out", 6.5, 1.2, 2e5
    if pick < 0.95:
        return "fee", "core", "out", 3.0, 1.0, 5e3
    return "interest", "core", "in", 3.0, 1.0, 5e3


def synth_feed_write(
    *,
    parent: Path,
    bank_customers: int,
    sequence: int,
    business_date: date,
    changed_customers: int,
    transactions: int,
    seed: int,
    system: str = "core",
    number_prefix: str = NUMBER_PREFIX,
) -> SynthFeed:
    """Write the nightly feed ``parent/<system>-<sequence>`` for a synthetic bank of ``bank_customers``."""
    if bank_customers < 1:
        raise ValueError("the synthetic bank is empty: run `fincrm synth` first")
    rng = random.Random(f"fincrm-feed:{seed}:{system}:{sequence}")  # noqa: S311 - test data
    individuals = individuals_below(bank_customers)
    changed = min(changed_customers, individuals)
    accounts: list[str] = []
    with FeedWriter(parent, system, sequence, business_date) as feed:
        if changed:
            customers = feed.open("customers", CUSTOMER_HEADER)
            for index in sorted(rng.sample(range(individuals), changed)):
                n = individual_ordinal(index)
                rating = rng.choices(("low", "medium", "high"), cum_weights=(80, 96, 100))[0]
                customers.row(
                    ("U", f"{number_prefix}{n + 1:010d}", _mobile(rng), _address(rng),
                     rng.choice(synth_rows.OCCUPATIONS), rating)
                )  # fmt: skip
        if transactions:
            # About two transactions per active account: a night's business of a fifth of the bank.
            wanted = max(1, min(bank_customers, transactions // 2))
            accounts = [deposit_account(n) for n in sorted(rng.sample(range(bank_customers), wanted))]
            midnight = datetime.combine(business_date, time(0), tzinfo=SHANGHAI)
            booked = feed.open("transactions", TRANSACTION_HEADER)
            day = business_date.isoformat()
            for i in range(transactions):
                kind, channel, direction, mu, sigma, cap = _transaction_kind(rng)
                moment = midnight + timedelta(seconds=rng.randrange(86_400))
                booked.row(
                    ("U", f"{system}-{sequence}-{i:09d}", accounts[rng.randrange(len(accounts))],
                     moment.isoformat(), day, _amount(rng, mu, sigma, cap), "CNY", direction, channel, kind,
                     "true" if kind == "transfer" and rng.random() < 0.03 else "false")
                )  # fmt: skip
    return SynthFeed(feed.folder, changed, transactions, len(accounts))


def synth_bank_size(number_prefix: str = NUMBER_PREFIX) -> int:
    """How many synthetic customers the database holds (the highest ``SY`` customer number)."""
    from django.db.models import Max

    from fincrm.customers.models import Customer

    highest = Customer.objects.filter(customer_number__startswith=number_prefix).aggregate(
        highest=Max("customer_number")
    )["highest"]
    if not highest:
        return 0
    return int(highest[len(number_prefix) :])

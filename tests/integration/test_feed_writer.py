"""Writing feeds: the manifest comes last and describes the files exactly; the synthetic bank's
nightly feed is deterministic, names existing customers and accounts, and applies."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from fincrm.customers.models import Customer
from fincrm.integration import feeds, synth, synth_rows
from fincrm.integration.feed_writer import (
    FeedWriter,
    deposit_account,
    individual_ordinal,
    individuals_below,
    synth_bank_size,
    synth_feed_write,
)
from fincrm.platform.actor import Actor
from fincrm.portfolio.models import Account, Transaction
from fincrm.security.fields import blind_index

DAY = date(2026, 11, 23)
N = 200


def test_the_manifest_describes_the_files_and_comes_last(tmp_path: Path) -> None:
    with FeedWriter(tmp_path, "core", 7, DAY) as feed:
        handle = feed.open("products", ["op", "code", "name"])
        handle.row(["U", "P-1", '名称, "带引号"'])
        handle.row(["D", "P-2", ""])
        assert not (feed.folder / "manifest.json").exists()
    manifest = json.loads((tmp_path / "core-7" / "manifest.json").read_text())
    content = (tmp_path / "core-7" / "products.csv").read_bytes()
    assert manifest == {
        "format": "fincrm-feed/1",
        "system": "core",
        "sequence": 7,
        "business_date": "2026-11-23",
        "files": [
            {
                "entity": "products",
                "name": "products.csv",
                "rows": 2,
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        ],
    }
    assert content.decode() == 'op,code,name\nU,P-1,"名称, ""带引号"""\nD,P-2,\n'
    parsed = feeds.manifest_parse((tmp_path / "core-7" / "manifest.json").read_bytes(), folder_name="core-7")
    feeds.feed_verify(feeds.FolderSource(tmp_path / "core-7"), parsed)


def test_a_failed_writer_publishes_no_manifest(tmp_path: Path) -> None:
    def write() -> None:
        with FeedWriter(tmp_path, "core", 1, DAY) as feed:
            feed.open("customers", ["op", "customer_number"]).row(["U", "C-1"])
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write()
    assert (tmp_path / "core-1" / "customers.csv").exists()
    assert not (tmp_path / "core-1" / "manifest.json").exists()


@given(st.integers(min_value=0, max_value=10**6))
@settings(max_examples=200)
def test_individual_ordinals_skip_exactly_the_corporates(index: int) -> None:
    n = individual_ordinal(index)
    assert not synth_rows.is_corporate(n)
    assert individuals_below(n) == index  # the index-th individual has index individuals before it


@given(st.integers(min_value=1, max_value=5000))
@settings(max_examples=100)
def test_individuals_below_counts_them(customers: int) -> None:
    assert individuals_below(customers) == sum(1 for n in range(customers) if not synth_rows.is_corporate(n))


@pytest.fixture
def bank(db: None) -> synth.SynthResult:
    if connection.vendor == "postgresql":
        pytest.skip("the synthetic bank's fast path commits on its own connections; tested on SQLite")
    return synth.synth_load(actor=Actor.cli(), customers=N, seed=5, transactions_per_customer=1)


def test_the_synthetic_feed_is_deterministic_and_applies(bank: synth.SynthResult, tmp_path: Path) -> None:
    assert synth_bank_size() == N
    first = synth_feed_write(
        parent=tmp_path / "a", bank_customers=N, sequence=1, business_date=DAY,
        changed_customers=30, transactions=400, seed=3,
    )  # fmt: skip
    again = synth_feed_write(
        parent=tmp_path / "b", bank_customers=N, sequence=1, business_date=DAY,
        changed_customers=30, transactions=400, seed=3,
    )  # fmt: skip
    for name in ("manifest.json", "customers.csv", "transactions.csv"):
        assert (first.folder / name).read_bytes() == (again.folder / name).read_bytes()
    other = synth_feed_write(
        parent=tmp_path / "c", bank_customers=N, sequence=1, business_date=DAY,
        changed_customers=30, transactions=400, seed=4,
    )  # fmt: skip
    assert (other.folder / "customers.csv").read_bytes() != (first.folder / "customers.csv").read_bytes()
    # The deposit numbers are the synthetic bank's own.
    assert Account.objects.filter(
        account_number_bidx=blind_index(deposit_account(0), "account_number")
    ).exists()
    rows = (first.folder / "customers.csv").read_text().splitlines()[1:]
    number, mobile = rows[0].split(",")[1:3]
    transactions = Transaction.objects.count()
    outcome = feeds.feed_apply(actor=Actor.cli(), source=feeds.FolderSource(first.folder))
    assert outcome.status == feeds.APPLIED, outcome.message
    assert outcome.counts["customers"]["updated"] == 30
    assert outcome.counts["transactions"]["inserted"] == 400
    assert Transaction.objects.count() == transactions + 400
    changed = Customer.objects.get(customer_number=number)
    assert changed.mobile == mobile
    assert changed.kind == "individual"


def test_the_command_writes_a_feed(bank: synth.SynthResult, tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "synth-feed", "--dir", str(tmp_path), "--sequence", "4", "--changed-customers", "10",
        "--transactions", "50", "--seed", "9", "--business-date", "2026-11-23", stdout=out,
    )  # fmt: skip
    assert "10 changed customers, 50 transactions" in out.getvalue()
    manifest = json.loads((tmp_path / "core-4" / "manifest.json").read_text())
    assert [(item["entity"], item["rows"]) for item in manifest["files"]] == [
        ("customers", 10),
        ("transactions", 50),
    ]

"""Core-system feeds (fincrm.integration.feeds): order and exactly-once per system, checksums and
row counts, all or nothing, deletes per entity, AUM, audit and outbox, the drop folder, the command,
and a SIGKILL mid-feed on PostgreSQL."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.customers.models import Customer, Relationship
from fincrm.integration import feeds
from fincrm.integration.feed_writer import FeedWriter
from fincrm.integration.models import FeedRun
from fincrm.integration.staging import stage_tables
from fincrm.org.models import OrgUnit
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden
from fincrm.platform.models import OutboxEvent
from fincrm.portfolio.models import Account, Holding, Transaction
from fincrm.products.models import Product
from fincrm.security.keyring import keyring
from fincrm.users.actors import actor_for_user
from tests.audit.support import Tamper, tamper
from tests.support.authz import fingerprint
from tests.support.world import World, build_world

__all__ = ["tamper"]

SYSTEM_ACTOR = Actor.system("integration.feeds")
ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 23)

PRODUCTS = (["op", "code", "name", "product_type", "risk_level"], [["U", "FD-1", "稳健一号", "wealth", "R2"]])
CUSTOMERS = (
    ["op", "customer_number", "kind", "name", "org_unit", "occupation"],
    [["U", "FEED-1", "individual", "王小明", "SB-A1", "教师"]],
)
ACCOUNTS = (
    ["op", "account_number", "customer_number", "kind", "product", "balance", "opened_on"],
    [["U", "1001200030004", "FEED-1", "deposit", "", "1000.50", "2024-01-02"]],
)
HOLDINGS = (
    ["op", "source_ref", "customer_number", "product", "amount", "market_value", "start_date"],
    [["U", "H-1", "FEED-1", "FD-1", "50000", "50500.20", "2026-01-01"]],
)
TRANSACTIONS = (
    ["op", "source_ref", "account_number", "booked_at", "amount", "direction", "channel", "transaction_type"],
    [
        ["U", "J-1", "1001200030004", "2026-11-23T10:00:00", "49900.00", "in", "counter", "cash"],
        ["U", "J-2", "1001200030004", "2026-11-23T11:00:00+08:00", "20.00", "out", "online", "fee"],
    ],
)
FULL = {
    "transactions": TRANSACTIONS,
    "holdings": HOLDINGS,
    "accounts": ACCOUNTS,
    "customers": CUSTOMERS,
    "products": PRODUCTS,
}

Files = Mapping[str, tuple[list[str], Sequence[Sequence[object]]]]


def write_feed(parent: Path, sequence: int, files: Files, *, system: str = "core") -> Path:
    """A feed folder; the manifest lists the files in the order given (the feed reorders them)."""
    with FeedWriter(parent, system, sequence, DAY) as feed:
        for entity, (header, rows) in files.items():
            handle = feed.open(entity, header)
            for row in rows:
                handle.row(row)
    return feed.folder


def apply(folder: Path, actor: Actor = SYSTEM_ACTOR) -> feeds.FeedOutcome:
    return feeds.feed_apply(actor=actor, source=feeds.FolderSource(folder))


def data_fingerprint() -> dict[str, Any]:
    """Every table but the feed log and the audit trail (a failure is recorded there, on purpose)."""
    snapshot = fingerprint()
    for label in ("integration.feedrun", "audit.auditevent", "audit.auditchainhead"):
        snapshot.pop(label, None)
    return snapshot


def test_a_feed_applies_its_files_in_dependency_order(world: World, tmp_path: Path) -> None:
    folder = write_feed(tmp_path, 1, FULL)
    assert next(item["entity"] for item in json.loads((folder / "manifest.json").read_text())["files"]) == (
        "transactions"
    )
    outbox_before = OutboxEvent.objects.filter(topic="integration.feed.applied").count()
    outcome = apply(folder)
    assert outcome.status == feeds.APPLIED, outcome.message
    customer = Customer.objects.get(customer_number="FEED-1")
    assert customer.org_unit_id == world.sub_a1
    assert customer.occupation == "教师"
    account = Account.objects.get(customer=customer)
    assert account.balance == Decimal("1000.50")
    assert Holding.objects.get(source_ref="H-1").product.code == "FD-1"
    assert Transaction.objects.filter(account=account).count() == 2
    # AUM follows the accounts and holdings the feed brought: deposit balance + holding market value.
    customer.refresh_from_db()
    assert customer.aum == Decimal("51500.70")
    run = FeedRun.objects.get(system="core", sequence=1)
    assert run.status == FeedRun.Status.APPLIED
    assert run.business_date == DAY
    assert run.applied_at
    assert run.counts["transactions"]["inserted"] == 2
    assert run.counts["customers"]["rows"] == 1
    assert outcome.rows == 6
    event = AuditEvent.objects.filter(action="feed.applied").order_by("-sequence").first()
    assert event is not None
    assert event.object_id == "core#1"
    assert (
        event.after["files"]["customers.csv"]
        == json.loads((folder / "manifest.json").read_text())["files"][3]["sha256"]
    )
    published = OutboxEvent.objects.filter(topic="integration.feed.applied")
    assert published.count() == outbox_before + 1
    assert published.order_by("-id").first().payload == {"feed_run_id": run.pk}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="worker processes prepare rows on PostgreSQL")
def test_worker_processes_prepare_a_feed_ahead_inside_the_callers_transaction(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test runs inside a transaction, like a feed applied in an outer atomic block. Large files
    are prepared ahead by a thread feeding forked workers: the thread never opens a connection of
    its own (it would not see the open transaction), the workers leave the parent's session alone
    (same backend, same transaction), and each stage's advisory lock is held while it is merged.
    Files naming products of the same feed wait for them and are prepared at their turn."""
    from fincrm.integration import importer

    monkeypatch.setattr(feeds, "PARALLEL_FROM_ROWS", 0)  # every file goes to the workers
    monkeypatch.setattr(importer, "CHUNK_ROWS", 1)  # several chunks in flight
    prepared: list[tuple[str, str, bool]] = []  # (entity, thread, connected)
    locked: list[bool] = []
    stages: list[str] = []
    in_order, check = importer._in_order, importer.Load.check

    def watched(pool: Any, entity: str, chunks: Any) -> Any:
        for chunk in in_order(pool, entity, chunks):
            prepared.append((entity, threading.current_thread().name, connection.connection is not None))
            yield chunk

    def checked(load: Any) -> None:
        with connection.cursor() as cursor:  # the stage's lock, held by this session
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND objid::int = hashtext(%s)",
                [load.stage.name],
            )
            locked.append(cursor.fetchone()[0] == 1)
        stages.append(load.stage.name)
        check(load)

    monkeypatch.setattr(importer, "_in_order", watched)
    monkeypatch.setattr(importer.Load, "check", checked)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), txid_current()")
        session = cursor.fetchone()
    folder = write_feed(tmp_path, 1, FULL)
    outcome = apply(folder)
    assert outcome.status == feeds.APPLIED, outcome.message
    ahead = {entity for entity, thread, _connected in prepared if thread == "fincrm-prepare-ahead"}
    assert ahead == {"products", "customers", "transactions"}
    at_their_turn = {entity for entity, thread, _connected in prepared if thread != "fincrm-prepare-ahead"}
    assert at_their_turn == {"accounts", "holdings"}
    assert not any(connected for _entity, thread, connected in prepared if thread == "fincrm-prepare-ahead")
    assert locked == [True] * len(FULL)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), txid_current()")
        assert cursor.fetchone() == session  # the same session, still in the test's transaction
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
            "AND objid::int IN (SELECT hashtext(name) FROM unnest(%s::text[]) AS name)",
            [stages],
        )
        assert cursor.fetchone()[0] == 0  # every stage's lock released with its stage
    assert not [thread for thread in threading.enumerate() if thread.name == "fincrm-prepare-ahead"]
    account = Account.objects.get(customer__customer_number="FEED-1")
    booked = Transaction.objects.filter(account=account).order_by("source_ref")
    assert [(t.source_ref, t.amount) for t in booked] == [
        ("J-1", Decimal("49900.00")),
        ("J-2", Decimal("20.00")),
    ]
    assert account.account_number == "1001200030004"  # decrypts: sealed by a worker for its row


@pytest.mark.skipif(connection.vendor != "postgresql", reason="worker processes prepare rows on PostgreSQL")
@pytest.mark.parametrize("broken", ["customers", "transactions"])
def test_a_file_refused_while_prepared_ahead_writes_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    """A file the thread cannot read (a row with a column too many) fails the feed at that file's
    turn, after the files before it merged: all of it is rolled back, and no thread, worker, stage
    or lock outlives the feed."""
    monkeypatch.setattr(feeds, "PARALLEL_FROM_ROWS", 0)
    files = dict(FULL)
    header, rows = files[broken]
    files[broken] = (header, [*rows, [*rows[0][:1], "X-9", *rows[0][2:], "extra"]])
    folder = write_feed(tmp_path, 1, files)
    before = data_fingerprint()
    outcome = apply(folder)
    assert outcome.status == feeds.FAILED
    assert f"{broken}.csv" in outcome.message
    assert data_fingerprint() == before
    assert not [thread for thread in threading.enumerate() if thread.name == "fincrm-prepare-ahead"]
    assert not multiprocessing.active_children()
    assert not stage_tables()
    # No stage's lock is left; the feed's transaction-scoped ones went with its rolled-back block.
    # One remains: the system's, taken again to record the failure (until the test's transaction ends).
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone()[0] == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="worker processes prepare rows on PostgreSQL")
def test_a_failed_merge_stops_the_files_prepared_ahead(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The customers fail their checks (an unknown parent company) while the transactions are still
    being prepared, a row per chunk: the feed fails, writes nothing, and stops the preparation."""
    from fincrm.integration import importer

    monkeypatch.setattr(feeds, "PARALLEL_FROM_ROWS", 0)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 1)
    files = dict(FULL)
    header, rows = CUSTOMERS
    files["customers"] = ([*header, "parent_company"], [[*rows[0], "NOPE-1"]])
    header, rows = TRANSACTIONS
    files["transactions"] = (header, [[row[0], f"J-{n}", *row[2:]] for n in range(400) for row in rows[:1]])
    folder = write_feed(tmp_path, 1, files)
    before = data_fingerprint()
    outcome = apply(folder)
    assert outcome.status == feeds.FAILED
    assert "parent company" in outcome.message or "NOPE-1" in outcome.message
    assert data_fingerprint() == before
    assert not [thread for thread in threading.enumerate() if thread.name == "fincrm-prepare-ahead"]
    assert not multiprocessing.active_children()
    assert not stage_tables()


def test_a_feed_inside_an_outer_block_writes_its_record_events_with_the_outer_commit(
    world: World, tmp_path: Path
) -> None:
    """The stages are gone when an outer fincrm block commits, so the feed's per-record events must
    not wait to be read from them then."""
    from fincrm.platform import transaction as fincrm_transaction

    folder = write_feed(tmp_path, 1, FULL)
    with fincrm_transaction.atomic():
        outcome = apply(folder)
        assert outcome.status == feeds.APPLIED, outcome.message
    imported = AuditEvent.objects.filter(action="customer.imported", object_type="customer")
    assert set(imported.values_list("object_id", flat=True)) == {
        str(pk)
        for pk in Customer.objects.filter(customer_number__startswith="FEED-").values_list("pk", flat=True)
    }


def test_an_applied_sequence_again_is_a_no_op(world: World, tmp_path: Path) -> None:
    folder = write_feed(tmp_path, 1, {"products": PRODUCTS})
    assert apply(folder).status == feeds.APPLIED
    Product.objects.filter(code="FD-1").update(name="改过的名字")
    before = (fingerprint(), OutboxEvent.objects.count())
    again = apply(folder)
    assert again.status == feeds.ALREADY_APPLIED
    assert "already applied" in again.message
    assert (fingerprint(), OutboxEvent.objects.count()) == before
    assert Product.objects.get(code="FD-1").name == "改过的名字"


def test_the_same_sequence_with_another_manifest_is_refused(world: World, tmp_path: Path) -> None:
    assert apply(write_feed(tmp_path / "a", 1, {"products": PRODUCTS})).status == feeds.APPLIED
    other = write_feed(tmp_path / "b", 1, {"customers": CUSTOMERS})
    with pytest.raises(feeds.FeedRejected) as rejected:
        apply(other)
    assert rejected.value.code == "feed_sequence_reused"
    assert rejected.value.status == 409
    assert not Customer.objects.filter(customer_number="FEED-1").exists()


def test_a_gap_waits_for_the_missing_sequence(world: World, tmp_path: Path) -> None:
    assert apply(write_feed(tmp_path, 1, {"products": PRODUCTS})).status == feeds.APPLIED
    third = write_feed(tmp_path, 3, {"accounts": ACCOUNTS})
    second = write_feed(tmp_path, 2, {"customers": CUSTOMERS})
    waiting = apply(third)
    assert waiting.status == feeds.WAITING
    assert "core#2" in waiting.message
    assert not FeedRun.objects.filter(sequence=3).exists()
    assert apply(second).status == feeds.APPLIED
    assert apply(third).status == feeds.APPLIED
    assert list(FeedRun.objects.filter(system="core").values_list("sequence", "status")) == [
        (3, "applied"),
        (2, "applied"),
        (1, "applied"),
    ]
    # Systems are independent: another system's first feed may start anywhere.
    assert apply(write_feed(tmp_path, 7, {"products": PRODUCTS}, system="cards")).status == feeds.APPLIED


def test_an_older_sequence_than_the_last_applied_fails(world: World, tmp_path: Path) -> None:
    assert apply(write_feed(tmp_path, 5, {"products": PRODUCTS})).status == feeds.APPLIED
    outcome = apply(write_feed(tmp_path, 4, {"customers": CUSTOMERS}))
    assert outcome.status == feeds.FAILED
    assert "core#5" in outcome.message
    assert not Customer.objects.filter(customer_number="FEED-1").exists()


def test_a_checksum_mismatch_writes_nothing(world: World, tmp_path: Path) -> None:
    folder = write_feed(tmp_path, 1, FULL)
    with (folder / "transactions.csv").open("a", encoding="utf-8") as handle:
        handle.write("U,J-3,1001200030004,2026-11-23T12:00:00,1.00,in,counter,cash\n")
    before = data_fingerprint()
    outcome = apply(folder)
    assert outcome.status == feeds.FAILED
    assert "SHA-256 of transactions.csv" in outcome.message
    assert data_fingerprint() == before
    run = FeedRun.objects.get(system="core", sequence=1)
    assert run.status == FeedRun.Status.FAILED
    assert "SHA-256" in run.error
    assert run.counts == {}
    assert AuditEvent.objects.filter(action="feed.failed", object_id="core#1").exists()


def test_a_row_count_other_than_the_manifest_writes_nothing(world: World, tmp_path: Path) -> None:
    folder = write_feed(tmp_path, 1, {"products": PRODUCTS, "customers": CUSTOMERS})
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][1]["rows"] = 2
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = data_fingerprint()
    outcome = apply(folder)
    assert outcome.status == feeds.FAILED
    assert "customers.csv holds 1 rows but the manifest says 2" in outcome.message
    assert data_fingerprint() == before


def test_an_invalid_row_in_the_third_file_writes_nothing_at_all(world: World, tmp_path: Path) -> None:
    bad_accounts = (
        ACCOUNTS[0],
        [ACCOUNTS[1][0], ["U", "1001200030005", "FEED-1", "deposit", "", "12,00", "2024-01-02"]],
    )
    folder = write_feed(tmp_path, 1, {"products": PRODUCTS, "customers": CUSTOMERS, "accounts": bad_accounts})
    before = data_fingerprint()
    outbox_before = OutboxEvent.objects.count()
    outcome = apply(folder)
    assert outcome.status == feeds.FAILED
    assert "accounts.csv: 1 rows are invalid" in outcome.message
    assert "row 3, balance [decimal]" in outcome.message
    assert data_fingerprint() == before
    assert OutboxEvent.objects.count() == outbox_before
    assert not Product.objects.filter(code="FD-1").exists()
    run = FeedRun.objects.get(system="core", sequence=1)
    assert run.status == FeedRun.Status.FAILED
    assert "row 3" in run.error
    # Fixed and sent again under the same sequence, it applies.
    folder.rename(tmp_path / "broken")
    fixed = write_feed(tmp_path, 1, {"products": PRODUCTS, "customers": CUSTOMERS, "accounts": ACCOUNTS})
    assert apply(fixed).status == feeds.APPLIED
    run.refresh_from_db()
    assert run.status == FeedRun.Status.APPLIED
    assert run.error == ""


def test_sensitive_values_are_masked_in_the_error(world: World, tmp_path: Path) -> None:
    bad = (ACCOUNTS[0], [["U", "622202020011223X", "FEED-1", "deposit", "", "1.00", "2024-01-02"]])
    outcome = apply(write_feed(tmp_path, 1, {"customers": CUSTOMERS, "accounts": bad}))
    assert outcome.status == feeds.FAILED
    assert "[format]" in outcome.message
    assert "622202020011223X" not in outcome.message
    assert "622202020011223X" not in FeedRun.objects.get(sequence=1).error


def test_a_legacy_card_failing_its_check_digit_is_accepted_from_a_feed(world: World, tmp_path: Path) -> None:
    """Some old cards fail Luhn; staff typing one get an error, a core system's feed only a warning."""
    card = (ACCOUNTS[0], [["U", "6222020200112234", "FEED-1", "credit_card", "", "1.00", "2024-01-02"]])
    assert apply(write_feed(tmp_path, 1, {"customers": CUSTOMERS, "accounts": card})).status == feeds.APPLIED


def test_deletes_per_entity(world: World, tmp_path: Path) -> None:
    contacts = (
        ["op", "customer_number", "related_customer_number", "kind", "starts_on"],
        [["U", "FEED-1", "W-A", "spouse", "2020-01-01"]],
    )
    assert apply(write_feed(tmp_path, 1, {**FULL, "contacts": contacts})).status == feeds.APPLIED
    customer = Customer.objects.get(customer_number="FEED-1")
    customer.refresh_from_db()
    assert customer.aum == Decimal("51500.70")
    deletes: Files = {
        "products": (["op", "code"], [["D", "FD-1"]]),
        "contacts": (
            ["op", "customer_number", "related_customer_number", "kind"],
            [["D", "FEED-1", "W-A", "spouse"]],
        ),
        "accounts": (["op", "account_number"], [["D", "1001200030004"]]),
        "holdings": (["op", "source_ref"], [["D", "H-1"]]),
        "transactions": (["op", "source_ref", "account_number"], [["D", "J-1", "1001200030004"]]),
    }
    outcome = apply(write_feed(tmp_path, 2, deletes))
    assert outcome.status == feeds.APPLIED, outcome.message
    assert {entity: counts["deleted"] for entity, counts in outcome.counts.items()} == {
        "products": 1,
        "contacts": 1,
        "accounts": 1,
        "holdings": 1,
        "transactions": 1,
    }
    assert Product.objects.get(code="FD-1").is_active is False
    assert Account.objects.get(customer=customer).status == Account.Status.CLOSED
    assert not Holding.objects.filter(source_ref="H-1").exists()
    assert list(
        Transaction.objects.filter(account__customer=customer).values_list("source_ref", flat=True)
    ) == ["J-2"]
    assert Relationship.objects.get(from_customer=customer).ends_on is not None
    # AUM followed: the account is closed and the holding gone.
    customer.refresh_from_db()
    assert customer.aum == Decimal("0.00")
    refused = apply(write_feed(tmp_path, 3, {"customers": (["op", "customer_number"], [["D", "FEED-1"]])}))
    assert refused.status == feeds.FAILED
    assert "[delete_not_allowed]" in refused.message


def test_a_file_may_carry_only_some_fields(world: World, tmp_path: Path) -> None:
    partial = (["op", "customer_number", "occupation"], [["U", "W-A", "律师"]])
    outcome = apply(write_feed(tmp_path, 1, {"customers": partial}))
    assert outcome.status == feeds.APPLIED, outcome.message
    customer = Customer.objects.get(customer_number="W-A")
    assert customer.occupation == "律师"
    assert customer.name == "张三"
    assert customer.mobile == "+8613800138000"
    assert outcome.counts["customers"]["updated"] == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="worker processes prepare rows on PostgreSQL")
@pytest.mark.parametrize("known", [True, False])
def test_an_updated_customer_prepared_ahead_is_sealed_for_its_own_row(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, known: bool
) -> None:
    """Prepared ahead, an existing customer's new values are sealed for its own row at once and the
    merge seals nothing again; when the row id is not known up front (``known`` False) the merge
    seals them again. Either way they decrypt, and a new customer gets a new row id."""
    from fincrm.integration import importer, loading

    monkeypatch.setattr(feeds, "PARALLEL_FROM_ROWS", 0)
    if not known:
        monkeypatch.setattr(feeds, "KNOWN_ROW_UIDS_UP_TO", 0)
    resealed: list[int] = []
    reseal = loading.Checker.reseal

    def counted(checker: Any, model: Any, table: str, columns: list[str]) -> None:
        update_column = checker.stage.update_column
        checker.stage.update_column = lambda column, values: (
            resealed.append(len(values)),
            update_column(column, values),
        )
        reseal(checker, model, table, columns)

    monkeypatch.setattr(loading.Checker, "reseal", counted)
    before = Customer.objects.get(customer_number="W-A")
    header = ["op", "customer_number", "kind", "name", "org_unit", "mobile", "address"]
    rows = [
        ["U", "W-A", "individual", "张三", "SB-A1", "13912345678", "北京市海淀区中关村大街 1 号"],
        ["U", "FEED-9", "individual", "李四", "SB-A1", "13987654321", "上海市浦东新区世纪大道 2 号"],
    ]
    outcome = apply(write_feed(tmp_path, 1, {"customers": (header, rows)}))
    assert outcome.status == feeds.APPLIED, outcome.message
    assert outcome.counts["customers"]["updated"] == 1
    updated = Customer.objects.get(customer_number="W-A")
    assert updated.row_uid == before.row_uid
    assert (updated.mobile, updated.address) == ("+8613912345678", "北京市海淀区中关村大街 1 号")
    assert updated.name == "张三"
    created = Customer.objects.get(customer_number="FEED-9")
    assert created.row_uid != before.row_uid
    assert created.mobile == "+8613987654321"
    assert sum(resealed) == (0 if known else 2)  # mobile and address of W-A
    assert importer.known_customer_row_uids(["W-A", "NOPE"]) == {"W-A": str(before.row_uid)}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["customer_number", "occupation"], "the first column must be op"),
        (["op", "customer_number", "favourite_colour"], "favourite_colour is not a field of customers"),
    ],
)
def test_a_bad_header_is_refused(world: World, tmp_path: Path, header: list[str], expected: str) -> None:
    outcome = apply(write_feed(tmp_path, 1, {"customers": (header, [["U", "W-A", "x"]])}))
    assert outcome.status == feeds.FAILED
    assert expected in outcome.message


def test_an_empty_file_with_zero_rows_is_fine(world: World, tmp_path: Path) -> None:
    outcome = apply(write_feed(tmp_path, 1, {"products": PRODUCTS, "transactions": (TRANSACTIONS[0], [])}))
    assert outcome.status == feeds.APPLIED, outcome.message
    assert outcome.counts["transactions"]["rows"] == 0


def test_a_user_without_data_feed_is_refused_and_nothing_is_written(world: World, tmp_path: Path) -> None:
    folder = write_feed(tmp_path, 1, FULL)
    user = World.user("account_manager_a")
    before = fingerprint()
    with pytest.raises(Forbidden):
        apply(folder, actor_for_user(user))
    assert fingerprint() == before
    assert SecurityEvent.objects.filter(kind="access.denied", user_id=user.pk).count() == 1


def test_an_operations_user_applies_within_their_scope(world: World, tmp_path: Path) -> None:
    user = World.user("operations_a")
    outcome = apply(
        write_feed(
            tmp_path, 1, {"customers": (["op", "customer_number", "occupation"], [["U", "W-B", "x"]])}
        ),
        actor_for_user(user),
    )
    assert outcome.status == feeds.FAILED
    assert "[out_of_scope]" in outcome.message
    applied = apply(write_feed(tmp_path, 2, FULL), actor_for_user(user))
    assert applied.status == feeds.APPLIED, applied.message
    assert FeedRun.objects.get(sequence=2).applied_by_id == user.pk


# ---------------------------------------------------------------- the manifest


def manifest_bytes(**changes: Any) -> bytes:
    document: dict[str, Any] = {
        "format": "fincrm-feed/1",
        "system": "core",
        "sequence": 42,
        "business_date": "2026-11-23",
        "files": [{"entity": "customers", "name": "customers.csv", "rows": 1, "sha256": "a" * 64}],
    }
    document.update(changes)
    return json.dumps(document).encode()


def test_a_good_manifest() -> None:
    manifest = feeds.manifest_parse(manifest_bytes(), folder_name="core-42")
    assert (manifest.system, manifest.sequence, manifest.business_date) == ("core", 42, DAY)
    assert manifest.files[0].rows == 1


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"format": "fincrm-feed/2"}, "format must be"),
        ({"system": "Core-1"}, "system must be"),
        ({"sequence": 0}, "sequence must be"),
        ({"sequence": True}, "sequence must be"),
        ({"sequence": "42"}, "sequence must be"),
        ({"business_date": "2026/11/23"}, "business_date"),
        ({"business_date": "2026-02-30"}, "business_date"),
        ({"files": []}, "files must list"),
        ({"files": [{"entity": "loans", "name": "a.csv", "rows": 1, "sha256": "a" * 64}]}, "entity must be"),
        (
            {"files": [{"entity": "customers", "name": "../a.csv", "rows": 1, "sha256": "a" * 64}]},
            "plain file",
        ),
        ({"files": [{"entity": "customers", "name": "a.csv", "rows": -1, "sha256": "a" * 64}]}, "rows must"),
        ({"files": [{"entity": "customers", "name": "a.csv", "rows": 1, "sha256": "A" * 64}]}, "sha256"),
        ({"files": [{"entity": "customers", "name": "a.csv", "rows": 1}]}, "exactly the keys"),
        (
            {"files": [{"entity": "customers", "name": "a.csv", "rows": 1, "sha256": "a" * 64}] * 2},
            "one file only",
        ),
        ({"extra": 1}, "exactly the keys"),
    ],
)
def test_a_bad_manifest_is_named(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(feeds.FeedRejected) as rejected:
        feeds.manifest_parse(manifest_bytes(**changes))
    assert fragment in str(rejected.value.message)
    assert rejected.value.code == "feed_manifest"


def test_the_folder_must_be_named_for_the_manifest() -> None:
    with pytest.raises(feeds.FeedRejected) as rejected:
        feeds.manifest_parse(manifest_bytes(), folder_name="core-41")
    assert rejected.value.code == "feed_name"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=6)
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps(value).encode()),
        st.fixed_dictionaries(
            {
                "format": st.sampled_from(["fincrm-feed/1", "x"]),
                "system": st.text(max_size=45),
                "sequence": st.integers() | st.text(max_size=3),
                "business_date": st.text(max_size=12),
                "files": st.lists(
                    st.fixed_dictionaries(
                        {
                            "entity": st.sampled_from([*feeds.ORDER, "x"]),
                            "name": st.text(max_size=20),
                            "rows": st.integers(),
                            "sha256": st.text(alphabet="0123456789abcdef", min_size=63, max_size=65),
                        }
                    ),
                    max_size=7,
                ),
            }
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_any_manifest_is_parsed_or_refused_with_a_reason(data: bytes) -> None:
    try:
        manifest = feeds.manifest_parse(data)
    except feeds.FeedRejected as rejected:
        refused = rejected
    else:
        refused = None
    if refused is not None:
        assert refused.code.startswith("feed_")
        assert str(refused.message)
        return
    assert feeds.SYSTEM.fullmatch(manifest.system)
    assert manifest.sequence >= 1
    assert [spec.entity for spec in manifest.ordered()] == [
        e for e in feeds.ORDER if e in {f.entity for f in manifest.files}
    ]


# ---------------------------------------------------------------- the drop folder and the command


def test_the_drop_folder_applies_complete_feeds_in_order(world: World, tmp_path: Path, settings: Any) -> None:
    settings.FINCRM_FEED_DIR = str(tmp_path)
    write_feed(tmp_path, 2, {"customers": CUSTOMERS})
    write_feed(tmp_path, 1, {"products": PRODUCTS})
    unfinished = write_feed(tmp_path, 3, {"accounts": ACCOUNTS})
    (unfinished / "manifest.json").unlink()  # still being written
    write_feed(tmp_path, 5, {"holdings": HOLDINGS})  # waits for 4
    write_feed(
        tmp_path, 1, {"products": ([*PRODUCTS[0]], [["U", "FD-2", "x", "nonsense", "R1"]])}, system="cards"
    )
    from fincrm.integration.jobs import poll_feeds

    poll_feeds()
    assert sorted(path.name for path in (tmp_path / "applied").iterdir()) == ["core-1", "core-2"]
    assert [path.name for path in (tmp_path / "failed").iterdir()] == ["cards-1"]
    assert (tmp_path / "core-3").is_dir()
    assert (tmp_path / "core-5").is_dir()
    assert Customer.objects.filter(customer_number="FEED-1").exists()
    assert FeedRun.objects.get(system="cards", sequence=1).status == FeedRun.Status.FAILED
    assert not FeedRun.objects.filter(sequence=5).exists()


def test_the_command_applies_and_lists(world: World, tmp_path: Path) -> None:
    folder = write_feed(tmp_path, 1, FULL)
    out = StringIO()
    call_command("feed", "apply", str(folder), stdout=out)
    assert "core#1: applied" in out.getvalue()
    assert "transactions: rows 2, inserted 2" in out.getvalue()
    out = StringIO()
    call_command("feed", "apply", str(folder), stdout=out)
    assert "core#1: already_applied" in out.getvalue()
    gap = write_feed(tmp_path, 3, {"products": PRODUCTS})
    with pytest.raises(SystemExit) as exit_code:
        call_command("feed", "apply", str(gap), stdout=StringIO())
    assert exit_code.value.code == 2
    out = StringIO()
    call_command("feed", "status", stdout=out)
    assert "core#1\t2026-11-23\tapplied\t6 rows" in out.getvalue()


def test_the_command_as_a_user_needs_data_feed(world: World, tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"data\.feed"):
        call_command("feed", "apply", str(write_feed(tmp_path, 1, FULL)), "--user", "account_manager_a")


# ---------------------------------------------------------------- SIGKILL mid-feed (PostgreSQL)


def _writing() -> bool:
    """Another session holds a write lock on the customers table: the feed is merging."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'customers_customer' AND l.mode = 'RowExclusiveLock' "
            "AND l.pid <> pg_backend_pid()"
        )
        return bool(cursor.fetchone()[0])


def _backend_gone() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'customers_customer' AND l.pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the kill test runs on PostgreSQL")
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_feed_killed_mid_way_leaves_the_database_as_it_was(
    world_after_flush: Any, transactional_db: None, tamper: Tamper, tmp_path: Path
) -> None:
    if not OrgUnit.objects.exists():
        build_world()
    count = 10_000
    customers = (
        ["op", "customer_number", "kind", "name", "org_unit"],
        [["U", f"KILL{n:06d}", "individual", "李" + "明华强"[n % 3], "SB-A1"] for n in range(count)],
    )
    # The customers merge writes first; the accounts name a product of the same feed, so they are
    # read and staged inside the transaction, after it: a window of seconds for the kill.
    accounts = (
        ["op", "account_number", "customer_number", "kind", "product", "opened_on"],
        [
            ["U", f"1001200{n:07d}", f"KILL{n // 2:06d}", "deposit", "FD-1", "2024-01-02"]
            for n in range(count * 2)
        ],
    )
    folder = write_feed(tmp_path, 1, {"products": PRODUCTS, "customers": customers, "accounts": accounts})
    # The keyring makes its first keys on first use, in their own transaction: make them now (its
    # cache may still hold keys of a database an earlier test flushed), so the snapshot compares the
    # feed's writes only.
    keyring.reset()
    keyring.active_key_id()
    keyring.index_key()
    before = data_fingerprint()
    feed_log = list(FeedRun.objects.values_list())
    audit_count = AuditEvent.objects.count()
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "FINCRM_PROFILE": "test",
        "FINCRM_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    command = [str(Path(sys.executable).parent / "fincrm"), "feed", "apply", str(folder)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
    try:
        deadline = time.monotonic() + 120
        while not _writing():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the feed never started writing"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 60
    while not _backend_gone():  # the server notices the dead client and rolls back
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert process.returncode == -signal.SIGKILL
    assert data_fingerprint() == before
    assert list(FeedRun.objects.values_list()) == feed_log
    assert AuditEvent.objects.count() == audit_count
    # The feed applies cleanly afterwards, exactly once.
    outcome = apply(folder)
    assert outcome.status == feeds.APPLIED, outcome.message
    assert Customer.objects.filter(customer_number__startswith="KILL").count() == count
    assert Account.objects.filter(customer__customer_number__startswith="KILL").count() == count * 2

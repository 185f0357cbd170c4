"""The import core (fincrm.integration.importer.load_rows): staging, checks and the set-based merge,
on SQLite and PostgreSQL, through rows as a reader hands them over."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer, CustomerSearchTerm, DuplicateCandidate
from fincrm.integration.importer import LoadRejected, load_rows
from fincrm.org.models import OrgUnit
from fincrm.platform import transaction
from fincrm.portfolio.models import Account, Holding, Transaction
from fincrm.products.models import Product
from fincrm.users.actors import actor_for_user
from tests.audit.support import Tamper, tamper
from tests.support.world import World, build_world

__all__ = ["tamper"]  # a fixture: the committing test's flush may empty the audit log

pytestmark = pytest.mark.django_db(transaction=False)

HEADER = ["customer_number", "kind", "name", "id_type", "id_number", "mobile", "org_unit", "aml_risk_rating"]


@dataclass
class Rows:
    header: list[str]
    data: Sequence[Sequence[object]]

    def rows(self) -> Iterator[tuple[int, list[object]]]:
        for index, row in enumerate(self.data, start=2):
            yield index, list(row)


def load(user: str, entity: str, header: list[str], data: Sequence[Sequence[object]], **options: object):
    actor = actor_for_user(World.user(user))
    with transaction.atomic():
        return load_rows(
            actor=actor,
            entity=entity,
            table=Rows(header, data),  # type: ignore[arg-type]
            mapping={name: name for name in header if name != "op"},
            on_match=str(options.get("on_match", "update")),
            deletes=bool(options.get("deletes", False)),
            source="test",
        )


def rows_for(count: int, unit: str = "SB-A1", start: int = 0) -> list[list[object]]:
    from fincrm.customers.identity import resident_id_check_character

    out: list[list[object]] = []
    for n in range(start, start + count):
        body = f"110101198001{(n % 28) + 1:02d}{n % 1000:03d}"
        id_number = body + resident_id_check_character(body)
        name = "欧阳" + "明华"[n % 2]
        out.append(
            [f"IMP{n:05d}", "individual", name, "resident_id", id_number, f"1380000{n:04d}", unit, "low"]
        )
    return out


def test_a_renamed_customer_keeps_its_search_rank(world: World) -> None:
    load("operations_a", "customers", HEADER, rows_for(2))
    customer = Customer.objects.get(customer_number="IMP00001")
    Customer.objects.filter(pk=customer.pk).update(aum=Decimal("1234567.89"))
    renamed = rows_for(2)
    renamed[1][2] = "司马光"
    result = load("operations_a", "customers", HEADER, renamed)
    assert (result.updated, result.unchanged) == (1, 1)
    terms = CustomerSearchTerm.objects.filter(customer=customer)
    assert terms.filter(term="smg").exists()
    # Search reads a term's customers in AUM order: the new terms carry the customer's AUM.
    assert set(terms.values_list("rank", flat=True)) == {Decimal("1234567.89")}
    other = CustomerSearchTerm.objects.filter(customer__customer_number="IMP00000")
    assert set(other.values_list("rank", flat=True)) == {Decimal("0")}


def test_new_customers_are_created_encrypted_with_terms_and_audit(world: World) -> None:
    before = AuditEvent.objects.count()
    result = load("operations_a", "customers", HEADER, rows_for(3))
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    customer = Customer.objects.get(customer_number="IMP00001")
    assert customer.id_number == rows_for(3)[1][4]
    assert customer.mobile == "+8613800000001"
    assert customer.birth_date is not None
    assert customer.gender
    assert customer.lifecycle_stage == "customer"
    assert customer.aml_next_review_on is not None
    assert CustomerSearchTerm.objects.filter(customer=customer, kind="i", term="oyh").exists()
    events = AuditEvent.objects.filter(sequence__gt=0).order_by("-sequence")[
        : AuditEvent.objects.count() - before
    ]
    assert sum(1 for event in events if event.action == "customer.imported") == 3


def test_new_customers_carry_time_ordered_ids_and_are_sealed_for_them(world: World) -> None:
    load("operations_a", "customers", HEADER, rows_for(3))
    created = list(Customer.objects.filter(customer_number__startswith="IMP").order_by("customer_number"))
    assert {customer.row_uid.version for customer in created} == {7}
    # In file order within a batch (the unique row_uid index grows at its right edge).
    assert [customer.row_uid for customer in created] == sorted(customer.row_uid for customer in created)
    # Found by its row id (SQLite keeps uuids as 32 hex digits), and decrypted with it.
    assert [Customer.objects.get(row_uid=c.row_uid).pk for c in created] == [c.pk for c in created]
    assert [customer.id_number for customer in created] == [row[4] for row in rows_for(3)]


def test_the_same_rows_again_change_nothing(world: World) -> None:
    load("operations_a", "customers", HEADER, rows_for(5))
    again = load("operations_a", "customers", HEADER, rows_for(5))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)


def test_a_changed_mobile_is_resealed_for_the_existing_row(world: World) -> None:
    load("operations_a", "customers", HEADER, rows_for(2))
    changed = rows_for(2)
    changed[0][5] = "13912345678"
    result = load("operations_a", "customers", HEADER, changed)
    assert (result.updated, result.unchanged) == (1, 1)
    assert Customer.objects.get(customer_number="IMP00000").mobile == "+8613912345678"


def test_skip_policy_leaves_existing_records(world: World) -> None:
    load("operations_a", "customers", HEADER, rows_for(1))
    changed = rows_for(1)
    changed[0][2] = "王五"
    result = load("operations_a", "customers", HEADER, changed, on_match="skip")
    assert result.skipped == 1
    assert Customer.objects.get(customer_number="IMP00000").name == "欧阳明"


def test_invalid_rows_write_nothing(world: World) -> None:
    data = rows_for(3)
    data[1][4] = "110101198001010011"  # bad check character
    data[2][0] = data[0][0]  # duplicate customer number inside the file
    count = Customer.objects.count()
    with pytest.raises(LoadRejected) as rejected:
        load("operations_a", "customers", HEADER, data)
    codes = {(issue[0], issue[3]) for issue in rejected.value.issues}
    assert (3, "checksum") in codes
    assert (2, "duplicate_in_file") in codes
    assert (4, "duplicate_in_file") in codes
    assert Customer.objects.count() == count


def test_out_of_scope_unit_and_customer_are_refused(world: World) -> None:
    with pytest.raises(LoadRejected) as rejected:
        load("operations_a", "customers", HEADER, rows_for(1, unit="SB-B1"))
    assert rejected.value.issues[0][3] == "out_of_scope"
    row = ["W-B", "individual", "李四", "", "", "", "SB-A1", "low"]
    with pytest.raises(LoadRejected) as rejected:
        load("operations_a", "customers", HEADER, [row])
    assert [issue[3] for issue in rejected.value.issues] == ["out_of_scope"]


def test_an_id_number_held_outside_scope_is_held_for_review(world: World) -> None:
    row = ["IMP-NEW", "individual", "李四", "resident_id", "440305196405200017", "", "SB-A1", "low"]
    result = load("operations_a", "customers", HEADER, [row])
    assert result.inserted == 1
    held = Customer.objects.get(customer_number="IMP-NEW")
    assert held.status == "needs_review"
    assert DuplicateCandidate.objects.filter(reason="held_for_review").count() == 1
    inside = ["IMP-NEW2", "individual", "张三", "resident_id", "11010519491231002X", "", "SB-A1", "low"]
    with pytest.raises(LoadRejected) as rejected:
        load("operations_a", "customers", HEADER, [inside])
    assert rejected.value.issues[0][3] == "conflict"
    assert "W-A" in str(rejected.value.issues[0][4])


def test_portfolio_rows_accounts_holdings_transactions(world: World) -> None:
    Product.objects.create(code="WM-1", name="稳健理财", product_type="wealth", risk_level="R2")
    accounts = load(
        "operations_a", "accounts", ["account_number", "customer_number", "kind", "opened_on", "balance"],
        [["6222020200112233", "W-A", "deposit", "2024-01-02", "1000.50"]],
    )  # fmt: skip
    assert accounts.inserted == 1
    account = Account.objects.get(customer_id=world.customer_a)
    assert account.account_number == "6222020200112233"
    assert account.number_last4 == "2233"
    holdings = load(
        "operations_a", "holdings",
        ["source_ref", "customer_number", "product", "amount", "market_value", "start_date", "maturity_date"],
        [["H-1", "W-A", "WM-1", "50000", "50500.20", "2026-01-01", "2027-01-01"]],
    )  # fmt: skip
    assert holdings.inserted == 1
    assert world.customer_a in holdings.customer_ids_touched
    header = [
        "source_ref",
        "account_number",
        "booked_at",
        "amount",
        "direction",
        "channel",
        "transaction_type",
    ]
    data = [
        ["J-1", "6222020200112233", "2026-11-20T10:00:00", "49900.00", "in", "counter", "cash"],
        ["J-2", "6222020200112233", "2026-11-20 11:00:00+08:00", "-20.00", "out", "online", "fee"],
    ]
    first = load("operations_a", "transactions", header, data)
    second = load("operations_a", "transactions", header, data)
    assert (first.inserted, second.inserted, second.unchanged) == (2, 0, 2)
    assert Transaction.objects.filter(account=account).count() == 2
    assert Holding.objects.get(source_ref="H-1").market_value == Decimal("50500.20")


def test_feed_deletes(world: World) -> None:
    Product.objects.create(code="WM-1", name="稳健理财", product_type="wealth", risk_level="R2")
    header = ["op", "source_ref", "customer_number", "product", "amount", "market_value", "start_date"]
    load(
        "operations_a",
        "holdings",
        header,
        [["U", "H-9", "W-A", "WM-1", "1", "1", "2026-01-01"]],
        deletes=True,
    )
    result = load("operations_a", "holdings", header, [["D", "H-9", "W-A", "", "", "", ""]], deletes=True)
    assert result.deleted == 1
    assert not Holding.objects.filter(source_ref="H-9").exists()
    with pytest.raises(LoadRejected) as rejected:
        load("operations_a", "customers", ["op", *HEADER], [["D", *rows_for(1)[0]]], deletes=True)
    assert rejected.value.issues[0][3] == "delete_not_allowed"


def test_products_upsert(world: World) -> None:
    header = ["code", "name", "product_type", "risk_level", "term_days"]
    load("operations_a", "products", header, [["P-1", "基金一号", "fund", "R3", "365"]])
    result = load("operations_a", "products", header, [["P-1", "基金一号", "fund", "R4", "365"]])
    assert result.updated == 1
    assert Product.objects.get(code="P-1").risk_level == "R4"


# ---------------------------------------------------------------- a whole batch (upload → import_run)


def _batch(user: str, data: list[list[object]], *, mode: str = "all"):
    import csv
    import io

    from fincrm.integration.services import import_batch_create

    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *data])
    actor = actor_for_user(World.user(user))
    batch = import_batch_create(
        actor=actor, entity="customers", file_name="customers.csv", chunks=[buffer.getvalue().encode()],
        file_format="csv", mapping={name: name for name in HEADER}, mode=mode,
    )  # fmt: skip
    return actor, batch


def _last_customer_id() -> int | None:
    """The last id the customers' sequence gave (PostgreSQL; None elsewhere or before any)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sequence_last_value(pg_get_serial_sequence('customers_customer', 'id'))")
        return cursor.fetchone()[0]


def test_dry_run_reports_and_writes_nothing_then_the_import_writes(world: World) -> None:
    from fincrm.integration.importer import import_run

    actor, batch = _batch("operations_a", rows_for(3))
    count = Customer.objects.count()
    last_id = _last_customer_id()
    checked = import_run(batch, actor=actor, dry_run=True)
    assert checked.status == "checked"
    assert checked.rows_total == 3
    assert Customer.objects.count() == count
    assert _last_customer_id() == last_id  # a dry run takes no ids
    done = import_run(batch, actor=actor, dry_run=False)
    assert (done.status, done.inserted) == ("done", 3)
    if last_id is not None:  # PostgreSQL: the next ids of the sequence, in file order
        imported = Customer.objects.filter(customer_number__startswith="IMP").order_by("customer_number")
        assert list(imported.values_list("pk", flat=True)) == [last_id + 1, last_id + 2, last_id + 3]
        assert _last_customer_id() == last_id + 3
    batch.refresh_from_db()
    assert batch.upload_path == ""
    assert batch.rows_inserted == 3
    assert AuditEvent.objects.filter(action="import.applied", object_id=str(batch.pk)).count() == 1


def test_valid_rows_mode_imports_the_rest_and_returns_rejects(world: World) -> None:
    from fincrm.integration.importer import import_run

    data = rows_for(3)
    data[1][6] = "NO-SUCH-UNIT"
    actor, batch = _batch("operations_a", data, mode="valid")
    outcome = import_run(batch, actor=actor, dry_run=False)
    assert (outcome.status, outcome.inserted, outcome.rows_invalid) == ("done", 2, 1)
    batch.refresh_from_db()
    assert batch.rejects_file is not None
    assert batch.rejects_file.row_count == 1
    issue = batch.issues.get()
    assert (issue.row_number, issue.column, issue.code) == (3, "org_unit", "unknown_reference")


def test_all_or_nothing_refuses_the_whole_file(world: World) -> None:
    from fincrm.integration.importer import import_run

    data = rows_for(3)
    data[2][5] = "12345"
    actor, batch = _batch("operations_a", data)
    count = Customer.objects.count()
    outcome = import_run(batch, actor=actor, dry_run=False)
    assert (outcome.status, outcome.rows_invalid) == ("invalid", 1)
    assert Customer.objects.count() == count
    issue = batch.issues.get()
    assert (issue.row_number, issue.column, issue.code) == (4, "mobile", "mobile")
    assert issue.value != "12345"


def test_large_batches_name_many_records_per_audit_event(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fincrm.integration import importer

    monkeypatch.setattr(importer, "PER_RECORD_AUDIT_LIMIT", 2)
    monkeypatch.setattr(importer, "RECORDS_PER_EVENT", 2)
    load("operations_a", "customers", HEADER, rows_for(5))
    events = list(AuditEvent.objects.filter(action="customer.imported").order_by("sequence"))
    assert [len(event.after["records"]) for event in events] == [2, 2, 1]
    stored = Customer.objects.filter(customer_number__startswith="IMP").order_by("customer_number")
    # [id, customer number] in file order, the id as text as in every audit event
    assert [record for event in events for record in event.after["records"]] == [
        [str(pk), number] for pk, number in stored.values_list("pk", "customer_number")
    ]


def test_an_import_reads_its_record_events_from_the_stage_at_commit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """import_run keeps no per-record event in memory: they are read from the stage while the
    commit chains and inserts them, a few at a time, in file order, after the ids are known."""
    from fincrm.audit import services as audit_services
    from fincrm.audit.chain import event_hash, fields_of
    from fincrm.integration import importer

    monkeypatch.setattr(importer, "PER_RECORD_AUDIT_LIMIT", 2)
    monkeypatch.setattr(importer, "RECORDS_PER_EVENT", 2)
    monkeypatch.setattr(audit_services, "INSERT_BYTES", 1)  # one event per INSERT
    actor, batch = _batch("operations_a", rows_for(5))
    first = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    outcome = importer.import_run(batch, actor=actor, dry_run=False)
    assert (outcome.status, outcome.inserted) == ("done", 5)
    stored = list(
        Customer.objects.filter(customer_number__startswith="IMP")
        .order_by("pk")
        .values_list("pk", "customer_number")
    )
    assert [number for _pk, number in stored] == [f"IMP{n:05d}" for n in range(5)]  # ids in file order
    events = list(AuditEvent.objects.filter(sequence__gt=first).order_by("sequence"))
    imported = [event.after["records"] for event in events if event.action == "customer.imported"]
    assert imported == [[[str(pk), number] for pk, number in stored[i : i + 2]] for i in (0, 2, 4)]
    assert events[-1].action == "import.applied"
    for previous, event in itertools.pairwise(events):
        assert (event.sequence, event.prev_hash) == (previous.sequence + 1, previous.hash)
        assert event.hash == event_hash(fields_of(event), sequence=event.sequence, prev_hash=event.prev_hash)


def test_empty_cells_and_defaults_are_stable_across_imports(world: World) -> None:
    """Empty cells in mapped columns: the first import stores defaults, the second changes nothing."""
    header = [*HEADER, "nationality", "lifecycle_stage", "value_tier", "risk_assessed_on", "occupation"]
    data = [[*row, "", "", "", "", ""] for row in rows_for(2)]
    data[0][-2] = "2026-01-05"
    first = load("operations_a", "customers", header, data)
    stored = Customer.objects.get(customer_number="IMP00000")
    assert (stored.nationality, stored.lifecycle_stage, stored.value_tier) == ("CHN", "customer", "mass")
    assert stored.risk_expires_on is not None
    again = load("operations_a", "customers", header, data)
    assert (first.inserted, again.updated, again.unchanged) == (2, 0, 2)
    assert Customer.objects.get(customer_number="IMP00000").nationality == "CHN"
    products = ["code", "name", "product_type", "risk_level", "issuer", "currency"]
    load("operations_a", "products", products, [["P-9", "基金九号", "fund", "R3", "", ""]])
    assert (
        load("operations_a", "products", products, [["P-9", "基金九号", "fund", "R3", "", ""]]).unchanged == 1
    )


def test_a_transactions_file_without_a_required_column_is_refused(world: World) -> None:
    load(
        "operations_a", "accounts", ["account_number", "customer_number", "kind", "opened_on"],
        [["6222020200112233", "W-A", "deposit", "2024-01-02"]],
    )  # fmt: skip
    header = ["source_ref", "account_number", "booked_at", "direction", "channel", "transaction_type"]
    with pytest.raises(LoadRejected) as rejected:
        load(
            "operations_a",
            "transactions",
            header,
            [["J-1", "6222020200112233", "2026-11-20T10:00", "in", "atm", "cash"]],
        )
    assert [(issue[1], issue[3]) for issue in rejected.value.issues] == [("amount", "required")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="worker processes prepare rows on PostgreSQL")
def test_worker_processes_prepare_a_large_file_in_file_order(
    world_after_flush: Any, transactional_db: None, tamper: Tamper, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fincrm.integration import importer

    if not OrgUnit.objects.exists():
        build_world()
    monkeypatch.setattr(importer, "PARALLEL_FROM_ROWS", 0)  # any file goes to the workers
    monkeypatch.setattr(importer, "CHUNK_ROWS", 7)  # many small chunks, a few in flight
    actor, batch = _batch("operations_a", rows_for(60))
    outcome = importer.import_run(batch, actor=actor, dry_run=False)
    assert (outcome.status, outcome.inserted) == ("done", 60)
    imported = Customer.objects.filter(customer_number__startswith="IMP").order_by("pk")
    assert list(imported.values_list("customer_number", flat=True)) == [f"IMP{n:05d}" for n in range(60)]
    assert imported.last().mobile == "+8613800000059"  # decrypts: sealed by a worker for its row

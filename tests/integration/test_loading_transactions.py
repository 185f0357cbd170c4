"""Transactions through the import core (TransactionChecker): accounts resolved once per file, the
scope and reference checks, idempotence, deletes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection

from fincrm.integration.importer import LoadRejected
from fincrm.portfolio.models import Account, Transaction
from tests.integration.test_loading import load
from tests.support.world import World

pytestmark = pytest.mark.django_db(transaction=False)

HEADER = ["source_ref", "account_number", "booked_at", "amount", "direction", "channel", "transaction_type"]
MINE = "6222020200112233"  # an account of W-A (in operations_a's scope)
THEIRS = "6222020200114455"  # an account of W-B (outside it)


def _accounts() -> Account:
    header = ["account_number", "customer_number", "kind", "opened_on"]
    assert load("operations_a", "accounts", header, [[MINE, "W-A", "deposit", "2024-01-02"]]).inserted == 1
    assert load("operations_b", "accounts", header, [[THEIRS, "W-B", "deposit", "2024-01-02"]]).inserted == 1
    return Account.objects.get(number_last4="2233")


def _row(ref: str, number: str = MINE, booked: str = "2026-11-20T10:00:00") -> list[object]:
    return [ref, number, booked, "100.00", "in", "counter", "cash"]


def test_unknown_and_out_of_scope_accounts_and_duplicates_are_refused(world: World) -> None:
    _accounts()
    before = Transaction.objects.count()
    data = [
        _row("J-1"),  # row 2: fine
        _row("J-2", THEIRS),  # row 3: W-B's account, outside the scope
        _row("J-3", "6222020200119999"),  # row 4: no such account
        _row("J-4"),  # rows 5 and 6: the same transaction twice
        _row("J-4"),
    ]
    with pytest.raises(LoadRejected) as rejected:
        load("operations_a", "transactions", HEADER, data)
    found = sorted((issue[0], issue[1], issue[3]) for issue in rejected.value.issues)
    assert found == [
        (3, "account_number", "unknown_reference"),
        (4, "account_number", "unknown_reference"),
        (5, "source_ref", "duplicate_in_file"),
        (6, "source_ref", "duplicate_in_file"),
    ]
    # The file learns nothing about accounts it may not touch: the same message for both.
    assert {str(issue[4]) for issue in rejected.value.issues if issue[3] == "unknown_reference"} == {
        "No account with this number in your data scope."
    }
    assert rejected.value.invalid == 4
    assert Transaction.objects.count() == before


def test_booked_once_then_unchanged_then_deleted(world: World) -> None:
    account = _accounts()
    data = [
        _row("J-1", booked="2026-11-20T23:30:00+00:00"),  # 07:30 on the 21st in Shanghai
        _row("J-2", booked="2026-11-19 09:00:00"),
        _row("J-3"),
    ]
    first = load("operations_a", "transactions", HEADER, data)
    assert (first.inserted, first.unchanged, first.deleted) == (3, 0, 0)
    assert first.customer_ids_touched == set()  # transactions are not part of AUM: nothing to refresh
    booked = Transaction.objects.filter(account=account).order_by("source_ref")
    assert [(t.source_ref, t.customer_id, t.business_date) for t in booked] == [
        ("J-1", world.customer_a, date(2026, 11, 21)),
        ("J-2", world.customer_a, date(2026, 11, 19)),
        ("J-3", world.customer_a, date(2026, 11, 20)),
    ]
    second = load("operations_a", "transactions", HEADER, data)
    assert (second.inserted, second.unchanged, second.deleted) == (0, 3, 0)
    feed = [["D", "J-1", MINE], ["D", "J-9", MINE], ["U", "J-4", MINE]]
    header = ["op", "source_ref", "account_number"]
    with pytest.raises(LoadRejected):  # a new transaction needs its booking fields
        load("operations_a", "transactions", header, feed, deletes=True)
    rows = [["D", *_row("J-1")], ["D", *_row("J-9")], ["U", *_row("J-4")]]
    third = load("operations_a", "transactions", ["op", *HEADER], rows, deletes=True)
    assert (third.inserted, third.unchanged, third.deleted) == (1, 1, 1)
    assert sorted(Transaction.objects.filter(account=account).values_list("source_ref", flat=True)) == [
        "J-2",
        "J-3",
        "J-4",
    ]


def test_booked_rows_carry_time_ordered_ids_stored_as_django_stores_them(world: World) -> None:
    account = _accounts()
    header = [*HEADER, "counterparty_account"]
    load("operations_a", "transactions", header, [[*_row(f"J-{n}"), "6222020299998888"] for n in range(3)])
    booked = list(Transaction.objects.filter(account=account).order_by("source_ref"))
    assert {t.row_uid.version for t in booked} == {7}
    # Found by its row id (SQLite keeps uuids as 32 hex digits), and sealed for it.
    assert [Transaction.objects.get(row_uid=t.row_uid).pk for t in booked] == [t.pk for t in booked]
    assert {t.counterparty_account for t in booked} == {"6222020299998888"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="work_mem is a PostgreSQL setting")
def test_the_larger_sort_memory_ends_with_the_check_and_the_merge(world: World) -> None:
    # The file's checks and insert sort in memory; what the caller's transaction runs next must not.
    _accounts()
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', '3MB', TRUE)")
    assert load("operations_a", "transactions", HEADER, [_row("J-1"), _row("J-2")]).inserted == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem')")
        assert cursor.fetchone()[0] == "3MB"

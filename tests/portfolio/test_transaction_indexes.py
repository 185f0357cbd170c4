"""The transactions table's indexes on PostgreSQL, pinned (migration portfolio 0007): every
transaction an import or a feed books writes each of them, so one more is a decision, not a side
effect; and each reader still finds its index."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from tests.customers.factories import CustomerFactory
from tests.portfolio.factories import TransactionFactory
from tests.support.world import World

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's indexes and plans"),
    pytest.mark.django_db,
]

EXPECTED = {
    "portfolio_transaction_pkey": "(id)",
    "transaction_customer_booked": "(customer_id, booked_at DESC, id DESC)",
    "transaction_account_ref": "(account_id, source_ref)",
    "transaction_counterparty_bidx": (
        "(counterparty_account_bidx) WHERE (counterparty_account_bidx IS NOT NULL)"
    ),
}


def _plan(sql: str, parameters: list[object]) -> str:
    """The plan PostgreSQL makes when it may not read the whole table (the test's table is tiny:
    what matters is that an index serves the lookup at all)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, parameters)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_transactions_table_has_exactly_its_indexes() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'portfolio_transaction'::regclass"
        )
        indexes = {name: definition.split(" USING btree ")[1] for name, definition in cursor.fetchall()}
    assert indexes == EXPECTED


def test_the_foreign_key_check_of_a_moved_account_reads_the_account_index(world: World) -> None:
    """A merge moves an account to the survivor; at commit PostgreSQL looks for transactions still
    naming the account with its old customer. Without an index starting with the account that is
    a scan of every transaction, once per moved account."""
    booked = TransactionFactory(customer=CustomerFactory())
    plan = _plan(
        "SELECT 1 FROM ONLY portfolio_transaction x WHERE account_id = %s AND customer_id = %s "
        "FOR KEY SHARE OF x",
        [booked.account_id, booked.customer_id],
    )
    assert "transaction_account_ref" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_an_already_booked_reference_is_found_through_the_account_index(world: World) -> None:
    booked = TransactionFactory(customer=CustomerFactory(), source_ref="J-1")
    plan = _plan(
        "SELECT id FROM portfolio_transaction WHERE account_id = %s AND source_ref = %s",
        [booked.account_id, "J-1"],
    )
    assert "transaction_account_ref" in plan, plan
    assert "Seq Scan" not in plan, plan

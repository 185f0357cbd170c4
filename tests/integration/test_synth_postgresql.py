"""fincrm synth's PostgreSQL fast path, committed as the command runs it: the secondary indexes and
the unique and foreign-key constraints it drops for the load come back exactly as they were, valid.

Other synth tests run inside a test transaction, where synth takes its slow, row-by-row path."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from fincrm.customers.models import Customer
from fincrm.integration import synth
from fincrm.platform.actor import Actor
from fincrm.portfolio.models import Account, AumSnapshot, Transaction
from tests.audit.support import Tamper, tamper  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the bulk path is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]

BULK_TABLES = [Customer._meta.db_table, Account._meta.db_table, Transaction._meta.db_table]


def secondary_objects() -> dict[str, Any]:
    """Every index (with its definition) and constraint (with its definition and validity) of the
    bulk tables, including those of other tables that stand on them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid::regclass::text = ANY(%s)",
            [BULK_TABLES],
        )
        indexes = dict(cursor.fetchall())
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY(%s) OR confrelid::regclass::text = ANY(%s)",
            [BULK_TABLES, BULK_TABLES],
        )
        constraints = {name: (definition, valid) for name, definition, valid in cursor.fetchall()}
    return {"indexes": indexes, "constraints": constraints}


def test_the_bulk_load_restores_every_index_and_constraint(
    world_after_flush: None,
    tamper: Tamper,  # noqa: F811 (fixture): clears the audit rows the load committed
) -> None:
    before = secondary_objects()
    # the composite key a transaction's account and customer stand on, across two bulk tables
    assert "transaction_account_customer" in before["constraints"]

    result = synth.synth_load(actor=Actor.cli(), customers=40, seed=3, transactions_per_customer=2)

    assert secondary_objects() == before
    assert Customer.objects.filter(pk__gte=result.first_customer_id).count() == 40
    assert Transaction.objects.filter(customer_id__gte=result.first_customer_id).exists()
    assert AumSnapshot.objects.exists()

"""A transaction's account and customer are one composite foreign key (migration portfolio 0006):
the account exists, and the transaction's customer is that account's customer, checked by the
database at commit on both PostgreSQL and SQLite."""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction

from fincrm.customers.merging import movers
from fincrm.portfolio.models import Transaction
from tests.customers.factories import CustomerFactory
from tests.portfolio.factories import AccountFactory, TransactionFactory
from tests.support.world import World


def _refused() -> bool:
    """The deferred checks (as at commit) fail; the test then repairs the rows, so the checks
    Django runs when the test ends pass."""
    try:
        with transaction.atomic():
            connection.check_constraints()
    except IntegrityError:
        return True
    return False


def _transaction_keys() -> list[tuple[str, list[tuple[str, str]]]]:
    """(referred table, [(column, referred column)]) of every foreign key of the transactions table."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.confrelid::regclass::text, a.attname, r.attname FROM pg_constraint c "
                "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(col, ref, n) "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col "
                "JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = k.ref "
                "WHERE c.conrelid = 'portfolio_transaction'::regclass AND c.contype = 'f' "
                "ORDER BY c.conname, k.n"
            )
            rows = cursor.fetchall()
        else:
            cursor.execute("PRAGMA foreign_key_list(portfolio_transaction)")
            rows = [(row[2], row[3], row[4]) for row in sorted(cursor.fetchall(), key=lambda r: (r[0], r[1]))]
    keys: dict[str, list[tuple[str, str]]] = {}
    for table, column, referred in rows:
        keys.setdefault(table, []).append((column, referred))
    return sorted(keys.items())


def test_one_composite_key_to_the_account_and_its_customer(world: World) -> None:
    assert _transaction_keys() == [
        ("portfolio_account", [("account_id", "id"), ("customer_id", "customer_id")])
    ]


def test_a_transaction_of_another_customer_than_its_accounts_is_refused(world: World) -> None:
    account = AccountFactory(customer=CustomerFactory())
    booked = TransactionFactory(customer=CustomerFactory(), account=account)
    assert _refused()
    Transaction.objects.filter(pk=booked.pk).update(customer_id=account.customer_id)
    assert not _refused()


def test_a_transaction_of_a_missing_account_is_refused(world: World) -> None:
    booked = TransactionFactory(customer=CustomerFactory())
    Transaction.objects.filter(pk=booked.pk).update(account_id=booked.account_id + 10_000)
    assert _refused()
    Transaction.objects.filter(pk=booked.pk).delete()


def test_a_merge_moves_accounts_and_their_transactions_together(world: World) -> None:
    survivor, absorbed = CustomerFactory(), CustomerFactory()
    TransactionFactory(customer=absorbed)
    registered = movers()
    registered["portfolio.account"](survivor.pk, absorbed.pk)
    assert _refused()  # half-moved: the accounts without their transactions
    registered["portfolio.transaction"](survivor.pk, absorbed.pk)
    assert not _refused()
    assert Transaction.objects.get().customer_id == survivor.pk

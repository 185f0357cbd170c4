"""One composite foreign key for a transaction's account and customer, instead of one each.

``(account_id, customer_id)`` refers to the account's ``(id, customer_id)`` (a new unique
constraint on accounts): the account exists, its customer exists (the account's own foreign key)
and, a guarantee the two single keys never gave, the transaction's customer is its account's. It
is deferred like Django's keys, so a customer merge, which moves the absorbed customer's accounts
and then their transactions in one transaction, is checked at commit as before.

Why: each foreign key is checked row by row at commit by a ``SELECT … FOR KEY SHARE`` that locks
the referred row; a nightly feed of 2,000,000 transactions locked about a million accounts *and*
a million customers (writing a lock into every page of both tables). One key checks and locks the
accounts only. Django cannot declare a composite foreign key: the model keeps both relations
(``db_constraint=False``) and this migration adds the key itself. SQLite cannot add a constraint
to a table: its table is rebuilt with the key, as Django rebuilds tables there.
"""

import django.db.models.deletion
from django.db import migrations, models

NAME = "transaction_account_customer"
KEY = (
    f'CONSTRAINT "{NAME}" FOREIGN KEY ("account_id", "customer_id") '
    'REFERENCES "portfolio_account" ("id", "customer_id") DEFERRABLE INITIALLY DEFERRED'
)


def _sqlite_rebuild_with_key(schema_editor) -> None:
    """The table as it is (columns, indexes) plus the key: the rebuild Django does on SQLite."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'portfolio_transaction'"
        )
        create = cursor.fetchone()[0].rstrip()
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'portfolio_transaction' "
            "AND sql IS NOT NULL"
        )
        indexes = [row[0] for row in cursor.fetchall()]
    assert create.endswith(")"), create
    create = create[:-1] + f", {KEY})"
    create = create.replace('"portfolio_transaction"', '"new__portfolio_transaction"', 1)
    for sql in (
        create,
        'INSERT INTO "new__portfolio_transaction" SELECT * FROM "portfolio_transaction"',
        'DROP TABLE "portfolio_transaction"',
        'ALTER TABLE "new__portfolio_transaction" RENAME TO "portfolio_transaction"',
        *indexes,
    ):
        schema_editor.execute(sql, None)


def add_key(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE "portfolio_transaction" ADD {KEY}')
    elif vendor == "sqlite":
        _sqlite_rebuild_with_key(schema_editor)


def remove_key(apps, schema_editor) -> None:
    # SQLite: the AlterField that follows in reverse rebuilds the table from the model, without it.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE "portfolio_transaction" DROP CONSTRAINT "{NAME}"')


class Migration(migrations.Migration):
    dependencies = [
        ("portfolio", "0005_transaction_bulk_insert_indexes"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="account",
            constraint=models.UniqueConstraint(fields=("id", "customer"), name="account_id_customer"),
        ),
        migrations.AlterField(
            model_name="transaction",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="portfolio.account",
            ),
        ),
        migrations.AlterField(
            model_name="transaction",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="customers.customer",
            ),
        ),
        migrations.RunPython(add_key, remove_key),
    ]

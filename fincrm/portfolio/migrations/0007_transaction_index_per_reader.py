"""One index per reader of the transactions table: two fewer entries for every transaction booked.

Every transaction an import or a feed books writes an entry into each index of this table, and a
nightly feed books millions. The readers are:
* a customer's transactions newest first (the 360, the API's keyset pages, a merge):
  ``transaction_customer_booked``, kept;
* a journal reference already booked on an account (imports and feeds), and the composite foreign
  key's check when a merge moves an account to another customer (``account_id = … AND
  customer_id = …``): both start with the account, so one plain (account, source_ref) index
  serves them instead of ``transaction_account_booked`` plus the partial ``transaction_source_ref``.

``transaction_business_date`` had no reader. A 2,000,000-transaction nightly feed onto the
1M-customer bank: its INSERT 18.9 -> 12.0 s, the feed 62.8-64.2 -> 56.5 s
(docs/operations/benchmarks.md).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0010_sparse_customer_indexes"),
        ("portfolio", "0006_transaction_account_customer_key"),
    ]

    operations = [
        # The new index first: the lookups it serves are never left without one.
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(fields=["account", "source_ref"], name="transaction_account_ref"),
        ),
        migrations.RemoveIndex(model_name="transaction", name="transaction_account_booked"),
        migrations.RemoveIndex(model_name="transaction", name="transaction_business_date"),
        migrations.RemoveIndex(model_name="transaction", name="transaction_source_ref"),
    ]

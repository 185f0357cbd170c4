"""Two fewer index entries for every transaction inserted (imports and feeds book millions).

* ``row_uid`` without a unique index, as the model always meant: ``RowUidField`` turned
  ``unique=False`` back into ``unique=True`` when migrations rebuilt it. A row's uuid is unique by
  construction (uuid4, or the importer's time-ordered ids) and nothing looks transactions up by it.
* The counterparty's blind index only where there is one: most transactions name no counterparty.
"""

import uuid

from django.db import migrations, models

import fincrm.security.fields


class Migration(migrations.Migration):
    dependencies = [
        ("portfolio", "0004_transaction_foreign_keys_unindexed"),
    ]

    operations = [
        migrations.AlterField(
            model_name="transaction",
            name="row_uid",
            field=fincrm.security.fields.RowUidField(default=uuid.uuid4, editable=False, unique=False),
        ),
        migrations.AlterField(
            model_name="transaction",
            name="counterparty_account_bidx",
            field=fincrm.security.fields.BlindIndexField(
                blank=True,
                db_index=False,
                editable=False,
                max_length=80,
                null=True,
                purpose="account_number",
                source="counterparty_account",
            ),
        ),
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("counterparty_account_bidx__isnull", False)),
                fields=["counterparty_account_bidx"],
                name="transaction_counterparty_bidx",
            ),
        ),
    ]

"""Search terms keep their customer's id without a database foreign key: the terms are a derived
index (about 9 per customer) and their deferred foreign-key checks were most of an import's commit.
Django still cascades deletes through the ORM. On PostgreSQL this drops the constraint (instant);
SQLite rebuilds the table.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0006_search_term_rank"),
    ]

    operations = [
        migrations.AlterField(
            model_name="customersearchterm",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="search_terms",
                to="customers.customer",
            ),
        ),
    ]

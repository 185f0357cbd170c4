"""A character or pair at the start of a name is kept as its ``s`` term only, no longer also as a
``c`` term (``search_terms.fragment_terms``): two rows fewer per customer. This deletes the ``c``
rows that repeat an ``s`` row of the same customer, one statement through the (customer, kind,
term) index. At a million customers it deletes two million of 9.3 million rows; VACUUM the table
afterwards (docs/operations/deploy.md). Searches give the same results before and after.
"""

from django.db import migrations

FORWARD = (
    "DELETE FROM customers_customersearchterm WHERE kind = 'c' AND EXISTS (SELECT 1 FROM "
    "customers_customersearchterm s WHERE s.customer_id = customers_customersearchterm.customer_id "
    "AND s.kind = 's' AND s.term = customers_customersearchterm.term)"
)
# Back: every ``s`` term is a ``c`` term again.
BACKWARD = (
    "INSERT INTO customers_customersearchterm (customer_id, kind, term, rank) SELECT customer_id, "
    "'c', term, rank FROM customers_customersearchterm WHERE kind = 's'"
)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0010_sparse_customer_indexes"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]

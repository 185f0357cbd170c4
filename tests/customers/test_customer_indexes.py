"""The customer table's indexes on PostgreSQL, pinned: every import row and every feed update that
changes an indexed column writes each of them, so one more is a decision, not a side effect."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's indexes"),
    pytest.mark.django_db,
]

EXPECTED = {
    "customers_customer_pkey": "(id)",
    "customer_aum_id": "(aum, id)",
    "customer_unit_aum": "(org_unit_id, aum, id)",
    "customer_manager_aum": "(primary_manager_id, aum, id)",
    "customer_team_aum": "(covering_team_id, aum, id)",
    "customer_stage_aum": "(lifecycle_stage, aum, id)",
    "customer_tier_aum": "(value_tier, aum, id)",
    "customer_created": "(created_at, id)",
    "customer_choice_filters": "(status, kind, lifecycle_stage, value_tier, aml_risk_rating, risk_tolerance)",
    # Sparse columns: no entry for the customers without a value.
    "customer_email_bidx": "(email_bidx) WHERE (email_bidx IS NOT NULL)",
    "customer_parent_company": "(parent_company_id) WHERE (parent_company_id IS NOT NULL)",
    "customer_merged_into": "(merged_into_id) WHERE (merged_into_id IS NOT NULL)",
}
# Django names these with a hash of the table and column.
EXPECTED_BY_COLUMN = {
    "customer_number": "UNIQUE",
    "row_uid": "UNIQUE",
    "name": "",
    "id_number_bidx": "",
    "mobile_bidx": "",
}


def test_the_customer_table_has_exactly_its_indexes() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'customers_customer'::regclass"
        )
        indexes = dict(cursor.fetchall())
    named = {name: definition for name, definition in indexes.items() if name in EXPECTED}
    assert {name: definition.split(" USING btree ")[1] for name, definition in named.items()} == EXPECTED
    by_column = {}
    for name, definition in indexes.items():
        if name in EXPECTED:
            continue
        assert not name.endswith("_like"), f"{name}: no query reads a pattern-ops index of the customer table"
        column = definition.split(" USING btree (")[1].rstrip(")")
        by_column[column] = "UNIQUE" if definition.startswith("CREATE UNIQUE") else ""
    assert by_column == EXPECTED_BY_COLUMN

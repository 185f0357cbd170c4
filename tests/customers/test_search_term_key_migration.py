"""Migration 0012 on PostgreSQL: the terms' surrogate key and unique constraint become the
(customer, kind, term) primary key, and back; every term is kept both ways. (SQLite runs the
forward path whenever a test database is made.)"""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection

from fincrm.customers.models import CustomerSearchTerm
from tests.customers.factories import CustomerFactory
from tests.support.world import World

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's ALTER TABLE path")

migration = importlib.import_module("fincrm.customers.migrations.0012_search_term_composite_key")
TABLE = "customers_customersearchterm"


def rows() -> set[tuple[int, str, str, Decimal]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT customer_id, kind, term, rank FROM {TABLE}")  # noqa: S608 - constant
        return set(cursor.fetchall())


def structure() -> dict[str, str]:
    """Each index of the table by name: its definition."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [TABLE])
        return dict(cursor.fetchall())


def key_columns() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            [TABLE],
        )
        return [row[0] for row in cursor.fetchall()]


def test_backward_then_forward_keeps_every_term(world: World) -> None:
    for name, aum in [("张三丰", "0"), ("欧阳娜娜", "1500.00"), ("John Smith", "-20.00")]:
        CustomerFactory(name=name, aum=Decimal(aum), org_unit_id=world.sub_a1)
    before = rows()
    assert key_columns() == ["customer_id", "kind", "term"]

    with connection.schema_editor(atomic=False) as editor:
        migration.backward(apps, editor)
    assert rows() == before
    assert key_columns() == ["id"]
    assert set(structure()) == {f"{TABLE}_pkey", "customer_search_term_unique", "customer_search_term_rank"}

    with connection.schema_editor(atomic=False) as editor:
        migration.forward(apps, editor)
    assert rows() == before
    assert key_columns() == ["customer_id", "kind", "term"]
    assert set(structure()) == {f"{TABLE}_pkey", "customer_search_term_rank"}
    # The ORM writes and reads the table again (no surrogate id left to fill).
    CustomerFactory(name="令狐冲", org_unit_id=world.sub_a1)
    assert CustomerSearchTerm.objects.filter(customer__name="令狐冲").exists()

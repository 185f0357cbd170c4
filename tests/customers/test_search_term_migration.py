"""Migration 0011: the start of a name kept as its ``s`` term only, on a table holding the old terms."""

from __future__ import annotations

import importlib

from django.db import connection

from fincrm.customers.models import CustomerSearchTerm
from fincrm.customers.search_terms import terms_for_name
from tests.customers.factories import CustomerFactory
from tests.support.world import World

migration = importlib.import_module("fincrm.customers.migrations.0011_search_term_start_only_once")


def terms(customer_id: int) -> set[tuple[str, str]]:
    return set(CustomerSearchTerm.objects.filter(customer_id=customer_id).values_list("kind", "term"))


def old_terms(name: str) -> set[tuple[str, str]]:
    """What the terms were before: every character and pair as a ``c`` term, the start too."""
    new = terms_for_name(name)
    return new | {("c", term) for kind, term in new if kind == "s"}


def test_forward_leaves_the_terms_of_today_and_backward_the_old_ones(world: World) -> None:
    names = ["张三丰", "张三张", "欧阳娜娜", "李", "John Smith"]
    customers = [CustomerFactory(name=name, org_unit_id=world.sub_a1) for name in names]
    for customer in customers:
        CustomerSearchTerm.objects.bulk_create(
            CustomerSearchTerm(customer_id=customer.pk, kind=kind, term=term)
            for kind, term in old_terms(customer.name) - terms(customer.pk)
        )
        assert terms(customer.pk) == old_terms(customer.name)

    with connection.cursor() as cursor:
        cursor.execute(migration.FORWARD)
    for customer in customers:
        assert terms(customer.pk) == terms_for_name(customer.name)

    with connection.cursor() as cursor:
        cursor.execute(migration.BACKWARD)
    for customer in customers:
        assert terms(customer.pk) == old_terms(customer.name)

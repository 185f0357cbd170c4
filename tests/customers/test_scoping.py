"""Which customers each built-in role sees: the data scopes of ARCHITECTURE.md on real rows."""

from __future__ import annotations

from typing import Any

import pytest

from fincrm.customers.models import SecondaryManager
from fincrm.customers.selectors import access_customer, customer_queryset, one_read
from fincrm.platform.errors import NotFound
from fincrm.users.actors import actor_for_user
from tests.customers.factories import CustomerFactory
from tests.support.world import World

pytestmark = pytest.mark.django_db


def actor(username: str):  # type: ignore[no-untyped-def]
    return actor_for_user(World.user(username))


@pytest.mark.parametrize(
    ("username", "sees_a", "sees_b"),
    [
        ("account_manager_a", True, False),
        ("team_lead_a", True, False),
        ("branch_manager_a", True, False),
        ("operations_a", True, False),
        ("risk_officer_a", True, True),
        ("auditor_b", True, True),
        ("system_admin_a", False, False),
        ("peer_a", False, False),
    ],
)
def test_each_role_sees_its_scope(world: World, username: str, sees_a: bool, sees_b: bool) -> None:
    visible = set(customer_queryset(actor(username)).values_list("pk", flat=True))
    assert (world.customer_a in visible) is sees_a
    assert (world.customer_b in visible) is sees_b


def test_secondary_manager_reaches_the_customer(world: World) -> None:
    outsider = World.user("account_manager_b")
    assert world.customer_a not in customer_queryset(actor("account_manager_b")).values_list("pk", flat=True)
    SecondaryManager.objects.create(customer_id=world.customer_a, user=outsider)
    assert access_customer(actor("account_manager_b"), world.customer_a).pk == world.customer_a


def test_team_lead_sees_customers_of_the_team_homed_elsewhere(world: World) -> None:
    elsewhere = CustomerFactory(org_unit_id=world.sub_b1, covering_team_id=world.team_a1)
    assert access_customer(actor("team_lead_a"), elsewhere.pk).pk == elsewhere.pk
    with pytest.raises(NotFound):
        access_customer(actor("team_lead_b"), elsewhere.pk)


def test_out_of_scope_and_missing_are_the_same_answer(world: World) -> None:
    with pytest.raises(NotFound):
        access_customer(actor("account_manager_a"), world.customer_b)
    with pytest.raises(NotFound):
        access_customer(actor("account_manager_a"), 10**9)


def test_a_subtree_at_the_institution_root_adds_no_predicate(world: World) -> None:
    """Operations at head office (subtree scope at the root) reaches every customer without the
    OR of EXISTS subqueries the planner cannot see through on a million rows."""
    user = World.user("operations_a")
    user.org_unit_id = world.hq
    user.save(update_fields=["org_unit"])
    queryset = customer_queryset(actor("operations_a"))
    assert {world.customer_a, world.customer_b} <= set(queryset.values_list("pk", flat=True))
    assert "EXISTS" not in str(queryset.query)


def test_one_read_reuses_a_granted_access_but_never_for_writes(
    world: World, django_assert_num_queries: Any
) -> None:
    reader = actor("account_manager_a")
    with one_read():
        access_customer(reader, world.customer_a)
        with django_assert_num_queries(0):
            access_customer(reader, world.customer_a)
        with django_assert_num_queries(1):
            access_customer(reader, world.customer_a, for_update=True)
        with pytest.raises(NotFound):  # a refusal is never remembered as a grant
            access_customer(actor("account_manager_b"), world.customer_a)
    with django_assert_num_queries(1):  # outside the block every access is checked again
        access_customer(reader, world.customer_a)

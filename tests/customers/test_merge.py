"""The merge service: locking and scope, field choices (encrypted values re-sealed under the
survivor's row), every related row moved, registered movers, candidates resolved, audit and outbox."""

from __future__ import annotations

import pytest
from django.db import connection

from fincrm.audit.models import AuditEvent
from fincrm.customers import merging
from fincrm.customers.models import (
    CoverageChange,
    Customer,
    CustomerStatus,
    CustomerTag,
    CustomFieldDefinition,
    CustomFieldValue,
    DuplicateCandidate,
    Household,
    HouseholdMember,
    IdentityDocument,
    LifecycleChange,
    MergeRecord,
    Relationship,
    SecondaryManager,
)
from fincrm.customers.models.search import CustomerSearchTerm
from fincrm.customers.services.merge import customers_merge
from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound, ServiceError
from fincrm.platform.models import OutboxEvent
from fincrm.security.fields import blind_index
from fincrm.users.actors import actor_for_user
from fincrm.users.models import Role, RoleAssignment, User
from tests.customers.factories import CustomerFactory, TagFactory
from tests.support.english import english
from tests.support.world import World

__all__ = ["english"]

pytestmark = pytest.mark.django_db


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def hq_operations(world: World) -> Actor:
    """Operations at head office: subtree of the root, so every customer."""
    user = User.objects.create(username="ops_hq", full_name="Ops HQ", org_unit_id=world.hq)
    RoleAssignment.objects.create(user=user, role=Role.objects.get(code="operations"))
    return actor_for_user(User.objects.select_related("org_unit").get(pk=user.pk))


def pair(world: World, **second: object) -> tuple[Customer, Customer]:
    first = CustomerFactory(
        name="王小明", mobile="+8613711112222", email=None, address="北京市海淀区中关村大街1号"
    )
    other = CustomerFactory(
        name="王晓明", mobile="+8613733334444", email="wang@example.com", address=None, **second
    )
    return first, other


def raw(customer_id: int, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM customers_customer WHERE id = %s", [customer_id])  # noqa: S608
        return cursor.fetchone()[0]


def test_merge_copies_chosen_fields_and_reseals_encrypted_values(world: World) -> None:
    survivor, absorbed = pair(world)
    absorbed_cipher = raw(absorbed.pk, "mobile")

    record = customers_merge(
        actor=actor("operations_a"),
        survivor_id=survivor.pk,
        absorbed_id=absorbed.pk,
        field_choices={"mobile": "absorbed", "name": "survivor"},
        reason="same person, opened twice",
    )

    survivor.refresh_from_db()
    assert survivor.name == "王小明"
    assert survivor.mobile == "+8613733334444"
    # A ciphertext is bound to its row: the survivor's is a new one, readable under its own row id.
    assert raw(survivor.pk, "mobile") != absorbed_cipher
    assert survivor.mobile_bidx == blind_index("+8613733334444", "mobile")
    # A field the survivor lacked is filled from the absorbed customer unless chosen otherwise.
    assert survivor.email == "wang@example.com"
    assert survivor.address == "北京市海淀区中关村大街1号"
    assert record.field_choices["mobile"] == "absorbed"
    assert record.field_choices["email"] == "absorbed"
    assert record.field_choices["address"] == "survivor"
    absorbed.refresh_from_db()
    assert (absorbed.status, absorbed.merged_into_id) == (CustomerStatus.MERGED, survivor.pk)


def test_merge_moves_every_customers_row(world: World) -> None:
    survivor, absorbed = pair(world)
    third = CustomerFactory(name="赵六")
    shared, only_absorbed = TagFactory(), TagFactory()
    CustomerTag.objects.create(customer=survivor, tag=shared)
    CustomerTag.objects.create(customer=absorbed, tag=shared)
    CustomerTag.objects.create(customer=absorbed, tag=only_absorbed)
    peer = World.user("peer_a")
    SecondaryManager.objects.create(customer=absorbed, user=peer)
    Relationship.objects.create(from_customer=absorbed, to_customer=third, kind="spouse")
    Relationship.objects.create(from_customer=survivor, to_customer=absorbed, kind="child")
    household = Household.objects.create(name="王家", org_unit_id=world.sub_a1)
    HouseholdMember.objects.create(household=household, customer=absorbed)
    IdentityDocument.objects.create(customer=absorbed, id_type="passport", id_number="E12345678")
    LifecycleChange.objects.create(customer=absorbed, to_stage="customer", changed_by="x")
    CoverageChange.objects.create(customer=absorbed, changed_by="x", reason="r")
    definition = CustomFieldDefinition.objects.create(code="hobby", label="爱好", field_type="text")
    other_definition = CustomFieldDefinition.objects.create(code="pet", label="宠物", field_type="text")
    CustomFieldValue.objects.create(customer=survivor, definition=definition, text_value="golf")
    CustomFieldValue.objects.create(customer=absorbed, definition=definition, text_value="tennis")
    CustomFieldValue.objects.create(customer=absorbed, definition=other_definition, text_value="cat")
    subsidiary_parent = CustomerFactory(kind="individual")
    Customer.objects.filter(pk=subsidiary_parent.pk).update(parent_company_id=absorbed.pk)

    record = customers_merge(
        actor=actor("operations_a"),
        survivor_id=survivor.pk,
        absorbed_id=absorbed.pk,
        field_choices={"custom:hobby": "absorbed"},
        reason="same person",
    )

    assert set(CustomerTag.objects.filter(customer=survivor).values_list("tag_id", flat=True)) == {
        shared.pk,
        only_absorbed.pk,
    }
    assert not CustomerTag.objects.filter(customer=absorbed).exists()
    assert SecondaryManager.objects.filter(customer=survivor, user=peer).exists()
    assert not SecondaryManager.objects.filter(customer=absorbed).exists()
    assert Relationship.objects.get().from_customer_id == survivor.pk  # the link between the two is gone
    assert HouseholdMember.objects.get(household=household).customer_id == survivor.pk
    documents = IdentityDocument.objects.filter(customer=survivor)
    # The passport moved; the absorbed customer's resident ID became a further document.
    assert sorted(documents.values_list("id_type", flat=True)) == ["passport", "resident_id"]
    assert {doc.id_number for doc in documents} == {"E12345678", absorbed.id_number}
    assert LifecycleChange.objects.filter(customer=survivor).count() == 1
    assert CoverageChange.objects.filter(customer=survivor).count() == 1
    values = dict(
        CustomFieldValue.objects.filter(customer=survivor).values_list("definition__code", "text_value")
    )
    assert values == {"hobby": "tennis", "pet": "cat"}
    assert Customer.objects.get(pk=subsidiary_parent.pk).parent_company_id == survivor.pk
    assert not CustomerSearchTerm.objects.filter(customer=absorbed).exists()
    assert record.moved["customers.tag"] == 1
    assert record.moved["customers.relationship"] == 1
    assert record.moved["customers.identity_document"] == 2


def test_merge_calls_every_registered_mover(world: World) -> None:
    survivor, absorbed = pair(world)
    calls: list[tuple[int, int]] = []

    def mover(survivor_id: int, absorbed_id: int) -> int:
        calls.append((survivor_id, absorbed_id))
        return 7

    merging.register_mover("tests.mover", mover)
    try:
        record = customers_merge(
            actor=actor("operations_a"), survivor_id=survivor.pk, absorbed_id=absorbed.pk, reason="same"
        )
    finally:
        merging._movers.pop("tests.mover")
    assert calls == [(survivor.pk, absorbed.pk)]
    assert record.moved["tests.mover"] == 7
    assert {"portfolio.account", "privacy.consents"} <= set(record.moved)


def test_merge_resolves_candidates_audits_and_publishes(world: World) -> None:
    survivor, absorbed = pair(world)
    third = CustomerFactory()
    DuplicateCandidate.objects.create(first=survivor, second=absorbed, reason="same_mobile")
    lo, hi = sorted([absorbed.pk, third.pk])
    DuplicateCandidate.objects.create(first_id=lo, second_id=hi, reason="same_id_number")

    record = customers_merge(
        actor=actor("operations_a"), survivor_id=survivor.pk, absorbed_id=absorbed.pk, reason="same person"
    )

    assert DuplicateCandidate.objects.get(first=survivor, second=absorbed).status == "merged"
    assert DuplicateCandidate.objects.get(first_id=lo, second_id=hi).status == "merged"
    carried = DuplicateCandidate.objects.get(
        first_id=min(survivor.pk, third.pk), second_id=max(survivor.pk, third.pk)
    )
    assert (carried.status, carried.reason) == ("open", "same_id_number")
    event = AuditEvent.objects.get(action="customer.merged", object_id=str(survivor.pk))
    assert event.reason == "same person"
    assert event.before["absorbed"]["mobile"] == "137****4444"
    assert event.before["survivor"]["name"] == "王**"
    assert "+8613733334444" not in str(event.before) + str(event.after)
    assert event.after["merge_id"] == record.pk
    assert event.after["moved"] == record.moved
    published = OutboxEvent.objects.get(topic="customer.merged")
    assert published.payload == {
        "customer_id": survivor.pk,
        "absorbed_id": absorbed.pk,
        "merge_id": record.pk,
    }
    assert MergeRecord.objects.get().merged_by == "user:operations_a"


def test_merging_a_held_customer_releases_it(world: World) -> None:
    ops = hq_operations(world)
    held = CustomerFactory(status=CustomerStatus.NEEDS_REVIEW, id_number=None)
    lo, hi = sorted([held.pk, world.customer_b])
    DuplicateCandidate.objects.create(first_id=lo, second_id=hi, reason="held_for_review")

    customers_merge(actor=ops, survivor_id=held.pk, absorbed_id=world.customer_b, reason="same person")

    held.refresh_from_db()
    assert held.status == CustomerStatus.ACTIVE
    assert held.id_number == "440305196405200017"  # filled from the absorbed customer


def test_merge_outside_scope_is_not_found_and_changes_nothing(world: World) -> None:
    with pytest.raises(NotFound):
        customers_merge(
            actor=actor("operations_a"),
            survivor_id=world.customer_a,
            absorbed_id=world.customer_b,
            reason="x",
        )
    assert not MergeRecord.objects.exists()
    assert Customer.objects.get(pk=world.customer_b).status == CustomerStatus.ACTIVE


def test_merge_needs_the_merge_permission(world: World) -> None:
    survivor, absorbed = pair(world)
    with pytest.raises(NotFound):
        customers_merge(
            actor=actor("branch_manager_a"), survivor_id=survivor.pk, absorbed_id=absorbed.pk, reason="x"
        )


@pytest.mark.parametrize(
    ("choices", "reason", "field", "message"),
    [
        ({}, " ", "reason", "Say why these customers are one and the same."),
        ({}, "x" * 501, "reason", "Use at most 500 characters."),
        ({"mobile": "left"}, "ok", "field_choices.mobile", "Choose survivor or absorbed."),
        ({"password": "absorbed"}, "ok", "field_choices.password", "This field cannot be chosen in a merge."),
    ],
)
def test_merge_refuses_bad_input(
    world: World, choices: dict[str, str], reason: str, field: str, message: str
) -> None:
    survivor, absorbed = pair(world)
    with pytest.raises(ServiceError) as refused:
        customers_merge(
            actor=actor("operations_a"),
            survivor_id=survivor.pk,
            absorbed_id=absorbed.pk,
            field_choices=choices,
            reason=reason,
        )
    assert refused.value.fields == {field: [message]}
    assert Customer.objects.get(pk=absorbed.pk).status == CustomerStatus.ACTIVE
    assert not AuditEvent.objects.filter(action="customer.merged").exists()


def test_merge_refuses_itself_and_mixed_kinds(world: World) -> None:
    survivor, _absorbed = pair(world)
    company = CustomerFactory(kind="corporate", id_type="", id_number=None)
    with pytest.raises(ServiceError) as same:
        customers_merge(
            actor=actor("operations_a"), survivor_id=survivor.pk, absorbed_id=survivor.pk, reason="x"
        )
    assert same.value.code == "same_customer"
    with pytest.raises(ServiceError) as mixed:
        customers_merge(
            actor=actor("operations_a"), survivor_id=survivor.pk, absorbed_id=company.pk, reason="x"
        )
    assert mixed.value.code == "kind_mismatch"


def test_a_merged_customer_cannot_be_merged_again(world: World) -> None:
    survivor, absorbed = pair(world)
    ops = actor("operations_a")
    customers_merge(actor=ops, survivor_id=survivor.pk, absorbed_id=absorbed.pk, reason="same")
    with pytest.raises(NotFound):
        customers_merge(actor=ops, survivor_id=survivor.pk, absorbed_id=absorbed.pk, reason="same")

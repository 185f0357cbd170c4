"""Relationships, households and corporate groups: rules, masking of what is out of scope, pages, API."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer, Household, HouseholdMember, Relationship
from fincrm.customers.selectors.groups import GROUP_MAX_DEPTH
from fincrm.customers.selectors.relationships import group_tree, household_of, relationships_for
from fincrm.customers.services import relationships as services
from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound, ServiceError
from fincrm.platform.models import OutboxEvent
from fincrm.portfolio.selectors import group_aum
from fincrm.users.actors import actor_for_user
from tests.customers.factories import CustomerFactory
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]  # fixtures

pytestmark = pytest.mark.django_db


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def mine(world: World, **extra: object) -> Customer:
    """A customer of account_manager_a in sub-branch A1, covered by team A1."""
    return CustomerFactory(
        org_unit_id=world.sub_a1,
        covering_team_id=world.team_a1,
        primary_manager=World.user("account_manager_a"),
        **extra,
    )


def company(world: World, name: str = "公司", *, outside: bool = False) -> Customer:
    return CustomerFactory(
        kind="corporate",
        name=name,
        org_unit_id=world.sub_b1 if outside else world.sub_a1,
        covering_team_id=world.team_b1 if outside else world.team_a1,
    )


# ---------------------------------------------------------------- relationships


def test_add_relationship_and_read_it_from_both_sides(world: World) -> None:
    spouse = mine(world, name="王五")
    am = actor("account_manager_a")
    relationship = services.relationship_add(
        actor=am,
        customer_id=world.customer_a,
        related_customer_id=spouse.pk,
        kind="spouse",
        starts_on=datetime.date(2010, 5, 1),
        note="结婚",
    )
    assert (relationship.from_customer_id, relationship.to_customer_id) == (spouse.pk, world.customer_a)
    event = AuditEvent.objects.get(action="customer.relationship.added")
    assert event.after["kind"] == "spouse"
    assert "结婚" not in str(event.after)
    assert OutboxEvent.objects.get().topic == "customer.relationship.changed"
    [row] = relationships_for(am, world.customer_a)
    assert (row.role, row.other.name, row.other.visible, row.active) == ("Spouse", "王五", True, True)
    # The same spouses entered the other way round are one relationship.
    with pytest.raises(ServiceError) as excinfo:
        services.relationship_add(
            actor=am, customer_id=spouse.pk, related_customer_id=world.customer_a, kind="spouse"
        )
    assert excinfo.value.fields == {"related_customer_id": ["This relationship is already recorded."]}


def test_roles_read_from_the_other_side(world: World) -> None:
    child = mine(world)
    am = actor("account_manager_a")
    services.relationship_add(
        actor=am, customer_id=child.pk, related_customer_id=world.customer_a, kind="parent"
    )
    assert [row.role for row in relationships_for(am, child.pk)] == ["Parent"]
    assert [row.role for row in relationships_for(am, world.customer_a)] == ["Child"]


def test_relationship_rules(world: World) -> None:
    am = actor("account_manager_a")
    with pytest.raises(ServiceError) as excinfo:
        services.relationship_add(
            actor=am, customer_id=world.customer_a, related_customer_id=world.customer_a, kind="spouse"
        )
    assert excinfo.value.code == "self_link"
    other = mine(world)
    with pytest.raises(ServiceError) as excinfo:
        services.relationship_add(
            actor=am,
            customer_id=world.customer_a,
            related_customer_id=other.pk,
            kind="guarantor",
            starts_on=datetime.date(2024, 1, 2),
            ends_on=datetime.date(2024, 1, 1),
        )
    assert excinfo.value.fields == {"ends_on": ["The end date must not be before the start date."]}
    with pytest.raises(ServiceError) as excinfo:
        services.relationship_add(
            actor=am, customer_id=world.customer_a, related_customer_id=other.pk, kind="cousin"
        )
    assert excinfo.value.fields == {"kind": ["Choose a relationship from the list."]}
    # The related customer must be visible, the changed one editable.
    with pytest.raises(NotFound):
        services.relationship_add(
            actor=am, customer_id=world.customer_a, related_customer_id=world.customer_b, kind="spouse"
        )
    with pytest.raises(NotFound):
        services.relationship_add(
            actor=actor("risk_officer_a"),
            customer_id=world.customer_a,
            related_customer_id=other.pk,
            kind="spouse",
        )
    assert not Relationship.objects.exists()


def test_out_of_scope_party_is_masked(world: World) -> None:
    Relationship.objects.create(
        from_customer_id=world.customer_b, to_customer_id=world.customer_a, kind="guarantor"
    )
    [row] = relationships_for(actor("account_manager_a"), world.customer_a)
    assert (row.other.customer_id, row.other.name, row.other.customer_number, row.other.visible) == (
        None,
        "李*",
        "",
        False,
    )
    [row] = relationships_for(actor("risk_officer_a"), world.customer_a)
    assert (row.other.customer_id, row.other.name) == (world.customer_b, "李四")
    with pytest.raises(NotFound):
        relationships_for(actor("account_manager_b"), world.customer_a)


def test_end_relationship(world: World) -> None:
    link = Relationship.objects.create(
        from_customer_id=world.customer_b, to_customer_id=world.customer_a, kind="spouse"
    )
    ended = services.relationship_end(actor=actor("account_manager_a"), relationship_id=link.pk)
    assert ended.ends_on == timezone.localdate()
    assert relationships_for(actor("account_manager_a"), world.customer_a)[0].active is False
    with pytest.raises(ServiceError) as excinfo:
        services.relationship_end(actor=actor("account_manager_a"), relationship_id=link.pk)
    assert excinfo.value.code == "already_ended"
    # Editing either side is enough; neither side: not found.
    with pytest.raises(NotFound):
        services.relationship_end(actor=actor("risk_officer_a"), relationship_id=link.pk)
    assert AuditEvent.objects.filter(action="customer.relationship.ended").count() == 1


# ---------------------------------------------------------------- households


def test_household_lifecycle(world: World) -> None:
    am = actor("account_manager_a")
    spouse = mine(world, name="王五")
    household = services.household_create(actor=am, name="张家", head_customer_id=world.customer_a)
    assert household.org_unit_id == world.sub_a1
    services.household_add_member(actor=am, household_id=household.pk, customer_id=spouse.pk)
    view = household_of(am, spouse.pk)
    assert view is not None
    assert [(m.party.name, m.role, m.is_current) for m in view.members] == [
        ("张三", "head", False),
        ("王五", "member", True),
    ]
    # Making the spouse head demotes the old head.
    services.household_add_member(actor=am, household_id=household.pk, customer_id=spouse.pk, role="head")
    roles = dict(HouseholdMember.objects.values_list("customer_id", "role"))
    assert roles == {world.customer_a: "member", spouse.pk: "head"}
    with pytest.raises(ServiceError) as excinfo:
        services.household_remove_member(actor=am, household_id=household.pk, customer_id=spouse.pk)
    assert excinfo.value.code == "head"
    assert (
        services.household_remove_member(actor=am, household_id=household.pk, customer_id=world.customer_a)
        is False
    )
    assert (
        services.household_remove_member(actor=am, household_id=household.pk, customer_id=spouse.pk) is True
    )
    assert not Household.objects.exists()
    codes = list(
        AuditEvent.objects.filter(object_type="household")
        .order_by("sequence")
        .values_list("action", flat=True)
    )
    assert codes == [
        "customer.household.created",
        "customer.household.member_added",
        "customer.household.member_added",
        "customer.household.member_removed",
        "customer.household.member_removed",
    ]


def test_household_rules_and_masking(world: World) -> None:
    am = actor("account_manager_a")
    household = services.household_create(actor=am, name="张家", head_customer_id=world.customer_a)
    with pytest.raises(ServiceError) as excinfo:
        services.household_create(actor=am, name="又一家", head_customer_id=world.customer_a)
    assert excinfo.value.code == "in_household"
    firm = mine(world, kind="corporate", name="某公司")
    with pytest.raises(ServiceError) as excinfo:
        services.household_add_member(actor=am, household_id=household.pk, customer_id=firm.pk)
    assert excinfo.value.code == "not_individual"
    # A member outside the actor's scope (added by someone who sees both) is masked.
    HouseholdMember.objects.create(household=household, customer_id=world.customer_b)
    view = household_of(am, world.customer_a)
    assert view is not None
    assert [(m.party.name, m.party.visible) for m in view.members] == [("张三", True), ("李*", False)]
    # account_manager_b sees the household through its own member, and may not add its own customer to
    # it only by editing the household: the added customer must be editable too.
    with pytest.raises(NotFound):
        services.household_add_member(
            actor=actor("account_manager_b"), household_id=household.pk, customer_id=world.customer_a
        )


# ---------------------------------------------------------------- corporate groups


def test_group_tree_and_cycles(world: World) -> None:
    ops = actor("operations_a")
    top = company(world, name="甲集团")
    middle = company(world, name="乙公司")
    leaf = company(world, name="丙公司")
    foreign = company(world, name="丁公司", outside=True)
    services.company_parent_set(actor=ops, customer_id=middle.pk, parent_id=top.pk)
    services.company_parent_set(actor=ops, customer_id=leaf.pk, parent_id=middle.pk)
    Customer.objects.filter(pk=foreign.pk).update(parent_company=top)
    tree = group_tree(ops, leaf.pk)
    visible = [(node.party.name, node.depth, node.is_current) for node in tree.nodes if node.party.visible]
    assert visible == [("甲集团", 0, False), ("乙公司", 1, False), ("丙公司", 2, True)]
    names = [node.party.name for node in tree.nodes]
    assert names[0] == "甲集团"
    assert "丁公司" not in names
    assert tree.truncated is False
    masked = [node for node in tree.nodes if not node.party.visible]
    assert [(node.party.name, node.party.customer_id, node.depth) for node in masked] == [("丁**", None, 1)]
    html = render_to_string("customers/_group_tree.html", {"tree": tree})
    assert html.count('data-depth="1"') == 2
    assert "丁**" in html
    assert "<strong>丙公司</strong>" in html
    assert html.count("<a href=") == 2  # the two visible companies that are not the current one
    with pytest.raises(ServiceError) as excinfo:
        services.company_parent_set(actor=ops, customer_id=top.pk, parent_id=leaf.pk)
    assert excinfo.value.code == "cycle"
    with pytest.raises(ServiceError) as excinfo:
        services.company_parent_set(actor=ops, customer_id=top.pk, parent_id=top.pk)
    assert excinfo.value.code == "cycle"
    with pytest.raises(ServiceError) as excinfo:
        services.company_parent_set(actor=ops, customer_id=world.customer_a, parent_id=top.pk)
    assert excinfo.value.code == "not_corporate"
    with pytest.raises(NotFound):
        services.company_parent_set(actor=ops, customer_id=middle.pk, parent_id=foreign.pk)
    services.company_parent_set(actor=ops, customer_id=leaf.pk, parent_id=None)
    assert Customer.objects.get(pk=leaf.pk).parent_company_id is None
    event = AuditEvent.objects.filter(action="customer.group.changed").latest("sequence")
    assert (event.before, event.after) == ({"parent_company_id": middle.pk}, {"parent_company_id": None})


# ---------------------------------------------------------------- pages and API


def test_relationship_page_flow(world: World, client: Client) -> None:
    spouse = mine(world, name="王五")
    sign_in(client, World.user("account_manager_a"))
    page = f"/customers/{world.customer_a}/relationships/"
    response = client.get(page)
    assert response.status_code == 200
    assert b"relationship-form" in response.content
    response = client.post(
        f"/customers/{world.customer_a}/relationships/new/",
        {"related_number": spouse.customer_number, "kind": "spouse"},
    )
    assert response.status_code == 302
    response = client.post(
        f"/customers/{world.customer_a}/relationships/new/", {"related_number": "W-B", "kind": "spouse"}
    )
    assert response.status_code == 400
    assert b"No customer you may see has this customer number." in response.content
    response = client.post(f"/customers/{world.customer_a}/household/new/", {"name": "张家"})
    assert response.status_code == 302
    response = client.post(
        f"/customers/{world.customer_a}/household/members/",
        {"member_number": spouse.customer_number, "role": "member"},
    )
    assert response.status_code == 302
    response = client.get(page)
    assert "王五".encode() in response.content
    assert "张家".encode() in response.content
    link = Relationship.objects.get()
    response = client.post(f"/customers/relationships/{link.pk}/end/", {"customer": world.customer_a})
    assert response.status_code == 302
    assert Relationship.objects.get().ends_on is not None
    household = Household.objects.get()
    response = client.post(
        f"/customers/households/{household.pk}/members/{spouse.pk}/remove/", {"customer": world.customer_a}
    )
    assert response.status_code == 302
    assert HouseholdMember.objects.count() == 1


def test_api(world: World, client: Client) -> None:
    spouse = mine(world, name="王五")
    sign_in(client, World.user("account_manager_a"))
    response = client.post(
        f"/api/v1/customers/{world.customer_a}/relationships",
        {"related_customer_id": spouse.pk, "kind": "spouse", "starts_on": "2010-05-01"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["other"] == {
        "customer_id": spouse.pk,
        "name": "王五",
        "customer_number": spouse.customer_number,
        "visible": True,
    }
    response = client.post(
        "/api/v1/households",
        {"name": "张家", "head_customer_id": world.customer_a},
        content_type="application/json",
    )
    assert response.status_code == 201
    household_id = response.json()["id"]
    response = client.post(
        f"/api/v1/households/{household_id}/members",
        {"customer_id": spouse.pk},
        content_type="application/json",
    )
    assert [member["party"]["name"] for member in response.json()["members"]] == ["张三", "王五"]
    response = client.get(f"/api/v1/customers/{spouse.pk}/household")
    assert response.json()["name"] == "张家"
    response = client.get(f"/api/v1/customers/{world.customer_a}/group")
    assert response.json()["nodes"][0]["party"]["name"] == "张三"
    response = client.post(f"/api/v1/relationships/{body['id']}/end", {}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["active"] is False


def test_a_chain_deeper_than_the_bound_is_cut_off(world: World) -> None:
    """A chain of 32 companies (written around the services, which refuse one deeper than 30): the
    walk goes 30 levels up and 30 down, shows 31 companies and says the group is larger."""
    chain = [company(world, name=f"链{index:02d}") for index in range(GROUP_MAX_DEPTH + 2)]
    for parent, child in itertools.pairwise(chain):
        Customer.objects.filter(pk=child.pk).update(parent_company=parent)
    ops = actor("operations_a")

    tree = group_tree(ops, chain[-1].pk)

    assert tree.truncated is True
    assert [node.party.name for node in tree.nodes] == [f"链{index:02d}" for index in range(1, 32)]
    assert [node.depth for node in tree.nodes] == list(range(31))
    figure = group_aum(ops, chain[-1].pk)
    assert figure is not None
    assert figure.members == 31  # the same companies as the tree, not fewer levels

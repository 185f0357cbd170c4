"""Tags: definitions, tagging one customer, set-based bulk tagging, the badges partial, pages and API."""

from __future__ import annotations

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.customers.models import CustomerTag, Tag
from fincrm.customers.selectors.tags import attach_tags, tags_for
from fincrm.customers.services import tags as services
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden, NotFound, ServiceError
from fincrm.platform.models import OutboxEvent
from fincrm.users.actors import actor_for_user
from tests.customers.factories import CustomerFactory, TagFactory
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]  # fixtures

pytestmark = pytest.mark.django_db


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def labels(customer_id: int) -> list[str]:
    return sorted(CustomerTag.objects.filter(customer_id=customer_id).values_list("tag__label", flat=True))


# ---------------------------------------------------------------- definitions


def test_create_tag_cleans_and_audits(world: World) -> None:
    tag = services.tag_create(actor=actor("marketing_a"), label="  高 净值 ", colour="green", group=" 价值 ")
    assert (tag.label, tag.colour, tag.group, tag.is_active) == ("高 净值", "green", "价值", True)
    event = AuditEvent.objects.get(action="customer.tag.created", object_id=str(tag.pk))
    assert event.after == {"label": "高 净值", "colour": "green", "group": "价值", "is_active": True}
    assert OutboxEvent.objects.filter(topic="customer.tag.defined", payload={"tag_id": tag.pk}).count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"label": " "}, "label", "Enter the tag's name."),
        ({"label": "x" * 51}, "label", "Use at most 50 characters."),
        ({"label": "ok", "colour": "pink"}, "colour", "Choose a colour from the list."),
        ({"label": "ok", "group": "g" * 51}, "group", "Use at most 50 characters."),
        ({"label": "VIP"}, "label", "Another tag already has this name."),
    ],
)
def test_create_tag_refuses_bad_input(world: World, data: dict[str, str], field: str, message: str) -> None:
    TagFactory(label="vip")
    with pytest.raises(ServiceError) as excinfo:
        services.tag_create(actor=actor("marketing_a"), **data)
    assert excinfo.value.fields == {field: [message]}
    assert Tag.objects.count() == 1


def test_defining_tags_needs_the_permission(world: World) -> None:
    with pytest.raises(Forbidden):
        services.tag_create(actor=actor("account_manager_a"), label="x")
    tag = TagFactory()
    with pytest.raises(NotFound):
        services.tag_update(actor=actor("account_manager_a"), tag_id=tag.pk, label="y")
    assert Tag.objects.get(pk=tag.pk).label == tag.label


def test_deactivated_tag_is_hidden_and_cannot_be_given(world: World) -> None:
    tag = TagFactory(label="old")
    CustomerTag.objects.create(customer_id=world.customer_a, tag=tag)
    services.tag_deactivate(actor=actor("marketing_a"), tag_id=tag.pk)
    event = AuditEvent.objects.get(action="customer.tag.updated")
    assert (event.before["is_active"], event.after["is_active"]) == (True, False)
    assert tags_for([world.customer_a]) == {world.customer_a: []}
    assert tags_for([world.customer_a], include_inactive=True)[world.customer_a] == [tag]
    other = TagFactory(label="new")
    with pytest.raises(ServiceError) as excinfo:
        services.customer_tag_add(
            actor=actor("account_manager_a"), customer_id=world.customer_a, tag_id=tag.pk
        )
    assert excinfo.value.fields == {
        "tag_id": ["One of the chosen tags does not exist or is no longer active."]
    }
    # Setting the visible tags keeps the hidden one.
    services.customer_tags_set(
        actor=actor("account_manager_a"), customer_id=world.customer_a, tag_ids=[other.pk]
    )
    assert labels(world.customer_a) == ["new", "old"]


# ---------------------------------------------------------------- one customer


def test_set_tags_writes_audit_and_outbox(world: World) -> None:
    vip, risk, gold = TagFactory(label="vip"), TagFactory(label="risk"), TagFactory(label="gold")
    CustomerTag.objects.create(customer_id=world.customer_a, tag=risk)
    result = services.customer_tags_set(
        actor=actor("account_manager_a"), customer_id=world.customer_a, tag_ids=[vip.pk, str(gold.pk)]
    )
    assert sorted(tag.label for tag in result) == ["gold", "vip"]
    assert labels(world.customer_a) == ["gold", "vip"]
    event = AuditEvent.objects.get(action="customer.tagged")
    assert (event.object_type, event.object_id) == ("customer", str(world.customer_a))
    assert event.before == {"tags": ["risk"]}
    assert event.after == {"tags": ["gold", "vip"]}
    assert list(OutboxEvent.objects.values_list("topic", "payload")) == [
        ("customer.tagged", {"customer_id": world.customer_a})
    ]
    # The same set again changes nothing and records nothing.
    services.customer_tags_set(
        actor=actor("account_manager_a"), customer_id=world.customer_a, tag_ids=[vip.pk, gold.pk]
    )
    assert AuditEvent.objects.filter(action="customer.tagged").count() == 1


def test_tagging_out_of_scope_is_not_found(world: World) -> None:
    tag = TagFactory()
    with pytest.raises(NotFound):
        services.customer_tag_add(
            actor=actor("account_manager_a"), customer_id=world.customer_b, tag_id=tag.pk
        )
    assert not CustomerTag.objects.exists()


def test_add_and_remove_one_tag(world: World) -> None:
    tag = TagFactory(label="vip")
    am = actor("account_manager_a")
    assert services.customer_tag_add(actor=am, customer_id=world.customer_a, tag_id=tag.pk) is True
    assert services.customer_tag_add(actor=am, customer_id=world.customer_a, tag_id=tag.pk) is False
    assert services.customer_tag_remove(actor=am, customer_id=world.customer_a, tag_id=tag.pk) is True
    assert services.customer_tag_remove(actor=am, customer_id=world.customer_a, tag_id=tag.pk) is False
    assert labels(world.customer_a) == []
    assert AuditEvent.objects.filter(action="customer.tagged").count() == 2


# ---------------------------------------------------------------- bulk


def test_bulk_tags_a_batch_set_based(world: World) -> None:
    vip, gold = TagFactory(label="vip"), TagFactory(label="gold")
    customers = [CustomerFactory(org_unit_id=world.sub_a1) for _ in range(4)]
    CustomerTag.objects.create(customer=customers[0], tag=vip)
    CustomerTag.objects.create(customer=customers[0], tag=gold)
    ids = [customer.pk for customer in customers]
    changed = services.customers_tag_bulk(
        actor=actor("operations_a"), customer_ids=ids, tag_ids=[vip.pk, gold.pk]
    )
    assert changed == 3
    assert all(labels(pk) == ["gold", "vip"] for pk in ids)
    events = AuditEvent.objects.filter(action="customer.tagged").order_by("object_id")
    assert [event.object_id for event in events] == sorted(str(pk) for pk in ids[1:])
    assert all(event.before == {"tags": []} and event.after == {"tags": ["gold", "vip"]} for event in events)
    batch = AuditEvent.objects.get(action="customer.tagged.bulk")
    assert batch.after == {"remove": False, "tags": ["gold", "vip"], "customers": 4, "changed": 3}
    outbox = OutboxEvent.objects.get()
    assert (outbox.topic, outbox.payload) == ("customer.tagged.bulk", {"customer_ids": ids[1:]})

    removed = services.customers_tag_bulk(
        actor=actor("operations_a"), customer_ids=ids[:2], tag_ids=[gold.pk], remove=True
    )
    assert removed == 2
    assert labels(ids[0]) == labels(ids[1]) == ["vip"]
    assert labels(ids[2]) == ["gold", "vip"]


def test_bulk_with_one_customer_out_of_scope_writes_nothing(world: World) -> None:
    tag = TagFactory()
    inside = CustomerFactory(org_unit_id=world.sub_a1)
    with pytest.raises(NotFound):
        services.customers_tag_bulk(
            actor=actor("operations_a"), customer_ids=[inside.pk, world.customer_b], tag_ids=[tag.pk]
        )
    assert not CustomerTag.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="customer.tagged").exists()
    assert not OutboxEvent.objects.exists()


def test_bulk_denial_is_a_security_event_naming_the_outsider(world: World, client: Client) -> None:
    tag = TagFactory()
    inside = CustomerFactory(org_unit_id=world.sub_a1)
    sign_in(client, World.user("operations_a"))
    response = client.post(
        "/api/v1/customer-tags/bulk",
        {"customer_ids": [inside.pk, world.customer_b], "tag_ids": [tag.pk]},
        content_type="application/json",
    )
    assert response.status_code == 404
    denied = SecurityEvent.objects.get(kind="access.denied", user_id=World.user("operations_a").pk)
    assert denied.detail["object_id"] == str(world.customer_b)
    assert not CustomerTag.objects.exists()


def test_bulk_refusals(world: World) -> None:
    tag = TagFactory()
    with pytest.raises(Forbidden):
        services.customers_tag_bulk(
            actor=actor("marketing_a"), customer_ids=[world.customer_a], tag_ids=[tag.pk]
        )
    with pytest.raises(ServiceError) as excinfo:
        services.customers_tag_bulk(actor=actor("operations_a"), customer_ids=[], tag_ids=[tag.pk])
    assert excinfo.value.fields == {"customer_ids": ["Choose at least one customer."]}
    with pytest.raises(ServiceError) as excinfo:
        services.customers_tag_bulk(actor=actor("operations_a"), customer_ids=[world.customer_a], tag_ids=[])
    assert excinfo.value.fields == {"tag_ids": ["Choose at least one tag."]}
    with pytest.raises(ServiceError) as excinfo:
        services.customers_tag_bulk(actor=actor("operations_a"), customer_ids=["x"], tag_ids=[tag.pk])
    assert excinfo.value.fields == {"customer_ids": ["Send whole-number ids."]}


def test_bulk_limit_is_a_setting(world: World, settings: object) -> None:
    settings.FINCRM_BULK_TAG_MAX = 2  # type: ignore[attr-defined]
    tag = TagFactory()
    ids = [CustomerFactory(org_unit_id=world.sub_a1).pk for _ in range(3)]
    with pytest.raises(ServiceError) as excinfo:
        services.customers_tag_bulk(actor=actor("operations_a"), customer_ids=ids, tag_ids=[tag.pk])
    assert excinfo.value.fields == {"customer_ids": ["Tag at most 2 customers at a time."]}


def test_bulk_query_count_does_not_grow_with_the_batch(world: World) -> None:
    tag = TagFactory()
    ops = actor("operations_a")

    def queries(size: int) -> int:
        ids = [CustomerFactory(org_unit_id=world.sub_a1).pk for _ in range(size)]
        with CaptureQueriesContext(connection) as captured:
            services.customers_tag_bulk(actor=ops, customer_ids=ids, tag_ids=[tag.pk])
        return len(captured)

    assert queries(2) == queries(25)


# ---------------------------------------------------------------- reads and the partial


def test_tags_for_reads_many_customers_in_one_query(world: World) -> None:
    vip, gold = TagFactory(label="vip", group="b"), TagFactory(label="gold", group="a")
    CustomerTag.objects.create(customer_id=world.customer_a, tag=vip)
    CustomerTag.objects.create(customer_id=world.customer_a, tag=gold)
    CustomerTag.objects.create(customer_id=world.customer_b, tag=vip)
    with CaptureQueriesContext(connection) as captured:
        result = tags_for([world.customer_a, world.customer_b, 999999])
    assert len(captured) == 1
    assert result == {world.customer_a: [gold, vip], world.customer_b: [vip], 999999: []}


def test_attach_tags_and_the_badges_partial(world: World) -> None:
    tag = TagFactory(label="高净值", colour="red", group="价值")
    CustomerTag.objects.create(customer_id=world.customer_a, tag=tag)

    class Row:
        pk = world.customer_a

    row = Row()
    attach_tags([row])
    html = render_to_string("customers/_tags.html", {"tags": row.tag_list})  # type: ignore[attr-defined]
    assert 'class="badge bg-red-lt" data-tag="高净值" title="价值">高净值</span>' in html
    assert "style=" not in html


# ---------------------------------------------------------------- pages and API


def test_tag_pages_create_and_edit(world: World, client: Client) -> None:
    sign_in(client, World.user("marketing_a"))
    response = client.post("/customers/tags/new/", {"label": "VIP", "colour": "purple", "group": ""})
    assert response.status_code == 302
    tag = Tag.objects.get(label="VIP")
    response = client.get("/customers/tags/")
    assert response.status_code == 200
    assert b"bg-purple-lt" in response.content
    response = client.post(
        f"/customers/tags/{tag.pk}/edit/", {"label": "VIP", "colour": "purple", "group": "x"}
    )
    assert response.status_code == 302
    assert Tag.objects.get(pk=tag.pk).is_active is False  # the unticked box deactivates
    response = client.post("/customers/tags/new/", {"label": "vip", "colour": "blue"})
    assert response.status_code == 200
    assert b"Another tag already has this name." in response.content


def test_customer_tags_page_and_htmx(world: World, client: Client) -> None:
    vip, gold = TagFactory(label="vip"), TagFactory(label="gold")
    sign_in(client, World.user("account_manager_a"))
    response = client.get(f"/customers/{world.customer_a}/tags/")
    assert response.status_code == 200
    assert b"gold" in response.content
    response = client.post(f"/customers/{world.customer_a}/tags/", {"tag_ids": [vip.pk]})
    assert response.status_code == 302
    assert labels(world.customer_a) == ["vip"]
    response = client.post(
        f"/customers/{world.customer_a}/tags/", {"tag_ids": [gold.pk]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert b'data-tag="gold"' in response.content
    assert b"<form" not in response.content
    assert labels(world.customer_a) == ["gold"]


def test_api_tags(world: World, client: Client) -> None:
    sign_in(client, World.user("operations_a"))
    response = client.post(
        "/api/v1/tags", {"label": "vip", "colour": "green"}, content_type="application/json"
    )
    assert response.status_code == 201
    tag_id = response.json()["id"]
    assert response.json() == {
        "id": tag_id,
        "label": "vip",
        "colour": "green",
        "group": "",
        "is_active": True,
    }
    response = client.put(
        f"/api/v1/customers/{world.customer_a}/tags", {"tag_ids": [tag_id]}, content_type="application/json"
    )
    assert response.status_code == 200
    assert [tag["label"] for tag in response.json()] == ["vip"]
    other = CustomerFactory(org_unit_id=world.sub_a1)
    response = client.post(
        "/api/v1/customer-tags/bulk",
        {"customer_ids": [world.customer_a, other.pk], "tag_ids": [tag_id]},
        content_type="application/json",
    )
    assert response.json() == {"changed": 1}
    response = client.post(
        "/api/v1/customer-tags/bulk",
        {"customer_ids": [world.customer_b], "tag_ids": [tag_id]},
        content_type="application/json",
    )
    assert response.status_code == 404
    response = client.get("/api/v1/tags")
    assert [tag["label"] for tag in response.json()["items"]] == ["vip"]
    response = client.delete(f"/api/v1/customers/{other.pk}/tags/{tag_id}")
    assert response.status_code == 204
    assert labels(other.pk) == []

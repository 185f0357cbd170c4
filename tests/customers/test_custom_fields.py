"""Custom fields: definitions, validation of values, storing (C2 encrypted), filtering, pages, API."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer, CustomFieldDefinition, CustomFieldValue
from fincrm.customers.selectors import customer_queryset
from fincrm.customers.selectors.custom_fields import (
    Range,
    custom_field_filter,
    custom_field_rows,
    custom_values_for,
    definition_list,
    definitions_for,
)
from fincrm.customers.services import custom_fields as services
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, Forbidden, NotFound, ServiceError
from fincrm.platform.models import OutboxEvent
from fincrm.users.actors import actor_for_user
from tests.customers.factories import CustomerFactory
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]  # fixtures

pytestmark = pytest.mark.django_db

CHOICES = [{"value": "gold", "label": "黄金", "label_en": "Gold"}, {"value": "silver", "label": "白银"}]


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def define(code: str, field_type: str, **extra: Any) -> CustomFieldDefinition:
    return services.custom_field_create(
        actor=actor("system_admin_a"), code=code, label=code.title(), field_type=field_type, **extra
    )


@pytest.fixture
def fields(world: World) -> dict[str, CustomFieldDefinition]:
    return {
        "hobby": define("hobby", "text"),
        "cars": define("cars", "number"),
        "budget": define("budget", "decimal"),
        "since": define("since", "date"),
        "tier": define("tier", "choice", choices=CHOICES),
        "metals": define("metals", "multi_choice", choices=CHOICES),
        "vip": define("vip", "boolean"),
        "passport2": define("passport2", "text", data_class="C2"),
        "staff": define("staff_no", "text", applies_to="corporate"),
    }


# ---------------------------------------------------------------- definitions


def test_define_audits_and_needs_the_permission(world: World) -> None:
    definition = define("hobby", "text", label_en="Hobby", required=True)
    event = AuditEvent.objects.get(action="customer.field.created")
    assert event.after["code"] == "hobby"
    assert event.after["required"] is True
    assert OutboxEvent.objects.filter(topic="customer.field.defined").count() == 1
    with pytest.raises(Forbidden):
        services.custom_field_create(actor=actor("operations_a"), code="x", label="X", field_type="text")
    with pytest.raises(NotFound):
        services.custom_field_update(actor=actor("operations_a"), field_id=definition.pk, label="Y")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"code": "Bad-Code"},
            "code",
            "Use 1 to 40 lower-case letters, digits or underscores, starting with a letter.",
        ),
        ({"field_type": "colour"}, "field_type", "Choose a value from the list."),
        ({"field_type": "choice"}, "choices", "Give at least one choice."),
        ({"choices": CHOICES}, "choices", "Only choice fields have choices."),
        (
            {"field_type": "choice", "choices": [{"value": "A B"}]},
            "choices",
            "A choice value uses 1 to 40 lower-case letters, digits, hyphens or underscores: A B is not one.",
        ),
        (
            {"field_type": "choice", "choices": [{"value": "a"}, {"value": "a"}]},
            "choices",
            "The choice value a appears twice.",
        ),
        ({"field_type": "boolean", "data_class": "C2"}, "data_class", None),
        ({"code": "taken"}, "code", "Another custom field already uses this code."),
    ],
)
def test_definition_rules(world: World, data: dict[str, Any], field: str, message: str | None) -> None:
    define("taken", "text")
    arguments = {"code": "new_field", "label": "New", "field_type": "text", **data}
    with pytest.raises(ServiceError) as excinfo:
        services.custom_field_create(actor=actor("system_admin_a"), **arguments)
    assert list(excinfo.value.fields) == [field]
    if message is not None:
        assert excinfo.value.fields[field] == [message]
    assert CustomFieldDefinition.objects.count() == 1


def test_type_and_class_are_fixed_once_in_use(fields: dict[str, CustomFieldDefinition], world: World) -> None:
    admin = actor("system_admin_a")
    services.custom_field_update(
        actor=admin, field_id=fields["cars"].pk, field_type="decimal"
    )  # unused: fine
    services.custom_values_set(
        actor=actor("account_manager_a"), customer_id=world.customer_a, values={"hobby": "golf"}
    )
    with pytest.raises(ServiceError) as excinfo:
        services.custom_field_update(actor=admin, field_id=fields["hobby"].pk, data_class="C2")
    assert excinfo.value.code == "in_use"
    with pytest.raises(Conflict):
        services.custom_field_delete(actor=admin, field_id=fields["hobby"].pk)
    services.custom_field_delete(actor=admin, field_id=fields["since"].pk)
    assert not CustomFieldDefinition.objects.filter(code="since").exists()


# ---------------------------------------------------------------- validation


def test_clean_custom_values_types_each_field(fields: dict[str, CustomFieldDefinition]) -> None:
    cleaned = services.clean_custom_values(
        "individual",
        {
            "hobby": "  golf  ",
            "cars": "2",
            "budget": "1,234.50",
            "since": "2020-02-29",
            "tier": "gold",
            "metals": ["silver", "gold", "gold"],
            "vip": "true",
            "passport2": "E1234567",
        },
    )
    assert cleaned == {
        "hobby": "golf",
        "cars": 2,
        "budget": Decimal("1234.5"),
        "since": datetime.date(2020, 2, 29),
        "tier": "gold",
        "metals": ["gold", "silver"],
        "vip": True,
        "passport2": "E1234567",
    }


def test_clean_custom_values_reports_every_broken_rule(fields: dict[str, CustomFieldDefinition]) -> None:
    CustomFieldDefinition.objects.filter(code="hobby").update(required=True)
    with pytest.raises(ServiceError) as excinfo:
        services.clean_custom_values(
            "individual",
            {
                "cars": "2.5",
                "budget": "1.23456",
                "since": "2021-02-29",
                "tier": "bronze",
                "metals": ["gold", "lead"],
                "vip": "maybe",
                "staff_no": "x",
                "nope": 1,
            },
        )
    assert excinfo.value.fields == {
        "custom.hobby": ["This field is required."],
        "custom.cars": ["Enter a whole number, e.g. 42."],
        "custom.budget": ["Use at most 4 decimal places."],
        "custom.since": ["Enter a date as YYYY-MM-DD."],
        "custom.tier": ["Choose one of: gold, silver."],
        "custom.metals": ["Choose only from: gold, silver."],
        "custom.vip": ["Choose yes or no."],
        "custom.staff_no": ["There is no such custom field for this customer."],
        "custom.nope": ["There is no such custom field for this customer."],
    }


# ---------------------------------------------------------------- storing


def test_values_are_stored_audited_and_c2_is_encrypted(
    fields: dict[str, CustomFieldDefinition], world: World
) -> None:
    am = actor("account_manager_a")
    changed = services.custom_values_set(
        actor=am,
        customer_id=world.customer_a,
        values={"hobby": "golf", "budget": "10.5", "metals": ["gold"], "vip": False, "passport2": "E1234567"},
    )
    assert changed == {
        "hobby": "golf",
        "budget": "10.5",
        "metals": ["gold"],
        "vip": False,
        "passport2": "****",
    }
    event = AuditEvent.objects.get(action="customer.custom_values.changed")
    assert event.before == {"hobby": None, "budget": None, "metals": None, "vip": None, "passport2": None}
    assert event.after == changed
    assert OutboxEvent.objects.filter(topic="customer.custom_values.changed").count() == 1
    secret = CustomFieldValue.objects.get(definition=fields["passport2"])
    stored, text = (
        CustomFieldValue.objects.filter(pk=secret.pk).values_list("secret_value", "text_value").get()
    )
    stored = str(stored)  # the sealed ciphertext as written to the column
    assert "E1234567" not in stored
    assert text == ""
    assert custom_values_for([world.customer_a])[world.customer_a] == {
        "hobby": "golf",
        "budget": Decimal("10.5"),
        "metals": ["gold"],
        "vip": False,
        "passport2": "****",
    }
    assert custom_values_for([world.customer_a], reveal_c2=True)[world.customer_a]["passport2"] == "E1234567"

    # Sending the mask back keeps the secret; an empty value clears; unchanged values record nothing.
    changed = services.custom_values_set(
        actor=am, customer_id=world.customer_a, values={"passport2": "****", "hobby": "", "budget": "10.50"}
    )
    assert changed == {"hobby": None}
    assert custom_values_for([world.customer_a], reveal_c2=True)[world.customer_a]["passport2"] == "E1234567"
    second = AuditEvent.objects.filter(action="customer.custom_values.changed").latest("sequence")
    assert (second.before, second.after) == ({"hobby": "golf"}, {"hobby": None})


def test_replace_clears_what_is_left_out_and_required_must_stay(
    fields: dict[str, CustomFieldDefinition], world: World
) -> None:
    am = actor("account_manager_a")
    services.custom_values_set(actor=am, customer_id=world.customer_a, values={"hobby": "golf", "cars": 1})
    services.custom_values_set(actor=am, customer_id=world.customer_a, values={"cars": 3}, replace=True)
    assert custom_values_for([world.customer_a])[world.customer_a] == {"cars": 3}
    services.custom_field_update(actor=actor("system_admin_a"), field_id=fields["tier"].pk, required=True)
    with pytest.raises(ServiceError) as excinfo:
        services.custom_values_set(actor=am, customer_id=world.customer_a, values={"cars": 4})
    assert excinfo.value.fields == {"custom.tier": ["This field is required."]}
    assert custom_values_for([world.customer_a])[world.customer_a] == {"cars": 3}


def test_setting_values_needs_edit_in_scope(fields: dict[str, CustomFieldDefinition], world: World) -> None:
    with pytest.raises(NotFound):
        services.custom_values_set(
            actor=actor("account_manager_a"), customer_id=world.customer_b, values={"hobby": "x"}
        )
    with pytest.raises(NotFound):
        services.custom_values_set(
            actor=actor("risk_officer_a"), customer_id=world.customer_a, values={"hobby": "x"}
        )
    assert not CustomFieldValue.objects.exists()


# ---------------------------------------------------------------- filtering


def test_filters(fields: dict[str, CustomFieldDefinition], world: World) -> None:
    ops = actor("operations_a")
    first = CustomerFactory(org_unit_id=world.sub_a1)
    second = CustomerFactory(org_unit_id=world.sub_a1)
    services.custom_values_set(
        actor=ops,
        customer_id=first.pk,
        values={
            "hobby": "Golf",
            "cars": 2,
            "since": "2020-01-01",
            "metals": ["gold", "silver"],
            "passport2": "E1",
        },
    )
    services.custom_values_set(
        actor=ops,
        customer_id=second.pk,
        values={"cars": 5, "tier": "silver", "metals": ["silver"], "vip": True},
    )

    def matching(code: str, value: Any) -> set[int]:
        return set(
            customer_queryset(ops).filter(custom_field_filter(code, value)).values_list("pk", flat=True)
        )

    assert matching("hobby", "golf") == {first.pk}
    assert matching("cars", Range(low=3)) == {second.pk}
    assert matching("cars", {"min": 1, "max": 2}) == {first.pk}
    assert matching("cars", [2, 5]) == {first.pk, second.pk}
    assert matching("since", Range(high="2020-06-30")) == {first.pk}
    assert matching("tier", ["silver", "gold"]) == {second.pk}
    assert matching("metals", "gold") == {first.pk}
    assert matching("metals", ["silver"]) == {first.pk, second.pk}
    assert matching("vip", True) == {second.pk}
    assert matching("passport2", " E1 ") == {first.pk}
    assert matching("passport2", "E2") == set()
    with pytest.raises(ServiceError) as excinfo:
        matching("passport2", Range(low="A"))
    assert excinfo.value.fields == {"custom.passport2": ["This field can only be filtered by exact value."]}
    with pytest.raises(ServiceError) as excinfo:
        matching("missing", 1)
    assert excinfo.value.fields == {"custom.missing": ["There is no such custom field."]}
    with pytest.raises(ServiceError) as excinfo:
        matching("cars", "many")
    assert excinfo.value.fields == {"custom.cars": ["Enter a whole number, e.g. 42."]}
    assert Customer.objects.filter(custom_field_filter("cars", 2)).count() == 1


# ---------------------------------------------------------------- pages and API


def test_definition_pages(world: World, client: Client) -> None:
    sign_in(client, World.user("system_admin_a"))
    response = client.post(
        "/customers/custom-fields/new/",
        {
            "code": "tier",
            "label": "等级",
            "label_en": "Tier",
            "field_type": "choice",
            "applies_to": "all",
            "data_class": "C1",
            "choices": "gold | 黄金 | Gold\nsilver | 白银",
            "position": 1,
        },
    )
    assert response.status_code == 302
    definition = CustomFieldDefinition.objects.get(code="tier")
    assert definition.choices == [
        {"value": "gold", "label": "黄金", "label_en": "Gold"},
        {"value": "silver", "label": "白银", "label_en": ""},
    ]
    assert b"tier" in client.get("/customers/custom-fields/").content
    response = client.get(f"/customers/custom-fields/{definition.pk}/edit/")
    assert b"gold | \xe9\xbb\x84\xe9\x87\x91 | Gold" in response.content


def test_values_page_and_fragment(
    fields: dict[str, CustomFieldDefinition], world: World, client: Client
) -> None:
    sign_in(client, World.user("account_manager_a"))
    url = f"/customers/{world.customer_a}/custom-fields/edit/"
    response = client.get(url)
    assert response.status_code == 200
    assert b'name="custom.hobby"' in response.content
    assert b"staff_no" not in response.content
    response = client.post(
        url, {"custom.hobby": "golf", "custom.cars": "x", "custom.passport2": "E9PASSPORT"}
    )
    assert response.status_code == 200
    assert b"Enter a whole number, e.g. 42." in response.content
    response = client.post(
        url,
        {"custom.hobby": "golf", "custom.cars": "3", "custom.passport2": "E9PASSPORT"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b'data-field-code="hobby"' in response.content
    assert b"golf" in response.content
    assert b"E9PASSPORT" not in response.content  # C2 shown masked
    response = client.get(url)
    assert b'value="****"' in response.content
    assert b"E9PASSPORT" not in response.content


def test_api_values(fields: dict[str, CustomFieldDefinition], world: World, client: Client) -> None:
    sign_in(client, World.user("account_manager_a"))
    url = f"/api/v1/customers/{world.customer_a}/custom-fields"
    response = client.put(
        url,
        {"values": {"budget": 12.25, "since": "2024-01-31", "passport2": "E7"}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    values = {field["code"]: field["value"] for field in response.json()["fields"]}
    assert values["budget"] == "12.25"
    assert values["since"] == "2024-01-31"
    assert values["passport2"] == "****"
    assert values["hobby"] is None
    response = client.put(url, {"values": {"budget": "abc"}}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"custom.budget": ["Enter a number, e.g. 1234.56."]}


def test_rows_of_the_360_hold_the_values_custom_values_for_reads(
    fields: dict[str, CustomFieldDefinition], world: World, django_assert_num_queries: Any
) -> None:
    services.custom_values_set(
        actor=actor("account_manager_a"),
        customer_id=world.customer_a,
        values={"hobby": "golf", "budget": "12.25", "tier": "gold", "metals": ["gold"], "passport2": "E7"},
    )
    # A field switched off keeps its stored value, which is shown nowhere.
    services.custom_field_update(actor=actor("system_admin_a"), field_id=fields["budget"].pk, is_active=False)
    customer = Customer.objects.get(pk=world.customer_a)

    for reveal in (False, True):
        with django_assert_num_queries(2):  # the definitions, their values
            rows = custom_field_rows(customer.pk, customer.kind, reveal_c2=reveal)
        values = custom_values_for([customer.pk], reveal_c2=reveal)[customer.pk]
        assert [row.code for row in rows] == [
            definition.code for definition in definitions_for(customer.kind)
        ]
        assert {row.code: row.value for row in rows if row.value is not None} == values
    assert "staff_no" not in {row.code for row in rows}  # a corporate field, not this customer's
    assert {row.code: row.display for row in rows}["tier"] == "Gold"


def test_rows_of_the_360_without_fields_cost_one_query(world: World, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        assert custom_field_rows(world.customer_a, "individual") == []


def test_definitions_for_a_kind_are_the_orm_s(fields: dict[str, CustomFieldDefinition]) -> None:
    services.custom_field_update(actor=actor("system_admin_a"), field_id=fields["vip"].pk, is_active=False)
    services.custom_field_update(actor=actor("system_admin_a"), field_id=fields["hobby"].pk, position=9)

    def loaded(definitions: list[CustomFieldDefinition]) -> list[dict[str, Any]]:
        return [
            {field.attname: getattr(definition, field.attname) for field in definition._meta.concrete_fields}
            for definition in definitions
        ]

    for kind in ("individual", "corporate"):
        orm = definition_list(include_inactive=False).filter(
            applies_to__in=[CustomFieldDefinition.AppliesTo.ALL, kind]
        )
        assert loaded(definitions_for(kind)) == loaded(list(orm))
    codes = [definition.code for definition in definitions_for("individual")]
    assert "vip" not in codes
    assert "staff_no" not in codes
    assert codes[-1] == "hobby"  # by position, then code
    tier = {definition.code: definition for definition in definitions_for("individual")}["tier"]
    assert [choice["value"] for choice in tier.choices] == ["gold", "silver"]  # JSON loaded

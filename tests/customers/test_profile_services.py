"""Customer core services: create (validation, KYC dates, duplicates, held for review), update,
lifecycle, transfer and secondary managers. Everything refused leaves nothing written."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent
from fincrm.customers.identity import resident_id_18_to_15
from fincrm.customers.models import (
    CoverageChange,
    Customer,
    CustomerSearchTerm,
    CustomerStatus,
    DuplicateCandidate,
    LifecycleChange,
    SecondaryManager,
)
from fincrm.customers.selectors import access_customer
from fincrm.customers.services import profile
from fincrm.customers.services.profile import (
    add_months,
    customer_create,
    customer_lifecycle_change,
    customer_transfer,
    customer_update,
    secondary_manager_add,
    secondary_manager_remove,
    warnings_of,
)
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden, NotFound, ServiceError
from fincrm.platform.models import OutboxEvent
from fincrm.security.fields import blind_index
from fincrm.users.actors import actor_for_user
from tests.customers.factories import CustomerFactory, resident_id
from tests.support.english import english  # noqa: F401  (autouse: messages in English)
from tests.support.world import World

pytestmark = pytest.mark.django_db


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def individual(world: World, **extra: Any) -> dict[str, Any]:
    return {"kind": "individual", "name": "王小明", "org_unit_id": world.sub_a1, **extra}


def written() -> tuple[int, int, int, int, int]:
    return (
        Customer.objects.count(),
        AuditEvent.objects.count(),
        OutboxEvent.objects.count(),
        DuplicateCandidate.objects.count(),
        CustomerSearchTerm.objects.count(),
    )


def refused(call: Any) -> dict[str, list[str]]:
    before = written()
    with pytest.raises(ServiceError) as excinfo:
        call()
    assert written() == before, "a refused write left rows behind"
    return excinfo.value.fields


# ---------------------------------------------------------------- create


def test_create_minimal_individual(world: World) -> None:
    manager = actor("account_manager_a")
    customer = customer_create(actor=manager, data=individual(world, mobile="138 0013 9999"))
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE
    assert customer.primary_manager_id == manager.user_id
    assert customer.org_unit_id == world.sub_a1
    assert customer.lifecycle_stage == "lead"
    assert customer.mobile == "+8613800139999"
    assert customer.name_pinyin == "wangxiaoming"
    assert customer.customer_number.startswith("C")
    assert len(customer.customer_number) == 12
    assert customer.aml_risk_rating == "low"
    assert customer.aml_next_review_on == add_months(timezone.localdate(), 24)
    assert CustomerSearchTerm.objects.filter(customer=customer, kind="i", term="wxm").exists()
    assert access_customer(manager, customer.pk).pk == customer.pk
    event = AuditEvent.objects.get(action="customer.created", object_id=str(customer.pk))
    assert event.after is not None
    assert event.after["mobile"] == "138****9999"
    assert event.after["name"] == "王**"
    assert "13800139999" not in str(event.after)
    outbox = OutboxEvent.objects.get(topic="customer.created")
    assert outbox.payload == {"customer_id": customer.pk, "needs_review": False}


def test_create_with_resident_id_derives_birth_date_and_gender(world: World) -> None:
    number = resident_id(12345)
    customer = customer_create(
        actor=actor("account_manager_a"),
        data=individual(world, id_type="resident_id", id_number=number.lower(), lifecycle_stage="customer"),
    )
    customer.refresh_from_db()
    assert customer.id_number == number.upper()
    assert customer.id_number_bidx == blind_index(number, "id_number")
    assert customer.birth_date == date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert customer.gender == ("male" if int(number[16]) % 2 else "female")
    event = AuditEvent.objects.get(action="customer.created", object_id=str(customer.pk))
    assert event.after is not None
    assert event.after["id_number"] == number[:3] + "*" * 11 + number[-4:]
    assert event.after["birth_date"] == "****"


def test_legacy_15_digit_number_is_stored_as_18(world: World) -> None:
    number = resident_id(500)  # born 1961
    customer = customer_create(
        actor=actor("account_manager_a"),
        data=individual(world, id_type="resident_id", id_number=resident_id_18_to_15(number)),
    )
    customer.refresh_from_db()
    assert customer.id_number == number
    assert customer.birth_date == date(1961, 5, 15)


def test_region_newer_than_birth_is_created_with_a_warning(world: World) -> None:
    customer = customer_create(
        actor=actor("operations_a"),
        data=individual(world, id_type="resident_id", id_number=resident_id(77, region="440305")),
    )
    assert [warning.code for warning in warnings_of(customer)] == ["region_not_current"]
    event = AuditEvent.objects.get(action="customer.created", object_id=str(customer.pk))
    assert event.after is not None
    assert event.after["identity_warnings"] == ["region_not_current"]


def test_corporate_with_uscc_and_override_of_a_failed_check(world: World) -> None:
    creator = actor("operations_a")
    data = {
        "kind": "corporate",
        "name": "福建某某有限公司",
        "org_unit_id": world.sub_a1,
        "id_type": "uscc",
        "id_number": "91350100M000100Y44",  # check character should be 3
    }
    fields = refused(lambda: customer_create(actor=creator, data=data))
    assert "identity_override_reason" in fields
    assert any("check character" in message for message in fields["id_number"])
    customer = customer_create(
        actor=creator, data=data, identity_override_reason="Licence seen, code is real"
    )
    assert customer.id_number == "91350100M000100Y44"
    assert [warning.code for warning in warnings_of(customer)] == ["uscc_checksum"]
    event = AuditEvent.objects.get(action="customer.created", object_id=str(customer.pk))
    assert event.reason == "Licence seen, code is real"


def test_corporate_refuses_personal_id_types_and_fields(world: World) -> None:
    data = {
        "kind": "corporate",
        "name": "某某公司",
        "org_unit_id": world.sub_a1,
        "id_type": "resident_id",
        "id_number": resident_id(3),
        "gender": "male",
    }
    fields = refused(lambda: customer_create(actor=actor("operations_a"), data=data))
    assert fields["id_type"] == ["Choose an ID type for a corporate customer."]
    assert fields["gender"] == ["Only individual customers have this field."]


def test_every_bad_field_is_reported_at_once_and_nothing_is_written(world: World) -> None:
    data = individual(
        world,
        name="   ",
        mobile="12345",
        email="not-an-email",
        id_type="resident_id",
        id_number="11010519491231003X",
        risk_tolerance="C9",
        is_professional_investor=True,
        birth_date="2999-01-01",
    )
    fields = refused(lambda: customer_create(actor=actor("account_manager_a"), data=data))
    assert set(fields) >= {
        "name",
        "mobile",
        "email",
        "id_number",
        "risk_tolerance",
        "professional_evidence",
        "birth_date",
    }
    assert fields["id_number"] == [
        "The check character (the last one) does not match: look for a mistyped digit."
    ]


def test_customer_stage_needs_an_identity(world: World) -> None:
    fields = refused(
        lambda: customer_create(
            actor=actor("account_manager_a"), data=individual(world, lifecycle_stage="customer")
        )
    )
    assert "id_number" in fields


def test_birth_date_must_match_the_resident_id(world: World) -> None:
    data = individual(world, id_type="resident_id", id_number="11010519491231002X", birth_date="1950-01-01")
    fields = refused(lambda: customer_create(actor=actor("account_manager_b"), data=data))
    assert fields["birth_date"] == ["The date of birth does not match the one inside the ID number."]


def test_home_branch_outside_reach_is_refused(world: World) -> None:
    fields = refused(
        lambda: customer_create(
            actor=actor("account_manager_a"), data={**individual(world), "org_unit_id": world.sub_b1}
        )
    )
    assert fields["org_unit_id"] == ["Choose an active home branch within your reach."]


def test_operations_reaches_its_subtree_but_not_the_other_branch(world: World) -> None:
    creator = actor("operations_a")
    customer = customer_create(actor=creator, data={**individual(world), "org_unit_id": world.sub_a1})
    assert customer.org_unit_id == world.sub_a1
    refused(lambda: customer_create(actor=creator, data={**individual(world), "org_unit_id": world.sub_b1}))


def test_without_create_permission_is_forbidden(world: World) -> None:
    before = written()
    with pytest.raises(Forbidden):
        customer_create(actor=actor("service_agent_a"), data=individual(world))
    assert written() == before


def test_primary_manager_must_be_reachable_and_able_to_hold_customers(world: World) -> None:
    creator = actor("operations_a")
    fields = refused(
        lambda: customer_create(
            actor=creator, data=individual(world, primary_manager_id=World.user("peer_a").pk)
        )
    )
    assert fields["primary_manager_id"] == ["This staff member has no role that may look after customers."]
    fields = refused(
        lambda: customer_create(
            actor=creator, data=individual(world, primary_manager_id=World.user("account_manager_b").pk)
        )
    )
    assert fields["primary_manager_id"] == ["Choose an active staff member within your reach."]
    customer = customer_create(
        actor=creator, data=individual(world, primary_manager_id=World.user("account_manager_a").pk)
    )
    assert customer.primary_manager_id == World.user("account_manager_a").pk


def test_kyc_dates_follow_the_settings(world: World) -> None:
    today = timezone.localdate()
    assessed = today - timedelta(days=10)
    customer = customer_create(
        actor=actor("account_manager_a"),
        data=individual(
            world,
            aml_risk_rating="high",
            risk_tolerance="C3",
            risk_assessed_on=assessed.isoformat(),
            is_professional_investor=True,
            professional_evidence="Financial assets statement 2024, CNY 6M",
        ),
    )
    assert customer.aml_next_review_on == add_months(today, 6)
    assert customer.risk_expires_on == add_months(assessed, 12)
    with override_settings(FINCRM_AML_REVIEW_MONTHS={"high": 3, "medium": 12, "low": 24}):
        medium = customer_create(
            actor=actor("account_manager_a"), data=individual(world, aml_risk_rating="high")
        )
    assert medium.aml_next_review_on == add_months(today, 3)


def test_risk_tolerance_needs_an_assessment_date(world: World) -> None:
    fields = refused(
        lambda: customer_create(actor=actor("account_manager_a"), data=individual(world, risk_tolerance="C2"))
    )
    assert fields == {"risk_assessed_on": ["Enter the date of the risk assessment."]}


def test_unknown_fields_are_refused(world: World) -> None:
    fields = refused(
        lambda: customer_create(actor=actor("account_manager_a"), data=individual(world, aum="1"))
    )
    assert fields == {"aum": ["This field cannot be set here."]}


# ---------------------------------------------------------------- duplicates


def test_same_id_inside_scope_names_the_existing_customer(world: World) -> None:
    fields = refused(
        lambda: customer_create(
            actor=actor("account_manager_a"),
            data=individual(world, id_type="resident_id", id_number="11010519491231002X"),
        )
    )
    assert fields["id_number"] == ["Customer W-A already has this ID number."]


def test_same_id_outside_scope_is_held_for_review_and_reveals_nothing(world: World) -> None:
    creator = actor("account_manager_a")
    customer = customer_create(
        actor=creator,
        data=individual(world, id_type="resident_id", id_number="440305196405200017"),
    )
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.NEEDS_REVIEW
    pair = DuplicateCandidate.objects.get()
    assert (pair.first_id, pair.second_id) == (world.customer_b, customer.pk)
    assert pair.reason == "held_for_review"
    # Nothing about the other customer reaches the creator: not in the audit event, not in the outbox.
    event = AuditEvent.objects.get(action="customer.created", object_id=str(customer.pk))
    assert event.after is not None
    assert set(event.after) == {*profile.SNAPSHOT_FIELDS, "identity_warnings"}
    assert "W-B" not in str(event.after)
    assert OutboxEvent.objects.get(topic="customer.created").payload == {
        "customer_id": customer.pk,
        "needs_review": True,
    }
    # The creator still manages the held customer; the other one stays out of reach.
    assert access_customer(creator, customer.pk).pk == customer.pk
    with pytest.raises(NotFound):
        access_customer(creator, world.customer_b)


def test_merged_customers_do_not_count_as_duplicates(world: World) -> None:
    number = resident_id(4242)
    CustomerFactory(id_number=number, org_unit_id=world.sub_b1, status=CustomerStatus.MERGED)
    customer = customer_create(
        actor=actor("account_manager_a"), data=individual(world, id_type="resident_id", id_number=number)
    )
    assert customer.status == CustomerStatus.ACTIVE
    assert not DuplicateCandidate.objects.exists()


# ---------------------------------------------------------------- update


def test_update_changes_only_what_differs_and_audits_masked(world: World) -> None:
    editor = actor("account_manager_a")
    customer = customer_update(
        actor=editor,
        customer_id=world.customer_a,
        data={"mobile": "+86 139 1111 2222", "occupation": "Teacher", "name": "张三"},
    )
    assert customer.mobile == "+8613911112222"
    event = AuditEvent.objects.get(action="customer.updated", object_id=str(world.customer_a))
    assert event.before == {"mobile": "138****8000", "occupation": ""}
    assert event.after == {"mobile": "139****2222", "occupation": "Teacher"}
    assert OutboxEvent.objects.filter(topic="customer.updated").count() == 1


def test_update_with_nothing_new_writes_nothing(world: World) -> None:
    before = written()
    customer_update(actor=actor("account_manager_a"), customer_id=world.customer_a, data={"name": "张三"})
    assert written() == before


def test_update_renames_and_refreshes_search_terms(world: World) -> None:
    customer_update(actor=actor("branch_manager_a"), customer_id=world.customer_a, data={"name": "单田芳"})
    customer = Customer.objects.get(pk=world.customer_a)
    assert customer.name_pinyin == "shantianfang"
    assert CustomerSearchTerm.objects.filter(customer=customer, kind="i", term="stf").exists()
    assert not CustomerSearchTerm.objects.filter(customer=customer, term="张三").exists()


def test_update_out_of_scope_is_not_found_and_changes_nothing(world: World) -> None:
    before = written()
    with pytest.raises(NotFound):
        customer_update(
            actor=actor("account_manager_a"), customer_id=world.customer_b, data={"occupation": "x"}
        )
    assert written() == before
    assert Customer.objects.get(pk=world.customer_b).occupation == ""


def test_update_aml_rating_recomputes_the_review_date(world: World) -> None:
    customer = customer_update(
        actor=actor("account_manager_a"), customer_id=world.customer_a, data={"aml_risk_rating": "medium"}
    )
    assert customer.aml_next_review_on == add_months(timezone.localdate(), 12)
    event = AuditEvent.objects.get(action="customer.updated")
    assert event.after == {
        "aml_next_review_on": add_months(timezone.localdate(), 12).isoformat(),
        "aml_risk_rating": "medium",
    }


def test_update_to_an_id_held_in_scope_is_refused(world: World) -> None:
    other = CustomerFactory(org_unit_id=world.sub_a1, primary_manager=World.user("account_manager_a"))
    fields = refused(
        lambda: customer_update(
            actor=actor("account_manager_a"),
            customer_id=other.pk,
            data={"id_number": "11010519491231002X"},
        )
    )
    assert fields["id_number"] == ["Customer W-A already has this ID number."]


def test_update_birth_date_contradicting_the_id_is_refused(world: World) -> None:
    fields = refused(
        lambda: customer_update(
            actor=actor("account_manager_a"), customer_id=world.customer_a, data={"birth_date": "1950-01-01"}
        )
    )
    assert "birth_date" in fields


# ---------------------------------------------------------------- lifecycle


def test_lifecycle_change_records_history(world: World) -> None:
    customer_lifecycle_change(
        actor=actor("account_manager_a"), customer_id=world.customer_a, stage="dormant", reason="No activity"
    )
    change = LifecycleChange.objects.get(customer_id=world.customer_a)
    assert (change.from_stage, change.to_stage, change.reason) == ("customer", "dormant", "No activity")
    assert change.changed_by == "user:account_manager_a"
    event = AuditEvent.objects.get(action="customer.lifecycle.changed")
    assert (event.before, event.after) == ({"lifecycle_stage": "customer"}, {"lifecycle_stage": "dormant"})
    assert OutboxEvent.objects.filter(topic="customer.lifecycle.changed").count() == 1


@pytest.mark.parametrize(
    ("stage", "reason", "field"),
    [("customer", "", "stage"), ("lead", "", "stage"), ("lost", "", "reason"), ("vip", "", "stage")],
)
def test_lifecycle_rules(world: World, stage: str, reason: str, field: str) -> None:
    fields = refused(
        lambda: customer_lifecycle_change(
            actor=actor("account_manager_a"), customer_id=world.customer_a, stage=stage, reason=reason
        )
    )
    assert list(fields) == [field]


def test_lead_becomes_customer_only_with_an_identity(world: World) -> None:
    creator = actor("account_manager_a")
    lead = customer_create(actor=creator, data=individual(world))
    fields = refused(lambda: customer_lifecycle_change(actor=creator, customer_id=lead.pk, stage="customer"))
    assert fields == {"stage": ["Record the customer's identity document before making them a customer."]}
    customer_update(
        actor=creator, customer_id=lead.pk, data={"id_type": "passport", "id_number": "E12345678"}
    )
    assert customer_lifecycle_change(
        actor=creator, customer_id=lead.pk, stage="customer"
    ).lifecycle_stage == ("customer")


# ---------------------------------------------------------------- coverage


def test_transfer_moves_the_customer_and_the_old_manager_loses_it_at_once(world: World) -> None:
    old = actor("account_manager_a")
    assert access_customer(old, world.customer_a)
    new_manager = World.user("operations_a")
    customer_transfer(
        actor=actor("team_lead_a"),
        customer_id=world.customer_a,
        primary_manager_id=new_manager.pk,
        reason="Manager leaves the branch",
    )
    with pytest.raises(NotFound):
        access_customer(old, world.customer_a)
    change = CoverageChange.objects.get(customer_id=world.customer_a)
    assert change.from_manager_id == World.user("account_manager_a").pk
    assert change.to_manager_id == new_manager.pk
    assert (change.from_team_id, change.to_team_id) == (world.team_a1, world.team_a1)
    assert change.reason == "Manager leaves the branch"
    event = AuditEvent.objects.get(action="customer.coverage.changed")
    assert event.after == {"primary_manager_id": new_manager.pk, "covering_team_id": world.team_a1}
    assert OutboxEvent.objects.filter(topic="customer.coverage.changed").count() == 1


def test_transfer_needs_a_reason_and_a_change(world: World) -> None:
    lead = actor("team_lead_a")
    fields = refused(
        lambda: customer_transfer(
            actor=lead,
            customer_id=world.customer_a,
            primary_manager_id=World.user("operations_a").pk,
            reason=" ",
        )
    )
    assert list(fields) == ["reason"]
    fields = refused(lambda: customer_transfer(actor=lead, customer_id=world.customer_a, reason="Because"))
    assert list(fields) == ["primary_manager_id"]


def test_transfer_to_a_team_out_of_reach_is_refused(world: World) -> None:
    fields = refused(
        lambda: customer_transfer(
            actor=actor("team_lead_a"),
            customer_id=world.customer_a,
            covering_team_id=world.team_b1,
            reason="x",
        )
    )
    assert fields == {"covering_team_id": ["Choose an active team within your reach."]}


def test_transfer_without_reassign_permission_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        customer_transfer(
            actor=actor("account_manager_a"),
            customer_id=world.customer_a,
            primary_manager_id=World.user("operations_a").pk,
            reason="x",
        )


def test_secondary_manager_add_and_remove(world: World) -> None:
    lead = actor("team_lead_a")
    helper = World.user("operations_a")
    secondary_manager_add(actor=lead, customer_id=world.customer_a, user_id=helper.pk)
    assert SecondaryManager.objects.filter(customer_id=world.customer_a, user=helper).exists()
    fields = refused(
        lambda: secondary_manager_add(actor=lead, customer_id=world.customer_a, user_id=helper.pk)
    )
    assert fields == {"user_id": ["This staff member already covers the customer."]}
    secondary_manager_remove(actor=lead, customer_id=world.customer_a, user_id=helper.pk)
    assert not SecondaryManager.objects.filter(customer_id=world.customer_a).exists()
    assert AuditEvent.objects.filter(action__startswith="customer.secondary_manager.").count() == 2


# ---------------------------------------------------------------- formulas


@given(
    start=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    months=st.integers(min_value=0, max_value=600),
)
def test_add_months_lands_in_the_right_month_and_never_overshoots(start: date, months: int) -> None:
    result = add_months(start, months)
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    assert result.day == start.day or (result.day < start.day and (result + timedelta(days=1)).day == 1)


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2024, 8, 31), 6) == date(2025, 2, 28)
    assert add_months(date(2023, 8, 31), 6) == date(2024, 2, 29)
    assert profile.aml_next_review("low", rated_on=date(2024, 1, 15)) == date(2026, 1, 15)

"""Consents, the consent check, and data-subject requests through the services."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest
from django.utils import timezone

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer, CustomerStatus, LifecycleStage
from fincrm.customers.selectors import customer_queryset
from fincrm.platform.actor import Actor, Scope
from fincrm.platform.errors import Conflict, NotFound, ServiceError
from fincrm.platform.models import OutboxEvent
from fincrm.privacy import retention, services
from fincrm.privacy.models import Consent, ProcessingPurpose, SubjectRequest
from tests.customers.factories import CustomerFactory
from tests.privacy.conftest import actor_of
from tests.support.world import World


def record_sms(actor: Actor, customer_id: int) -> Consent:
    return services.consent_record(
        actor=actor, customer_id=customer_id, purpose_code="marketing", channel="sms", source="branch"
    )


def test_standard_purposes_are_seeded(db: None) -> None:
    bases = dict(ProcessingPurpose.objects.values_list("code", "legal_basis"))
    assert bases == {
        "kyc": "legal_duty",
        "aml_monitoring": "legal_duty",
        "record_keeping": "legal_duty",
        "account_service": "contract",
        "marketing": "consent",
        "marketing_profiling": "consent",
        "group_sharing": "consent",
        "third_party_sharing": "consent",
    }
    separate = set(ProcessingPurpose.objects.filter(separate_consent=True).values_list("code", flat=True))
    assert separate == {"group_sharing", "third_party_sharing"}


def test_record_and_withdraw_gate_the_consent_check(world: World, manager: Actor) -> None:
    customer = world.customer_a
    assert not services.has_consent(customer, "marketing", channel="sms")
    with pytest.raises(services.ConsentMissing) as missing:
        services.require_consent(customer, "marketing", channel="sms")
    assert missing.value.code == "consent_missing"
    assert "Marketing messages" in str(missing.value.message)
    assert "SMS" in str(missing.value.message)

    consent = record_sms(manager, customer)
    assert services.has_consent(customer, "marketing", channel="sms")
    assert not services.has_consent(customer, "marketing", channel="email")
    services.require_consent(customer, "marketing", channel="sms")
    assert consent.notice_version == "2024-01"
    assert consent.recorded_by_id == manager.user_id

    services.consent_withdraw(actor=manager, customer_id=customer, consent_id=consent.pk, source="phone")
    assert not services.has_consent(customer, "marketing", channel="sms")
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert consent.withdrawal_source == "phone"

    events = list(AuditEvent.objects.filter(action__startswith="privacy.consent").order_by("id"))
    assert [event.action for event in events] == ["privacy.consent.given", "privacy.consent.withdrawn"]
    assert all(event.object_id == str(customer) for event in events)
    topics = list(OutboxEvent.objects.order_by("id").values_list("topic", "payload"))
    assert topics == [
        ("consent.given", {"customer_id": customer, "consent_id": consent.pk}),
        ("consent.withdrawn", {"customer_id": customer, "consent_id": consent.pk}),
    ]

    # Consenting again after a withdrawal adds a row: the history stays.
    again = record_sms(manager, customer)
    assert again.pk != consent.pk
    assert Consent.objects.filter(customer_id=customer).count() == 2


def test_legal_duty_and_contract_never_depend_on_consent(world: World) -> None:
    for code in ("kyc", "aml_monitoring", "record_keeping", "account_service"):
        assert services.has_consent(world.customer_a, code)
        services.require_consent(world.customer_a, code)


def test_consent_check_refuses_programming_mistakes(world: World) -> None:
    with pytest.raises(LookupError):
        services.has_consent(world.customer_a, "no_such_purpose")
    with pytest.raises(ValueError, match="per channel"):
        services.has_consent(world.customer_a, "marketing")
    with pytest.raises(ValueError, match="not consented per channel"):
        services.has_consent(world.customer_a, "marketing_profiling", channel="sms")


def test_inactive_consent_purpose_allows_nothing(world: World, manager: Actor) -> None:
    services.consent_record(
        actor=manager, customer_id=world.customer_a, purpose_code="marketing_profiling", source="online"
    )
    ProcessingPurpose.objects.filter(code="marketing_profiling").update(is_active=False)
    assert not services.has_consent(world.customer_a, "marketing_profiling")


@pytest.mark.parametrize(
    ("arguments", "field", "code"),
    [
        ({"purpose_code": "kyc"}, "purpose", "not_consent_based"),
        ({"purpose_code": "nope"}, "purpose", "invalid_choice"),
        ({"purpose_code": "marketing"}, "channel", "required"),
        ({"purpose_code": "marketing", "channel": "fax"}, "channel", "required"),
        ({"purpose_code": "marketing_profiling", "channel": "sms"}, "channel", "invalid"),
        ({"purpose_code": "third_party_sharing"}, "separate", "separate_required"),
        ({"purpose_code": "marketing_profiling", "source": "carrier_pigeon"}, "source", "invalid_choice"),
        ({"purpose_code": "marketing_profiling", "evidence": "x" * 201}, "evidence", "invalid"),
    ],
)
def test_record_refuses_bad_input(
    world: World, manager: Actor, arguments: dict[str, str], field: str, code: str
) -> None:
    data = {"source": "branch", **arguments}
    with pytest.raises(ServiceError) as refused:
        services.consent_record(actor=manager, customer_id=world.customer_a, **data)
    assert refused.value.code == code
    assert list(refused.value.fields) == [field]
    assert not Consent.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_record_refuses_a_future_time_and_a_duplicate(world: World, manager: Actor) -> None:
    future = timezone.now() + datetime.timedelta(days=1)
    with pytest.raises(ServiceError) as refused:
        services.consent_record(
            actor=manager,
            customer_id=world.customer_a,
            purpose_code="marketing_profiling",
            source="branch",
            given_at=future,
        )
    assert refused.value.fields == {"given_at": ["The time cannot be in the future."]}
    record_sms(manager, world.customer_a)
    with pytest.raises(Conflict):
        record_sms(manager, world.customer_a)
    assert Consent.objects.count() == 1


def test_separate_consent_is_recorded_when_confirmed(world: World, manager: Actor) -> None:
    consent = services.consent_record(
        actor=manager,
        customer_id=world.customer_a,
        purpose_code="group_sharing",
        source="paper",
        separate=True,
        evidence="FORM-2024-0001",
    )
    assert consent.separate
    assert services.has_consent(world.customer_a, "group_sharing")
    event = AuditEvent.objects.get(action="privacy.consent.given")
    assert "FORM-2024-0001" not in json.dumps(event.after)


def test_withdraw_twice_and_foreign_consent_are_refused(world: World, manager: Actor) -> None:
    consent = record_sms(manager, world.customer_a)
    services.consent_withdraw(actor=manager, customer_id=world.customer_a, consent_id=consent.pk)
    with pytest.raises(Conflict):
        services.consent_withdraw(actor=manager, customer_id=world.customer_a, consent_id=consent.pk)
    other = record_sms(actor_of("account_manager_b"), world.customer_b)
    with pytest.raises(ServiceError) as refused:
        services.consent_withdraw(actor=manager, customer_id=world.customer_a, consent_id=other.pk)
    assert refused.value.code == "not_found"


def test_out_of_scope_record_changes_nothing(world: World, manager: Actor) -> None:
    with pytest.raises(NotFound):
        record_sms(manager, world.customer_b)
    assert not Consent.objects.exists()
    assert not OutboxEvent.objects.exists()


# ---------------------------------------------------------------- data-subject requests


def test_access_request_export_and_complete(world: World, compliance: Actor) -> None:
    agent = actor_of("service_agent_a")
    request = services.subject_request_create(
        actor=agent, customer_id=world.customer_a, kind="access", details="请提供我的全部信息"
    )
    assert request.status == "open"
    assert request.due_on == timezone.localdate() + datetime.timedelta(days=15)
    with pytest.raises(Conflict):
        services.subject_request_create(actor=agent, customer_id=world.customer_a, kind="access")

    content = json.loads(services.subject_data_export(actor=compliance, request_id=request.pk))
    profile = content["sections"]["customers.customer"]["profile"]
    assert profile["name"] == "张三"
    assert profile["id_number"] == "11010519491231002X"
    assert profile["mobile"] == "+8613800138000"
    assert "row_uid" not in profile
    assert "id_number_bidx" not in profile
    assert content["sections"]["privacy.consents"]["requests"][0]["details"] == "请提供我的全部信息"
    assert AuditEvent.objects.filter(action="privacy.subject_data.exported").count() == 1

    done = services.subject_request_complete(actor=compliance, request_id=request.pk)
    assert (done.status, done.outcome) == ("completed", "exported")
    with pytest.raises(Conflict):
        services.subject_request_complete(actor=compliance, request_id=request.pk)


def test_service_agent_may_log_but_not_handle(world: World) -> None:
    agent = actor_of("service_agent_a")
    request = services.subject_request_create(actor=agent, customer_id=world.customer_a, kind="deletion")
    with pytest.raises(NotFound):
        services.subject_request_complete(actor=agent, request_id=request.pk)
    request.refresh_from_db()
    assert request.status == "open"


def test_deletion_restricts_a_customer_with_a_retention_duty(world: World, compliance: Actor) -> None:
    request = services.subject_request_create(actor=compliance, customer_id=world.customer_a, kind="deletion")
    done = services.subject_request_complete(actor=compliance, request_id=request.pk, resolution="AML")
    assert done.outcome == "restricted"
    customer = Customer.objects.get(pk=world.customer_a)
    assert customer.status == CustomerStatus.RESTRICTED
    assert customer.restricted_until == retention.add_years(timezone.localdate(), 10)
    assert customer.name == "张三"
    assert customer.id_number == "11010519491231002X"
    assert not customer_queryset(actor_of("account_manager_a")).filter(pk=customer.pk).exists()
    event = AuditEvent.objects.get(action="privacy.customer.restricted")
    assert event.before["id_number"] != "11010519491231002X"
    assert OutboxEvent.objects.filter(topic="customer.restricted").count() == 1


def test_deletion_anonymizes_a_lead_without_retention_duty(world: World, compliance: Actor) -> None:
    Customer.objects.filter(pk=world.customer_a).update(lifecycle_stage=LifecycleStage.LEAD)
    request = services.subject_request_create(
        actor=compliance, customer_id=world.customer_a, kind="deletion", details="删除我的信息"
    )
    done = services.subject_request_complete(actor=compliance, request_id=request.pk)
    assert done.outcome == "anonymized"
    customer = Customer.objects.get(pk=world.customer_a)
    assert customer.name == services.ANONYMIZED_NAME
    assert (customer.id_number, customer.mobile, customer.email, customer.address) == (None, None, None, None)
    assert customer.id_number_bidx is None
    assert customer.mobile_bidx is None
    assert customer.status == CustomerStatus.RESTRICTED
    assert customer.restricted_until is None
    assert not customer.search_terms.filter(term__contains="张").exists()
    assert SubjectRequest.objects.get(pk=request.pk).details == ""
    assert AuditEvent.objects.filter(action="privacy.customer.anonymized").count() == 1


def test_retention_end_anonymizes_restricted_customers(world: World, compliance: Actor) -> None:
    request = services.subject_request_create(actor=compliance, customer_id=world.customer_a, kind="deletion")
    services.subject_request_complete(actor=compliance, request_id=request.pk)
    until = Customer.objects.get(pk=world.customer_a).restricted_until
    assert until is not None
    system = Actor.system("privacy.retention.expire")
    assert services.retention_expire(actor=system, today=until) == 0
    assert services.retention_expire(actor=system, today=until + datetime.timedelta(days=1)) == 1
    assert Customer.objects.get(pk=world.customer_a).name == services.ANONYMIZED_NAME


def test_correction_needs_a_statement_without_corrections(world: World, compliance: Actor) -> None:
    request = services.subject_request_create(
        actor=compliance, customer_id=world.customer_a, kind="correction"
    )
    with pytest.raises(ServiceError) as refused:
        services.subject_request_complete(actor=compliance, request_id=request.pk)
    assert list(refused.value.fields) == ["resolution"]
    done = services.subject_request_complete(
        actor=compliance, request_id=request.pk, resolution="Address corrected on the customer page."
    )
    assert done.outcome == "corrected"


def test_reject_needs_a_reason(world: World, compliance: Actor) -> None:
    request = services.subject_request_create(actor=compliance, customer_id=world.customer_a, kind="deletion")
    with pytest.raises(ServiceError):
        services.subject_request_reject(actor=compliance, request_id=request.pk, resolution=" ")
    done = services.subject_request_reject(
        actor=compliance, request_id=request.pk, resolution="Identity not verified"
    )
    assert (done.status, done.outcome) == ("rejected", "rejected")
    assert Customer.objects.get(pk=world.customer_a).status == CustomerStatus.ACTIVE


# ---------------------------------------------------------------- purposes


def test_purpose_update_keeps_the_basis_of_consents_fixed(
    world: World, manager: Actor, compliance: Actor
) -> None:
    purpose = ProcessingPurpose.objects.get(code="marketing_profiling")
    services.purpose_update(actor=compliance, purpose_id=purpose.pk, notice_version="2025-02")
    services.consent_record(
        actor=manager, customer_id=world.customer_a, purpose_code="marketing_profiling", source="online"
    )
    assert Consent.objects.get().notice_version == "2025-02"
    with pytest.raises(ServiceError) as refused:
        services.purpose_update(actor=compliance, purpose_id=purpose.pk, legal_basis="contract")
    assert refused.value.code == "has_consents"
    assert AuditEvent.objects.filter(action="privacy.purpose.updated").count() == 1


def test_purpose_create(compliance: Actor) -> None:
    purpose = services.purpose_create(
        actor=compliance, code="wealth_newsletter", name="理财资讯", legal_basis="consent", per_channel=True
    )
    assert purpose.needs_consent
    assert purpose.per_channel
    with pytest.raises(ServiceError) as refused:
        services.purpose_create(actor=compliance, code="wealth_newsletter", name="x", legal_basis="consent")
    assert refused.value.code == "duplicate"


# ---------------------------------------------------------------- merge


def test_merge_mover_moves_consents_and_keeps_one_in_force(world: World, manager: Actor) -> None:
    from fincrm.customers import merging

    absorbed = CustomerFactory(org_unit_id=world.sub_a1, primary_manager=World.user("account_manager_a"))
    record_sms(manager, world.customer_a)
    record_sms(manager, absorbed.pk)
    services.consent_record(
        actor=manager, customer_id=absorbed.pk, purpose_code="marketing", channel="email", source="online"
    )
    moved = merging.movers()["privacy.consents"](world.customer_a, absorbed.pk)
    assert moved == 2
    current = Consent.objects.filter(customer_id=world.customer_a, withdrawn_at__isnull=True)
    assert sorted(current.values_list("channel", flat=True)) == ["email", "sms"]
    assert Consent.objects.filter(customer_id=world.customer_a, withdrawal_source="merged").count() == 1


def test_correction_goes_through_the_customer_update_service(world: World, compliance: Actor) -> None:
    request = services.subject_request_create(
        actor=compliance, customer_id=world.customer_a, kind="correction"
    )
    with pytest.raises(ServiceError) as refused:  # compliance officers do not edit customers
        services.subject_request_complete(
            actor=compliance, request_id=request.pk, corrections={"occupation": "教师"}
        )
    assert refused.value.code == "cannot_edit"
    handler = dataclasses.replace(
        compliance, grants={**compliance.grants, "customer.edit": frozenset({Scope.INSTITUTION})}
    )
    done = services.subject_request_complete(
        actor=handler, request_id=request.pk, corrections={"occupation": "教师"}
    )
    assert done.outcome == "corrected"
    assert Customer.objects.get(pk=world.customer_a).occupation == "教师"
    assert (
        AuditEvent.objects.filter(action="customer.updated", reason=f"subject_request:{request.pk}").count()
        == 1
    )

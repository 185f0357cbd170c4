"""The privacy app's hooks into other apps, registered when the app starts (PrivacyConfig.ready):
the merge mover for its customer-linked rows, and the subject-data sections for access requests."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from fincrm.customers import merging
from fincrm.customers.models import Customer, CustomFieldValue, IdentityDocument, Relationship
from fincrm.privacy import subject_data
from fincrm.privacy.models import Consent, SubjectRequest, WithdrawalSource

# Internal columns that say nothing about the person: never part of a copy.
_INTERNAL_FIELDS = {"row_uid", "merged_into", "name_pinyin"}


def move_consents(survivor_id: int, absorbed_id: int) -> int:
    """Re-point the absorbed customer's consents and requests to the survivor. Where both hold a
    consent in force for the same purpose and channel, the survivor's stays and the absorbed one
    is closed as superseded by the merge (one consent in force per slot)."""
    survivor_current = Consent.objects.filter(
        customer_id=survivor_id,
        purpose_id=OuterRef("purpose_id"),
        channel=OuterRef("channel"),
        withdrawn_at__isnull=True,
    )
    Consent.objects.filter(customer_id=absorbed_id, withdrawn_at__isnull=True).filter(
        Exists(survivor_current)
    ).update(withdrawn_at=timezone.now(), withdrawal_source=WithdrawalSource.MERGED)
    moved = Consent.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    moved += SubjectRequest.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    return moved


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str, list, dict)):
        return value
    return str(value)


def _custom_value(value: CustomFieldValue) -> Any:
    for candidate in (
        value.secret_value,
        value.text_value or None,
        value.number_value,
        value.decimal_value,
        value.date_value,
        value.bool_value,
    ):
        if candidate is not None:
            return _plain(candidate)
    return value.choice_values


def customer_section(customer_id: int) -> dict[str, Any]:
    """The customer's own record, identity documents, relationships and custom fields, in clear."""
    customer = Customer.objects.select_related("org_unit", "primary_manager", "covering_team").get(
        pk=customer_id
    )
    profile: dict[str, Any] = {}
    for field in Customer._meta.concrete_fields:
        if field.name in _INTERNAL_FIELDS or field.name.endswith("_bidx"):
            continue
        if field.is_relation:
            related = getattr(customer, field.name)
            profile[field.name] = str(related) if related is not None else None
            continue
        value = getattr(customer, field.name)
        if field.choices:
            display = getattr(customer, f"get_{field.name}_display")()
            profile[field.name] = str(display) if value else value
        else:
            profile[field.name] = _plain(value)
    documents = [
        {
            "id_type": document.get_id_type_display(),
            "id_number": document.id_number,
            "issuing_country": document.issuing_country,
            "expires_on": _plain(document.expires_on),
        }
        for document in IdentityDocument.objects.filter(customer_id=customer_id).order_by("pk")
    ]
    relationships = [
        {
            "kind": relationship.get_kind_display(),
            "from_customer": relationship.from_customer_id,
            "to_customer": relationship.to_customer_id,
            "starts_on": _plain(relationship.starts_on),
            "ends_on": _plain(relationship.ends_on),
        }
        for relationship in Relationship.objects.filter(
            Q(from_customer_id=customer_id) | Q(to_customer_id=customer_id)
        ).order_by("pk")
    ]
    custom = {
        value.definition.label: _custom_value(value)
        for value in CustomFieldValue.objects.filter(customer_id=customer_id).select_related("definition")
    }
    tags = sorted(str(link.tag.name) for link in customer.customer_tags.select_related("tag"))
    return {
        "profile": profile,
        "identity_documents": documents,
        "relationships": relationships,
        "custom_fields": custom,
        "tags": tags,
    }


def privacy_section(customer_id: int) -> dict[str, Any]:
    """The customer's consents (with their history) and their data-subject requests."""
    consents = [
        {
            "purpose": consent.purpose.display_name,
            "legal_basis": consent.purpose.get_legal_basis_display(),
            "channel": consent.get_channel_display() if consent.channel else "",
            "separate": consent.separate,
            "source": consent.get_source_display(),
            "notice_version": consent.notice_version,
            "given_at": consent.given_at.isoformat(),
            "withdrawn_at": consent.withdrawn_at.isoformat() if consent.withdrawn_at else None,
        }
        for consent in Consent.objects.filter(customer_id=customer_id)
        .select_related("purpose")
        .order_by("given_at", "pk")
    ]
    requests = [
        {
            "kind": request.get_kind_display(),
            "status": request.get_status_display(),
            "received_at": request.received_at.isoformat(),
            "details": request.details,
        }
        for request in SubjectRequest.objects.filter(customer_id=customer_id).order_by("received_at", "pk")
    ]
    return {"consents": consents, "requests": requests}


def register() -> None:
    merging.register_mover("privacy.consents", move_consents)
    subject_data.register_section("customers.customer", customer_section)
    subject_data.register_section("privacy.consents", privacy_section)

"""Duplicates and merge: finding candidate pairs, dismissing them, and merging two customers.

    duplicates_detect(actor=Actor.system("duplicates"))        # the whole book, set-based
    duplicates_detect_for([customer.pk])                       # after a create or an update
    duplicate_dismiss(actor=..., candidate_id=3, reason="two brothers")
    customers_merge(actor=..., survivor_id=7, absorbed_id=9, field_choices={"mobile": "absorbed"},
                    reason="same person, two branches")

Detection finds pairs sharing an ID number (blind index), and pairs sharing a mobile number whose
names are similar (``names_similar``): the first kind in one INSERT … SELECT, the second narrowed by
mobile in SQL, the few pairs then compared in Python. A pair is recorded once (lower id first, a
unique constraint), so detection is idempotent, and a dismissed pair is never raised again.

A merge locks both customers (lower id first), copies the chosen fields onto the survivor (an
encrypted value is decrypted and sealed again under the survivor's row id: a ciphertext is bound to
its row), re-points every related row with set-based UPDATEs (the customers app's own, then every
mover other apps registered in ``fincrm.customers.merging``), marks the absorbed customer MERGED,
writes a MergeRecord and one audit event with both customers' masked snapshots.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.customers import merging
from fincrm.customers.models import (
    CoverageChange,
    Customer,
    CustomerStatus,
    CustomerTag,
    CustomFieldValue,
    DuplicateCandidate,
    HouseholdMember,
    IdentityDocument,
    LifecycleChange,
    MergeRecord,
    Relationship,
    SecondaryManager,
)
from fincrm.customers.models.search import CustomerSearchTerm
from fincrm.customers.personal_data import FIELD_MASKS, masked_field
from fincrm.customers.search_terms import (
    is_han,
    name_pinyin,
    normalize_name,
    refresh_search_terms,
    surname_length,
)
from fincrm.customers.selectors import access_customer
from fincrm.customers.selectors.duplicates import (
    MERGE,
    MERGE_FIELDS,
    access_duplicate,
    has_value,
)
from fincrm.platform import outbox, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError

SURVIVOR = "survivor"
ABSORBED = "absorbed"
CUSTOM_PREFIX = "custom:"
REASON_MAX_LENGTH = 500
# Names sharing at least this share of their characters (and the surname) are similar.
SIMILAR_NAME_SHARE = 0.5
_IGNORED = (CustomerStatus.MERGED, CustomerStatus.RESTRICTED)
SNAPSHOT_FIELDS = (
    "customer_number",
    "status",
    *(name for spec in MERGE_FIELDS.values() for name in spec.fields),
)


# ---------------------------------------------------------------- similarity (a pure formula)


def _surname_and_chars(name: str) -> tuple[str, list[str]]:
    text = normalize_name(name)
    if text and all(is_han(char) for char in text):
        return text[: surname_length(text)], list(text)
    words = [normalize_name(word) for word in unicodedata.normalize("NFKC", name).split()]
    words = [word for word in words if word]
    return (words[0] if words else ""), list(text)


def names_similar(first: str, second: str, first_pinyin: str = "", second_pinyin: str = "") -> bool:
    """Same surname and at least half of the characters shared (counted with repeats, over the
    longer name), or the same pinyin. Symmetric; a name is similar to itself; blanks never match."""
    surname_a, chars_a = _surname_and_chars(first)
    surname_b, chars_b = _surname_and_chars(second)
    if not chars_a or not chars_b:
        return False
    pinyin_a = first_pinyin or name_pinyin(first)
    pinyin_b = second_pinyin or name_pinyin(second)
    if pinyin_a and pinyin_a == pinyin_b:
        return True
    if not surname_a or surname_a != surname_b:
        return False
    shared = sum((Counter(chars_a) & Counter(chars_b)).values())
    return shared >= SIMILAR_NAME_SHARE * max(len(chars_a), len(chars_b))


# ---------------------------------------------------------------- detection


def _restriction(alias_a: str, alias_b: str, customer_ids: list[int] | None) -> tuple[str, list[Any]]:
    """SQL (and its parameters) keeping live customers, and with ``customer_ids``, pairs touching them."""
    sql = f" AND {alias_a}.status NOT IN (%s, %s) AND {alias_b}.status NOT IN (%s, %s)"
    params: list[Any] = [*_IGNORED, *_IGNORED]
    if customer_ids is not None:
        marks = ", ".join(["%s"] * len(customer_ids))
        sql += f" AND ({alias_a}.id IN ({marks}) OR {alias_b}.id IN ({marks}))"
        params += [*customer_ids, *customer_ids]
    return sql, params


def _tables() -> tuple[str, str]:
    quote = connection.ops.quote_name
    return quote(Customer._meta.db_table), quote(DuplicateCandidate._meta.db_table)


def _detect_same_id(customer_ids: list[int] | None) -> int:
    customers, candidates = _tables()
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    where, params = _restriction("a", "b", customer_ids)
    # Only table names (from the models) are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {candidates} (first_id, second_id, reason, status, resolved_by, resolved_at, "  # noqa: S608
        "created_at, updated_at) "
        "SELECT a.id, b.id, %s, %s, '', NULL, %s, %s "
        f"FROM {customers} a JOIN {customers} b ON b.id_number_bidx = a.id_number_bidx AND a.id < b.id "
        f"WHERE a.id_number_bidx IS NOT NULL{where} "
        "ON CONFLICT (first_id, second_id) DO NOTHING"
    )
    reason = DuplicateCandidate.Reason.SAME_ID_NUMBER
    with connection.cursor() as cursor:
        cursor.execute(sql, [reason, DuplicateCandidate.Status.OPEN, now, now, *params])
        return max(cursor.rowcount, 0)


def _detect_same_mobile(customer_ids: list[int] | None) -> int:
    customers, candidates = _tables()
    where, params = _restriction("a", "b", customer_ids)
    sql = (
        "SELECT a.id, b.id, a.name, b.name, a.name_pinyin, b.name_pinyin "  # noqa: S608
        f"FROM {customers} a JOIN {customers} b ON b.mobile_bidx = a.mobile_bidx AND a.id < b.id "
        f"WHERE a.mobile_bidx IS NOT NULL{where} "
        f"AND NOT EXISTS (SELECT 1 FROM {candidates} d WHERE d.first_id = a.id AND d.second_id = b.id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pairs = cursor.fetchall()
    found = [
        DuplicateCandidate(
            first_id=first_id, second_id=second_id, reason=DuplicateCandidate.Reason.SAME_MOBILE_SIMILAR_NAME
        )
        for first_id, second_id, name_a, name_b, pinyin_a, pinyin_b in pairs
        if names_similar(name_a, name_b, pinyin_a, pinyin_b)
    ]
    DuplicateCandidate.objects.bulk_create(found, ignore_conflicts=True, batch_size=1000)
    return len(found)


def _detect(customer_ids: list[int] | None) -> dict[str, int]:
    return {
        DuplicateCandidate.Reason.SAME_ID_NUMBER.value: _detect_same_id(customer_ids),
        DuplicateCandidate.Reason.SAME_MOBILE_SIMILAR_NAME.value: _detect_same_mobile(customer_ids),
    }


def _record_detection(actor: Actor, found: dict[str, int], *, scope: str) -> None:
    total = sum(found.values())
    if not total:
        return
    audit_record(
        actor,
        "customer.duplicates.detected",
        object_type="duplicate",
        after={**found, "scope": scope},
    )
    outbox.publish("customer.duplicates.detected", found=total)


@transaction.atomic
def duplicates_detect(*, actor: Actor) -> dict[str, int]:
    """Record every new candidate pair in the whole book; returns how many were found per reason."""
    require_permission(actor, MERGE)
    found = _detect(None)
    _record_detection(actor, found, scope="all")
    return found


@transaction.atomic
def duplicates_detect_for(customer_ids: Iterable[int], *, actor: Actor | None = None) -> dict[str, int]:
    """Record new candidate pairs that involve ``customer_ids`` (after a create or an update)."""
    ids = sorted({int(pk) for pk in customer_ids})
    if not ids:
        return {reason: 0 for reason in (DuplicateCandidate.Reason.SAME_ID_NUMBER, "same_mobile")}
    actor = actor or Actor.system("duplicates")
    require_permission(actor, MERGE)
    found: dict[str, int] = Counter()
    for start in range(0, len(ids), 400):  # stay well under SQLite's parameter limit
        for reason, count in _detect(ids[start : start + 400]).items():
            found[reason] += count
    result = dict(found)
    _record_detection(actor, result, scope="customers")
    return result


# ---------------------------------------------------------------- resolving candidates


def _release_held(customer_ids: Iterable[int]) -> None:
    """A customer held for review is active again once no held pair of it is open."""
    open_held = DuplicateCandidate.objects.filter(
        Q(first_id=OuterRef("pk")) | Q(second_id=OuterRef("pk")),
        reason=DuplicateCandidate.Reason.HELD_FOR_REVIEW,
        status=DuplicateCandidate.Status.OPEN,
    )
    Customer.objects.filter(pk__in=list(customer_ids), status=CustomerStatus.NEEDS_REVIEW).exclude(
        Exists(open_held)
    ).update(status=CustomerStatus.ACTIVE, updated_at=timezone.now())


def _clean_reason(reason: Any, *, required: bool, message: Any) -> str:
    text = " ".join(unicodedata.normalize("NFKC", str(reason or "")).split())
    if required and not text:
        raise ServiceError.field("reason", message, code="reason_required")
    if len(text) > REASON_MAX_LENGTH:
        raise ServiceError.field(
            "reason", _("Use at most %(limit)d characters.") % {"limit": REASON_MAX_LENGTH}, code="too_long"
        )
    return text


@transaction.atomic
def duplicate_dismiss(*, actor: Actor, candidate_id: int, reason: str = "") -> DuplicateCandidate:
    """Mark a pair as not a duplicate; it is never raised again. A customer held for review because
    of it becomes active (when no other held pair of it is open)."""
    candidate = access_duplicate(actor, candidate_id, for_update=True)
    text = _clean_reason(reason, required=False, message="")
    candidate.status = DuplicateCandidate.Status.DISMISSED
    candidate.resolved_by = actor.label[:150]
    candidate.resolved_at = timezone.now()
    candidate.save(update_fields=["status", "resolved_by", "resolved_at", "updated_at"])
    _release_held([candidate.first_id, candidate.second_id])
    audit_record(
        actor,
        "customer.duplicate.dismissed",
        object_type="duplicate",
        object_id=str(candidate.pk),
        before={"status": DuplicateCandidate.Status.OPEN},
        after={
            "status": candidate.status,
            "reason": candidate.reason,
            "first_id": candidate.first_id,
            "second_id": candidate.second_id,
        },
        reason=text,
    )
    outbox.publish(
        "customer.duplicate.dismissed",
        candidate_id=candidate.pk,
        customer_ids=[candidate.first_id, candidate.second_id],
    )
    return candidate


# ---------------------------------------------------------------- merge


def merge_snapshot(customer: Customer) -> dict[str, Any]:
    """The customer's merge fields for the audit log, identifiers masked."""
    snapshot: dict[str, Any] = {"id": customer.pk}
    for name in SNAPSHOT_FIELDS:
        value = getattr(customer, name)
        if name in FIELD_MASKS and value not in (None, ""):
            value = masked_field(name, value)
        elif value is not None and not isinstance(value, bool | int | str):
            value = str(value)
        snapshot[name] = value
    return snapshot


def _clean_choices(
    choices: Mapping[str, Any] | None, survivor: Customer, absorbed: Customer
) -> tuple[dict[str, str], dict[str, str]]:
    """(field choices, custom field choices by definition code). A field not named keeps the
    survivor's value, unless the survivor has none and the absorbed customer has one."""
    errors: dict[str, list[Any]] = {}
    fields: dict[str, str] = {}
    custom: dict[str, str] = {}
    for key, value in (choices or {}).items():
        if value not in (SURVIVOR, ABSORBED):
            errors.setdefault(f"field_choices.{key}", []).append(_("Choose survivor or absorbed."))
        elif key.startswith(CUSTOM_PREFIX) and key[len(CUSTOM_PREFIX) :]:
            custom[key[len(CUSTOM_PREFIX) :]] = value
        elif key in MERGE_FIELDS:
            if MERGE_FIELDS[key].individual_only and not survivor.is_individual and value == ABSORBED:
                errors.setdefault(f"field_choices.{key}", []).append(
                    _("Only individual customers have this field.")
                )
            fields[key] = value
        else:
            errors.setdefault(f"field_choices.{key}", []).append(_("This field cannot be chosen in a merge."))
    if errors:
        raise ServiceError(_("Please correct the marked fields."), code="invalid_choice", fields=errors)
    for key in MERGE_FIELDS:
        if key not in fields:
            fields[key] = ABSORBED if not has_value(survivor, key) and has_value(absorbed, key) else SURVIVOR
    return fields, custom


def _lock_pair(actor: Actor, survivor_id: int, absorbed_id: int) -> tuple[Customer, Customer]:
    """Both customers in the actor's customer.merge scope, locked lower id first (no deadlock
    between two merges of the same pair)."""
    locked = {
        pk: access_customer(actor, pk, MERGE, for_update=True) for pk in sorted({survivor_id, absorbed_id})
    }
    return locked[survivor_id], locked[absorbed_id]


def _copy_fields(survivor: Customer, absorbed: Customer, fields: dict[str, str]) -> list[str]:
    """Copy the absorbed customer's chosen values through the model: an encrypted value is read in
    clear and sealed again under the survivor's row id when saved. Returns the columns changed."""
    changed: list[str] = []
    for key, choice in fields.items():
        if choice != ABSORBED:
            continue
        for name in MERGE_FIELDS[key].fields:
            setattr(survivor, name, getattr(absorbed, name))
            changed.append(name)
    if "name" in changed:
        survivor.name_pinyin = name_pinyin(survivor.name)
        changed.append("name_pinyin")
    return changed


def _dropped_identity(
    survivor: Customer, absorbed: Customer, fields: dict[str, str]
) -> dict[str, Any] | None:
    """The primary ID that will not survive (read before the fields are copied)."""
    dropped = absorbed if fields["id"] == SURVIVOR else survivor
    kept = survivor if fields["id"] == SURVIVOR else absorbed
    if not dropped.id_number or not dropped.id_type or dropped.id_number_bidx == kept.id_number_bidx:
        return None
    return {
        "id_type": dropped.id_type,
        "id_number": dropped.id_number,
        "bidx": dropped.id_number_bidx,
        "expires_on": dropped.id_expires_on,
        "issuing_country": dropped.nationality or "",
    }


def _keep_other_identity(survivor: Customer, dropped: dict[str, Any] | None) -> int:
    """The primary ID that did not survive becomes a further identity document of the survivor (so
    the customer can still be found by it), unless the survivor already holds that number."""
    if dropped is None:
        return 0
    if IdentityDocument.objects.filter(customer_id=survivor.pk, id_number_bidx=dropped["bidx"]).exists():
        return 0
    IdentityDocument.objects.create(
        customer_id=survivor.pk,
        id_type=dropped["id_type"],
        id_number=dropped["id_number"],
        expires_on=dropped["expires_on"],
        issuing_country=dropped["issuing_country"],
    )
    return 1


def _move_customer_rows(
    survivor: Customer, absorbed: Customer, custom_choices: dict[str, str]
) -> dict[str, int]:
    """Re-point the customers app's rows from the absorbed customer to the survivor, set-based."""
    s, a = survivor.pk, absorbed.pk
    moved: dict[str, int] = {}

    # Secondary managers: one row per user; the survivor's primary manager is not also a secondary one.
    survivor_managers = SecondaryManager.objects.filter(customer_id=s, user_id=OuterRef("user_id"))
    theirs = SecondaryManager.objects.filter(customer_id=a)
    movable = theirs.exclude(Exists(survivor_managers))
    if survivor.primary_manager_id is not None:
        movable = movable.exclude(user_id=survivor.primary_manager_id)
    moved["customers.secondary_manager"] = movable.update(customer_id=s)
    theirs.delete()

    # Tags: the union, each tag once.
    survivor_tags = CustomerTag.objects.filter(customer_id=s, tag_id=OuterRef("tag_id"))
    moved["customers.tag"] = (
        CustomerTag.objects.filter(customer_id=a).exclude(Exists(survivor_tags)).update(customer_id=s)
    )
    CustomerTag.objects.filter(customer_id=a).delete()

    # Custom values: the survivor's wins where both have one, unless the absorbed one was chosen.
    if custom_choices:
        chosen = [code for code, choice in custom_choices.items() if choice == ABSORBED]
        absorbed_defs = CustomFieldValue.objects.filter(customer_id=a, definition__code__in=chosen).values(
            "definition_id"
        )
        CustomFieldValue.objects.filter(customer_id=s, definition_id__in=absorbed_defs).delete()
    survivor_values = CustomFieldValue.objects.filter(customer_id=s, definition_id=OuterRef("definition_id"))
    moved["customers.custom_value"] = (
        CustomFieldValue.objects.filter(customer_id=a).exclude(Exists(survivor_values)).update(customer_id=s)
    )
    CustomFieldValue.objects.filter(customer_id=a).delete()

    # Relationships: a link between the two becomes meaningless; the rest point at the survivor.
    Relationship.objects.filter(
        Q(from_customer_id=a, to_customer_id=s) | Q(from_customer_id=s, to_customer_id=a)
    ).delete()
    moved["customers.relationship"] = Relationship.objects.filter(from_customer_id=a).update(
        from_customer_id=s
    ) + Relationship.objects.filter(to_customer_id=a).update(to_customer_id=s)

    # Household: the survivor keeps its own; otherwise it takes the absorbed customer's place.
    if HouseholdMember.objects.filter(customer_id=s).exists():
        HouseholdMember.objects.filter(customer_id=a).delete()
        moved["customers.household_member"] = 0
    else:
        moved["customers.household_member"] = HouseholdMember.objects.filter(customer_id=a).update(
            customer_id=s
        )

    moved["customers.identity_document"] = IdentityDocument.objects.filter(customer_id=a).update(
        customer_id=s
    )

    # Corporate groups: subsidiaries move under the survivor; the survivor never sits under itself.
    moved["customers.subsidiary"] = (
        Customer.objects.filter(parent_company_id=a).exclude(pk=s).update(parent_company_id=s)
    )
    if survivor.parent_company_id == a:
        survivor.parent_company_id = absorbed.parent_company_id if absorbed.parent_company_id != s else None
    # Earlier merges into the absorbed customer now point at the survivor (no chains).
    Customer.objects.filter(merged_into_id=a).update(merged_into_id=s)

    moved["customers.lifecycle_change"] = LifecycleChange.objects.filter(customer_id=a).update(customer_id=s)
    moved["customers.coverage_change"] = CoverageChange.objects.filter(customer_id=a).update(customer_id=s)
    CustomerSearchTerm.objects.filter(customer_id=a).delete()
    return moved


def _resolve_candidates(actor: Actor, survivor: Customer, absorbed: Customer) -> int | None:
    """The pair's candidate is merged; the absorbed customer's other open pairs carry over to the
    survivor (same reason) and are closed. Returns the pair's candidate id, if there was one."""
    s, a = survivor.pk, absorbed.pk
    now = timezone.now()
    pair = DuplicateCandidate.objects.filter(first_id=min(s, a), second_id=max(s, a)).first()
    others = list(
        DuplicateCandidate.objects.filter(
            Q(first_id=a) | Q(second_id=a), status=DuplicateCandidate.Status.OPEN
        )
        .exclude(first_id=min(s, a), second_id=max(s, a))
        .values_list("pk", "first_id", "second_id", "reason")
    )
    carried = []
    for _pk, first_id, second_id, reason in others:
        other = second_id if first_id == a else first_id
        if other != s:
            carried.append(DuplicateCandidate(first_id=min(s, other), second_id=max(s, other), reason=reason))
    DuplicateCandidate.objects.bulk_create(carried, ignore_conflicts=True)
    closing = [row[0] for row in others] + ([pair.pk] if pair else [])
    DuplicateCandidate.objects.filter(pk__in=closing).update(
        status=DuplicateCandidate.Status.MERGED,
        resolved_by=actor.label[:150],
        resolved_at=now,
        updated_at=now,
    )
    return pair.pk if pair else None


@transaction.atomic
def customers_merge(
    *,
    actor: Actor,
    survivor_id: int,
    absorbed_id: int,
    field_choices: Mapping[str, Any] | None = None,
    reason: str,
) -> MergeRecord:
    """Merge ``absorbed_id`` into ``survivor_id`` (both in the actor's customer.merge scope).

    ``field_choices`` maps a MERGE_FIELDS key (or ``custom:<code>`` of a custom field) to
    ``"survivor"`` or ``"absorbed"``: whose value the survivor keeps."""
    if survivor_id == absorbed_id:
        raise ServiceError.field(
            "absorbed_id", _("A customer cannot be merged with itself."), code="same_customer"
        )
    survivor, absorbed = _lock_pair(actor, survivor_id, absorbed_id)
    text = _clean_reason(reason, required=True, message=_("Say why these customers are one and the same."))
    if survivor.kind != absorbed.kind:
        raise ServiceError.field(
            "absorbed_id",
            _("An individual and a corporate customer cannot be merged."),
            code="kind_mismatch",
        )
    fields, custom = _clean_choices(field_choices, survivor, absorbed)
    before = {"survivor": merge_snapshot(survivor), "absorbed": merge_snapshot(absorbed)}

    dropped = _dropped_identity(survivor, absorbed, fields)
    changed = _copy_fields(survivor, absorbed, fields)
    moved = _move_customer_rows(survivor, absorbed, custom)
    moved["customers.identity_document"] += _keep_other_identity(survivor, dropped)
    for label, mover in sorted(merging.movers().items()):
        moved[label] = mover(survivor.pk, absorbed.pk)

    survivor.save(update_fields=sorted({*changed, "parent_company", "updated_at"}))
    absorbed.status = CustomerStatus.MERGED
    absorbed.merged_into_id = survivor.pk
    absorbed.save(update_fields=["status", "merged_into", "updated_at"])
    if "name" in changed:
        refresh_search_terms([survivor])

    candidate_id = _resolve_candidates(actor, survivor, absorbed)
    _release_held([survivor.pk])
    survivor.refresh_from_db(fields=["status"])

    all_choices = {**fields, **{f"{CUSTOM_PREFIX}{code}": choice for code, choice in custom.items()}}
    record = MergeRecord.objects.create(
        survivor=survivor,
        absorbed=absorbed,
        field_choices=all_choices,
        moved=moved,
        merged_by=actor.label[:150],
        reason=text,
    )
    audit_record(
        actor,
        "customer.merged",
        object_type="customer",
        object_id=str(survivor.pk),
        before=before,
        after={
            "survivor": merge_snapshot(survivor),
            "absorbed": merge_snapshot(absorbed),
            "merge_id": record.pk,
            "candidate_id": candidate_id,
            "field_choices": all_choices,
            "moved": moved,
        },
        reason=text,
    )
    outbox.publish("customer.merged", customer_id=survivor.pk, absorbed_id=absorbed.pk, merge_id=record.pk)
    return record

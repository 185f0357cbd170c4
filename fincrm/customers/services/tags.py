"""Writes of tags: defining them (``customer.tag.manage``) and tagging customers (``customer.edit`` on
each customer), one at a time or set-based for a whole batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record, audit_record_many
from fincrm.customers.models import CustomerTag, Tag
from fincrm.customers.selectors import access_customer, customer_queryset
from fincrm.customers.selectors.tags import MANAGE_TAGS, access_tag
from fincrm.platform import outbox, transaction
from fincrm.platform.access import record_denied, require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound, ServiceError

EDIT = "customer.edit"
LABEL_MAX_LENGTH = 50
GROUP_MAX_LENGTH = 50


def bulk_tag_limit() -> int:
    """Most customers one bulk call may tag (one IN list per query); setting FINCRM_BULK_TAG_MAX."""
    return int(getattr(settings, "FINCRM_BULK_TAG_MAX", 10_000))


def tag_snapshot(tag: Tag) -> dict[str, Any]:
    return {"label": tag.label, "colour": tag.colour, "group": tag.group, "is_active": tag.is_active}


def _clean_label(value: object) -> str:
    label = " ".join(str(value or "").split())
    if not label:
        raise ServiceError.field("label", _("Enter the tag's name."), code="required")
    if len(label) > LABEL_MAX_LENGTH:
        raise ServiceError.field(
            "label", _("Use at most %(limit)d characters.") % {"limit": LABEL_MAX_LENGTH}, code="too_long"
        )
    return label


def _clean_group(value: object) -> str:
    group = " ".join(str(value or "").split())
    if len(group) > GROUP_MAX_LENGTH:
        raise ServiceError.field(
            "group", _("Use at most %(limit)d characters.") % {"limit": GROUP_MAX_LENGTH}, code="too_long"
        )
    return group


def _clean_colour(value: object) -> str:
    colour = str(value or "")
    if colour not in Tag.Colour.values:
        raise ServiceError.field("colour", _("Choose a colour from the list."), code="invalid_choice")
    return colour


def _require_unique_label(label: str, *, exclude_pk: int | None = None) -> None:
    taken = Tag.objects.filter(label__iexact=label)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ServiceError.field("label", _("Another tag already has this name."), code="duplicate")


# ---------------------------------------------------------------- definitions


@transaction.atomic
def tag_create(*, actor: Actor, label: str, colour: str = Tag.Colour.BLUE, group: str = "") -> Tag:
    require_permission(actor, MANAGE_TAGS)
    clean_label = _clean_label(label)
    clean_colour = _clean_colour(colour)
    clean_group = _clean_group(group)
    _require_unique_label(clean_label)
    tag = Tag.objects.create(label=clean_label, colour=clean_colour, group=clean_group)
    audit_record(
        actor, "customer.tag.created", object_type="tag", object_id=str(tag.pk), after=tag_snapshot(tag)
    )
    outbox.publish("customer.tag.defined", tag_id=tag.pk)
    return tag


@transaction.atomic
def tag_update(
    *,
    actor: Actor,
    tag_id: int,
    label: str | None = None,
    colour: str | None = None,
    group: str | None = None,
    is_active: bool | None = None,
) -> Tag:
    """Rename, recolour, regroup, deactivate or reactivate a tag; None leaves a field as it is. A
    deactivated tag can no longer be given and is not shown, but stays on its customers."""
    tag = access_tag(actor, tag_id)
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    before = tag_snapshot(tag)
    changes: dict[str, Any] = {}
    if label is not None:
        changes["label"] = _clean_label(label)
        if changes["label"].lower() != tag.label.lower():
            _require_unique_label(changes["label"], exclude_pk=tag.pk)
    if colour is not None:
        changes["colour"] = _clean_colour(colour)
    if group is not None:
        changes["group"] = _clean_group(group)
    if is_active is not None:
        changes["is_active"] = bool(is_active)
    changes = {name: value for name, value in changes.items() if getattr(tag, name) != value}
    if not changes:
        return tag
    for name, value in changes.items():
        setattr(tag, name, value)
    tag.save(update_fields=[*changes, "updated_at"])
    audit_record(
        actor,
        "customer.tag.updated",
        object_type="tag",
        object_id=str(tag.pk),
        before=before,
        after=tag_snapshot(tag),
    )
    outbox.publish("customer.tag.defined", tag_id=tag.pk)
    return tag


def tag_deactivate(*, actor: Actor, tag_id: int) -> Tag:
    return tag_update(actor=actor, tag_id=tag_id, is_active=False)


# ---------------------------------------------------------------- tagging customers


def _active_tags(tag_ids: Iterable[object], *, field: str, allow_inactive: bool = False) -> list[Tag]:
    try:
        wanted = {int(str(pk)) for pk in tag_ids}
    except (TypeError, ValueError):
        raise ServiceError.field(field, _("Choose tags from the list."), code="invalid_choice") from None
    tags = Tag.objects.filter(pk__in=sorted(wanted))
    if not allow_inactive:
        tags = tags.filter(is_active=True)
    found = list(tags.order_by("group", "label", "id"))
    if len(found) != len(wanted):
        raise ServiceError.field(
            field, _("One of the chosen tags does not exist or is no longer active."), code="invalid_choice"
        )
    return found


def _labels(tags: Iterable[Tag]) -> list[str]:
    return sorted(tag.label for tag in tags)


@transaction.atomic
def customer_tags_set(*, actor: Actor, customer_id: int, tag_ids: Iterable[object]) -> list[Tag]:
    """Give a customer exactly these active tags. Deactivated tags it carries are kept (they are not
    shown, so they cannot have been unticked)."""
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    wanted = {tag.pk: tag for tag in _active_tags(tag_ids, field="tag_ids")}
    current = {
        link.tag_id: link.tag for link in CustomerTag.objects.filter(customer=customer).select_related("tag")
    }
    removable = {pk for pk, tag in current.items() if tag.is_active and pk not in wanted}
    added = [pk for pk in wanted if pk not in current]
    if not removable and not added:
        return [tag for tag in current.values() if tag.is_active]
    CustomerTag.objects.filter(customer=customer, tag_id__in=sorted(removable)).delete()
    CustomerTag.objects.bulk_create([CustomerTag(customer=customer, tag_id=pk) for pk in added])
    after = [tag for pk, tag in current.items() if pk not in removable] + [wanted[pk] for pk in added]
    audit_record(
        actor,
        "customer.tagged",
        object_type="customer",
        object_id=str(customer.pk),
        before={"tags": _labels(current.values())},
        after={"tags": _labels(after)},
    )
    outbox.publish("customer.tagged", customer_id=customer.pk)
    return sorted((tag for tag in after if tag.is_active), key=lambda tag: (tag.group, tag.label))


@transaction.atomic
def customer_tag_add(*, actor: Actor, customer_id: int, tag_id: int) -> bool:
    """Give one customer one active tag; False when it already had it."""
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    tags = _active_tags([tag_id], field="tag_id")
    return _tag_batch(actor, [customer.pk], tags, remove=False) == 1


@transaction.atomic
def customer_tag_remove(*, actor: Actor, customer_id: int, tag_id: int) -> bool:
    """Take one tag (active or not) off one customer; False when it did not have it."""
    customer = access_customer(actor, customer_id, EDIT, for_update=True)
    tags = _active_tags([tag_id], field="tag_id", allow_inactive=True)
    return _tag_batch(actor, [customer.pk], tags, remove=True) == 1


def _ids(values: Iterable[object], *, field: str) -> list[int]:
    if isinstance(values, str | bytes):
        values = [values]
    try:
        return sorted({int(str(value)) for value in values})
    except (TypeError, ValueError):
        raise ServiceError.field(field, _("Send whole-number ids."), code="invalid") from None


@transaction.atomic
def customers_tag_bulk(
    *, actor: Actor, customer_ids: Iterable[object], tag_ids: Iterable[object], remove: bool = False
) -> int:
    """Add (or remove) tags on a batch of customers; returns how many customers changed.

    The whole batch is checked against the actor's scope in one query: if any id is missing or out of
    scope the batch is NotFound and nothing is written. Audit events are written set-based (one per
    changed customer plus one for the batch); one outbox event carries the batch's ids.
    """
    require_permission(actor, EDIT)
    ids = _ids(customer_ids, field="customer_ids")
    wanted_tags = _ids(tag_ids, field="tag_ids")
    if not ids:
        raise ServiceError.field("customer_ids", _("Choose at least one customer."), code="required")
    limit = bulk_tag_limit()
    if len(ids) > limit:
        raise ServiceError.field(
            "customer_ids",
            _("Tag at most %(limit)d customers at a time.") % {"limit": limit},
            code="too_many",
        )
    in_scope = set(
        customer_queryset(actor, EDIT).filter(pk__in=ids).select_for_update().values_list("pk", flat=True)
    )
    missing = [pk for pk in ids if pk not in in_scope]
    if missing:
        record_denied(actor, EDIT, object_type="customer", object_id=",".join(map(str, missing[:20])))
        raise NotFound("customer", missing[0])
    if not wanted_tags:
        raise ServiceError.field("tag_ids", _("Choose at least one tag."), code="required")
    tags = _active_tags(wanted_tags, field="tag_ids", allow_inactive=remove)
    changed = _tag_batch(actor, ids, tags, remove=remove)
    if changed:
        audit_record(
            actor,
            "customer.tagged.bulk",
            object_type="tag",
            object_id=",".join(str(tag.pk) for tag in tags)[:64],
            after={
                "remove": remove,
                "tags": _labels(tags),
                "customers": len(ids),
                "changed": changed,
            },
        )
    return changed


def _tag_batch(actor: Actor, ids: list[int], tags: list[Tag], *, remove: bool) -> int:
    """Add or remove ``tags`` on customers already checked for scope: set-based writes, one audit
    event per changed customer (one statement), one outbox event."""
    tag_pks = {tag.pk for tag in tags}
    labels = {tag.pk: tag.label for tag in tags}
    before: dict[int, set[int]] = {pk: set() for pk in ids}
    for customer_pk, tag_pk, label in CustomerTag.objects.filter(customer_id__in=ids).values_list(
        "customer_id", "tag_id", "tag__label"
    ):
        before[customer_pk].add(tag_pk)
        labels[tag_pk] = label

    if remove:
        changed = [pk for pk in ids if before[pk] & tag_pks]
        if changed:
            CustomerTag.objects.filter(customer_id__in=changed, tag_id__in=sorted(tag_pks)).delete()
        after = {pk: before[pk] - tag_pks for pk in changed}
    else:
        changed = [pk for pk in ids if not tag_pks <= before[pk]]
        CustomerTag.objects.bulk_create(
            [
                CustomerTag(customer_id=pk, tag_id=tag_pk)
                for pk in changed
                for tag_pk in sorted(tag_pks - before[pk])
            ],
            batch_size=2000,
        )
        after = {pk: before[pk] | tag_pks for pk in changed}
    if not changed:
        return 0
    audit_record_many(
        actor,
        "customer.tagged",
        (
            {
                "object_type": "customer",
                "object_id": str(pk),
                "before": {"tags": sorted(labels[tag_pk] for tag_pk in before[pk])},
                "after": {"tags": sorted(labels[tag_pk] for tag_pk in after[pk])},
            }
            for pk in changed
        ),
    )
    if len(ids) == 1:
        outbox.publish("customer.tagged", customer_id=changed[0])
    else:  # one event per batch, carrying the ids of the customers that changed
        outbox.publish("customer.tagged.bulk", customer_ids=changed)
    return len(changed)

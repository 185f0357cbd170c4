"""Saved customer-list views: a user's own filters, sort and columns, one of them the default."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.customers.filtersets import CustomerFilterSet
from fincrm.customers.models import SavedView
from fincrm.customers.selectors.lists import access_saved_view
from fincrm.platform import outbox, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError

VIEW = "customer.view"
MAX_VIEWS_PER_USER = 50


def _snapshot(view: SavedView) -> dict[str, Any]:
    # Filters are allow-listed codes and ids; a custom-field value may be personal: not recorded.
    filters = {key: ("****" if key.startswith("cf_") else value) for key, value in view.filters.items()}
    return {
        "label": view.label,
        "filters": filters,
        "sort": view.sort,
        "columns": view.columns,
        "is_default": view.is_default,
    }


@transaction.atomic
def saved_view_save(
    *, actor: Actor, label: str, parameters: dict[str, Any], is_default: bool = False
) -> SavedView:
    """Save the actor's current list as ``label`` (replacing a view of the same name).

    ``parameters`` are list parameters (filters, sort, columns); they are validated by the
    filterset, so a saved view only ever holds allow-listed values."""
    require_permission(actor, VIEW)
    if actor.user_id is None:
        raise ServiceError.field("label", _("Only a signed-in user can save a view."), code="no_user")
    label = (label or "").strip()
    if not label:
        raise ServiceError.field("label", _("Give the view a name."), code="required")
    if len(label) > 100:
        raise ServiceError.field("label", _("A view name has at most 100 characters."), code="too_long")
    filterset = CustomerFilterSet(parameters, actor=actor)
    if not filterset.is_valid():
        raise filterset.service_error()
    views = SavedView.objects.select_for_update().filter(owner_id=actor.user_id)
    existing = views.filter(label=label).first()
    if existing is None and views.count() >= MAX_VIEWS_PER_USER:
        raise ServiceError.field(
            "label",
            _("You have %(count)d saved views, the most allowed: delete one first.")
            % {"count": MAX_VIEWS_PER_USER},
            code="too_many",
        )
    before = _snapshot(existing) if existing is not None else None
    view = existing or SavedView(owner_id=actor.user_id, label=label)
    view.filters = filterset.filter_params()
    view.sort = filterset.sort
    view.columns = filterset.columns
    if is_default:
        views.exclude(pk=view.pk).filter(is_default=True).update(is_default=False)
    view.is_default = is_default or (existing is not None and existing.is_default)
    view.save()
    audit_record(
        actor,
        "customer.saved_view.saved",
        object_type="saved_view",
        object_id=str(view.pk),
        before=before,
        after=_snapshot(view),
    )
    outbox.publish("customer.saved_view.changed", saved_view_id=view.pk)
    return view


@transaction.atomic
def saved_view_set_default(*, actor: Actor, view_id: object) -> SavedView:
    view = access_saved_view(actor, view_id)
    SavedView.objects.filter(owner_id=actor.user_id, is_default=True).exclude(pk=view.pk).update(
        is_default=False
    )
    before = _snapshot(view)
    view.is_default = True
    view.save(update_fields=["is_default", "updated_at"])
    audit_record(
        actor,
        "customer.saved_view.saved",
        object_type="saved_view",
        object_id=str(view.pk),
        before=before,
        after=_snapshot(view),
    )
    outbox.publish("customer.saved_view.changed", saved_view_id=view.pk)
    return view


@transaction.atomic
def saved_view_delete(*, actor: Actor, view_id: object) -> None:
    view = access_saved_view(actor, view_id)
    before = _snapshot(view)
    pk = view.pk
    view.delete()
    audit_record(
        actor, "customer.saved_view.deleted", object_type="saved_view", object_id=str(pk), before=before
    )
    outbox.publish("customer.saved_view.changed", saved_view_id=pk)

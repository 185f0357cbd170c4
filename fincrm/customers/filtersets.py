"""The customer filterset: one allow-list of filters, sorts and columns, shared by the list page,
the API (``GET /customers``) and exports.

Every value is validated (a Django form underneath): a bad value never reaches the database and
gives a localized message naming the filter, on the page next to the field and in the API's error
body under the parameter's name. Parameters are plain query parameters, so a list URL can be
bookmarked and a saved view stores the same dict.

    filterset = CustomerFilterSet(request.GET, actor=actor)
    if not filterset.is_valid():
        raise filterset.service_error()
    customers = filterset.apply(customer_queryset(actor))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.datastructures import MultiValueDict
from django.utils.functional import Promise, cached_property
from django.utils.translation import gettext_lazy as _

from fincrm.customers.models import (
    AmlRiskRating,
    Customer,
    CustomerKind,
    CustomerTag,
    CustomFieldDefinition,
    LifecycleStage,
    RiskTolerance,
    Tag,
    ValueTier,
)
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError


@dataclass(frozen=True)
class Sort:
    label: str | Promise
    ordering: tuple[str, ...]  # non-null columns, ending with a unique one (keyset pagination)


# The allow-list of sorts; every ordering ends with the primary key so keyset pages are exact.
SORTS: dict[str, Sort] = {
    "-aum": Sort(_("AUM, highest first"), ("-aum", "-id")),
    "aum": Sort(_("AUM, lowest first"), ("aum", "id")),
    "name": Sort(_("Name"), ("name", "id")),
    "-name": Sort(_("Name, reversed"), ("-name", "-id")),
    "number": Sort(_("Customer number"), ("customer_number", "id")),
    "-created": Sort(_("Newest first"), ("-created_at", "-id")),
    "created": Sort(_("Oldest first"), ("created_at", "id")),
}
DEFAULT_SORT = "-aum"


@dataclass(frozen=True)
class ColumnSpec:
    label: str | Promise
    text: bool = False  # exported as text (identifiers)


# The allow-list of columns (page, API field choice and exports); values come from selectors.lists.
COLUMNS: dict[str, ColumnSpec] = {
    "customer_number": ColumnSpec(_("Customer number"), text=True),
    "name": ColumnSpec(_("Name")),
    "kind": ColumnSpec(_("Customer type")),
    "lifecycle_stage": ColumnSpec(_("Lifecycle stage")),
    "value_tier": ColumnSpec(_("Value tier")),
    "aum": ColumnSpec(_("AUM (CNY)")),
    "aml_risk_rating": ColumnSpec(_("AML risk rating")),
    "risk_tolerance": ColumnSpec(_("Risk tolerance")),
    "id_number": ColumnSpec(_("ID number"), text=True),
    "mobile": ColumnSpec(_("Mobile number"), text=True),
    "org_unit": ColumnSpec(_("Home branch")),
    "primary_manager": ColumnSpec(_("Primary account manager")),
    "covering_team": ColumnSpec(_("Covering team")),
    "tags": ColumnSpec(_("Tags")),
    "created_at": ColumnSpec(_("Created")),
}
DEFAULT_COLUMNS = (
    "customer_number",
    "name",
    "kind",
    "lifecycle_stage",
    "value_tier",
    "aum",
    "org_unit",
    "primary_manager",
    "tags",
)

# The filter parameters (custom fields add ``cf_<code>``); "sort" and "columns" ride along.
FILTERS = ("kind", "stage", "tier", "aml", "risk", "tag", "manager", "branch", "aum_min", "aum_max")
CUSTOM_PREFIX = "cf_"
MAX_AUM = Decimal("999999999999999999.99")


class _ManagerField(forms.CharField):
    """``me`` or a user id."""

    default_error_messages = {"invalid": _("Choose “me” or a user.")}

    def to_python(self, value: Any) -> str:
        text = (super().to_python(value) or "").strip()
        if text and text != "me" and not (text.isdigit() and 0 < int(text) < 2**63):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return text


class CustomerFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Customer type"), required=False)
    stage = forms.MultipleChoiceField(label=_("Lifecycle stage"), required=False)
    tier = forms.MultipleChoiceField(label=_("Value tier"), required=False)
    aml = forms.MultipleChoiceField(label=_("AML risk rating"), required=False)
    risk = forms.MultipleChoiceField(label=_("Risk tolerance"), required=False)
    tag = forms.TypedMultipleChoiceField(label=_("Tag"), required=False, coerce=int)
    manager = _ManagerField(label=_("Primary account manager"), required=False, max_length=20)
    branch = forms.TypedChoiceField(label=_("Branch"), required=False, coerce=int, empty_value=None)
    aum_min = forms.DecimalField(
        label=_("AUM from (CNY)"), required=False, min_value=0, max_value=MAX_AUM, decimal_places=2
    )
    aum_max = forms.DecimalField(
        label=_("AUM up to (CNY)"), required=False, min_value=0, max_value=MAX_AUM, decimal_places=2
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False)
    columns = forms.MultipleChoiceField(label=_("Columns"), required=False)

    def __init__(
        self,
        *args: Any,
        branch_choices: list[tuple[int, str]],
        tag_choices: list[tuple[int, str]],
        custom_fields: list[CustomFieldDefinition],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        fields = self.fields
        fields["kind"].choices = [("", _("All types")), *CustomerKind.choices]  # type: ignore[attr-defined]
        fields["stage"].choices = LifecycleStage.choices  # type: ignore[attr-defined]
        fields["tier"].choices = ValueTier.choices  # type: ignore[attr-defined]
        fields["aml"].choices = AmlRiskRating.choices  # type: ignore[attr-defined]
        fields["risk"].choices = RiskTolerance.choices  # type: ignore[attr-defined]
        fields["tag"].choices = tag_choices  # type: ignore[attr-defined]
        fields["branch"].choices = [("", _("All branches")), *branch_choices]  # type: ignore[attr-defined]
        fields["sort"].choices = [(code, sort.label) for code, sort in SORTS.items()]  # type: ignore[attr-defined]
        fields["columns"].choices = [(code, spec.label) for code, spec in COLUMNS.items()]  # type: ignore[attr-defined]
        for definition in custom_fields:
            fields[CUSTOM_PREFIX + definition.code] = forms.CharField(
                label=definition.label,
                required=False,
                max_length=200,
                help_text=_("A value, or a range written low..high for numbers and dates."),
            )
        for name in ("stage", "tier", "aml", "risk", "columns"):
            fields[name].widget = forms.CheckboxSelectMultiple(choices=fields[name].choices)  # type: ignore[attr-defined]
        for field in fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple):
                widget.attrs["class"] = "form-check-input"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select"
            else:
                widget.attrs["class"] = "form-control"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        low, high = cleaned.get("aum_min"), cleaned.get("aum_max")
        if low is not None and high is not None and low > high:
            self.add_error("aum_max", _("The upper AUM bound must not be below the lower one."))
        return cleaned


def _as_lists(data: Mapping[str, Any] | None) -> MultiValueDict[str, Any]:
    """A QueryDict, or a saved view's dict of lists/strings, as one MultiValueDict."""
    result: MultiValueDict[str, Any] = MultiValueDict()
    if data is None:
        return result
    items = data.lists() if isinstance(data, MultiValueDict) else data.items()
    for key, value in items:
        if not isinstance(key, str):
            continue
        values = value if isinstance(value, list | tuple) else [value]
        kept = [str(item) for item in values if item is not None and str(item) != ""]
        if kept:
            result.setlist(key, kept)
    return result


def custom_filter_q(code: str, value: str) -> Q:
    """The custom-field condition (``custom_field_filter``); ``low..high`` is a range (either side
    may be empty: ``..100``), anything else an exact value."""
    from fincrm.customers.selectors.custom_fields import custom_field_filter

    if ".." in value:
        low, _sep, high = value.partition("..")
        return custom_field_filter(code, {"min": low.strip() or None, "max": high.strip() or None})
    return custom_field_filter(code, value)


def custom_filters_available() -> bool:
    try:
        from fincrm.customers.selectors import custom_fields
    except ImportError:
        return False
    return hasattr(custom_fields, "custom_field_filter")


class CustomerFilterSet:
    """Validated filters, sort and columns for a customer list, for one actor."""

    def __init__(self, data: Mapping[str, Any] | None, *, actor: Actor, branch_choices: Any = None) -> None:
        self.actor = actor
        self.raw = _as_lists(data)
        self._branch_choices = branch_choices

    # -- choices (each one query, only when needed) ----------------------------------------------
    @cached_property
    def branch_choices(self) -> list[tuple[int, str, str]]:
        """(id, label, path) of the org units the actor's customer scope reaches."""
        if self._branch_choices is not None:
            return list(self._branch_choices)
        from fincrm.org.selectors import org_tree

        return [
            (row.unit.pk, "\u2003" * row.level + row.unit.name, row.unit.path)
            for row in org_tree(actor=self.actor, action="customer.view")
        ]

    @cached_property
    def tag_choices(self) -> list[tuple[int, str]]:
        return list(Tag.objects.filter(is_active=True).order_by("group", "label").values_list("pk", "label"))

    @cached_property
    def custom_fields(self) -> list[CustomFieldDefinition]:
        if not custom_filters_available():
            return []
        return list(CustomFieldDefinition.objects.filter(is_active=True).order_by("position", "code"))

    @cached_property
    def form(self) -> CustomerFilterForm:
        needs_tags = "tag" in self.raw
        needs_branches = "branch" in self.raw
        needs_custom = any(key.startswith(CUSTOM_PREFIX) for key in self.raw)
        return self._build(needs_tags, needs_branches, needs_custom, bound=True)

    def display_form(self) -> CustomerFilterForm:
        """The form for the page: every choice loaded, bound to the values given."""
        return self._build(True, True, True, bound=True)

    def _build(self, tags: bool, branches: bool, custom: bool, *, bound: bool) -> CustomerFilterForm:
        return CustomerFilterForm(
            self.raw if bound else None,
            branch_choices=[(pk, label) for pk, label, _path in self.branch_choices] if branches else [],
            tag_choices=self.tag_choices if tags else [],
            custom_fields=self.custom_fields if custom else [],
        )

    # -- validation ------------------------------------------------------------------------------
    def is_valid(self) -> bool:
        form = self.form
        if not form.is_valid():
            return False
        for name, value in form.cleaned_data.items():
            if name.startswith(CUSTOM_PREFIX) and value:
                try:
                    custom_filter_q(name[len(CUSTOM_PREFIX) :], value)
                except ServiceError as error:
                    for messages in error.fields.values() or [[str(error.message)]]:
                        for message in messages:
                            form.add_error(name, message)
        return not form.errors

    @property
    def errors(self) -> dict[str, list[str]]:
        """Messages per parameter, each naming its filter (``Lifecycle stage: …``)."""
        form = self.form
        result: dict[str, list[str]] = {}
        for name, messages in form.errors.items():
            label = form.fields[name].label if name in form.fields else None
            result[name] = [f"{label}: {message}" if label else str(message) for message in messages]
        return result

    def service_error(self) -> ServiceError:
        return ServiceError(
            _("Please correct the marked filters."), code="invalid_filter", fields=self.errors, status=400
        )

    @property
    def cleaned(self) -> dict[str, Any]:
        return self.form.cleaned_data

    # -- results ---------------------------------------------------------------------------------
    @property
    def sort(self) -> str:
        return self.cleaned.get("sort") or DEFAULT_SORT

    @property
    def ordering(self) -> tuple[str, ...]:
        return SORTS[self.sort].ordering

    @property
    def columns(self) -> list[str]:
        chosen = self.cleaned.get("columns") or []
        # In allow-list order, so a URL cannot reorder or repeat columns.
        return [code for code in COLUMNS if code in chosen] or list(DEFAULT_COLUMNS)

    def apply(self, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        """``queryset`` (already scoped) narrowed by the valid filters; call is_valid() first."""
        data = self.cleaned
        conditions: list[Q] = []
        if data.get("kind"):
            conditions.append(Q(kind=data["kind"]))
        for name, column in (
            ("stage", "lifecycle_stage"),
            ("tier", "value_tier"),
            ("aml", "aml_risk_rating"),
            ("risk", "risk_tolerance"),
        ):
            values = data.get(name)
            if values:
                conditions.append(Q(**{f"{column}__in": sorted(values)}))
        if data.get("tag"):
            tagged = CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag_id__in=sorted(data["tag"]))
            conditions.append(Q(Exists(tagged)))
        manager = data.get("manager")
        if manager:
            user_id = self.actor.user_id if manager == "me" else int(manager)
            conditions.append(Q(primary_manager_id=user_id) if user_id else Q(pk__in=[]))
        branch = data.get("branch")
        if branch is not None:
            path = next(path for pk, _label, path in self.branch_choices if pk == branch)
            units = [pk for pk, _label, unit_path in self.branch_choices if unit_path.startswith(path)]
            conditions.append(Q(org_unit_id__in=sorted(units)))
        if data.get("aum_min") is not None:
            conditions.append(Q(aum__gte=data["aum_min"]))
        if data.get("aum_max") is not None:
            conditions.append(Q(aum__lte=data["aum_max"]))
        for name, value in data.items():
            if name.startswith(CUSTOM_PREFIX) and value:
                conditions.append(custom_filter_q(name[len(CUSTOM_PREFIX) :], value))
        return queryset.filter(*conditions) if conditions else queryset

    # -- round trips -----------------------------------------------------------------------------
    def params(self, *, include_columns: bool = True) -> dict[str, list[str]]:
        """The valid parameters as a dict of lists (what a saved view and an export request store)."""
        data = self.cleaned
        result: dict[str, list[str]] = {}
        for name in (*FILTERS, *[key for key in data if key.startswith(CUSTOM_PREFIX)]):
            value = data.get(name)
            if value is None or value == "" or value == []:
                continue
            values = value if isinstance(value, list) else [value]
            result[name] = [str(item) for item in values]
        if data.get("sort") and data["sort"] != DEFAULT_SORT:
            result["sort"] = [data["sort"]]
        if include_columns and data.get("columns"):
            result["columns"] = self.columns
        return result

    def filter_params(self) -> dict[str, list[str]]:
        params = self.params(include_columns=False)
        params.pop("sort", None)
        return params

    def querystring(self, **extra: str) -> str:
        pairs = [(key, value) for key, values in self.params().items() for value in values]
        pairs += [(key, value) for key, value in extra.items() if value]
        return urlencode(pairs)

    @property
    def is_filtered(self) -> bool:
        return bool(self.filter_params())

"""The customer list: filters, sort, columns, saved views, bulk actions, and exports."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from fincrm.customers.filtersets import COLUMNS, SORTS, CustomerFilterSet
from fincrm.customers.selectors.lists import (
    capped_count,
    customer_list,
    customer_list_page,
    default_saved_view,
    saved_views_for,
)
from fincrm.customers.services import exports as export_services
from fincrm.customers.services import saved_views as view_services
from fincrm.integration.exports import CONTENT_TYPES
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.downloads import download
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.pagination import InvalidCursor
from fincrm.platform.views import page, request_actor

VIEW = "customer.view"
EXPORT = export_services.EXPORT
PAGE_SIZE = 50


def export_step_up_ok(request: HttpRequest) -> bool:
    """The one place pages ask whether the user stepped up recently (fincrm.security.stepup)."""
    from fincrm.security.stepup import step_up_is_recent

    return step_up_is_recent(request)


def _step_up_url(next_url: str) -> str:
    return f"{reverse('security:step-up')}?{urlencode({'next': next_url})}"


def _list_params(request: HttpRequest, actor: Actor) -> tuple[QueryDict | dict[str, Any], int | None]:
    """The list parameters: the URL's, a saved view's (?view=), or the default view's on a bare URL."""
    view_id = request.GET.get("view", "")
    view = None
    if view_id:
        view = next((v for v in saved_views_for(actor=actor) if str(v.pk) == view_id), None)
    elif not [key for key in request.GET if key not in ("cursor",)]:
        view = default_saved_view(actor=actor)
    if view is None:
        return request.GET, None
    params: dict[str, Any] = dict(view.filters)
    if view.sort:
        params["sort"] = view.sort
    if view.columns:
        params["columns"] = view.columns
    return params, view.pk


class SavedViewForm(forms.Form):
    label = forms.CharField(label=gettext_lazy("View name"), max_length=100)
    is_default = forms.BooleanField(label=gettext_lazy("Open this view by default"), required=False)


class BulkForm(forms.Form):
    ACTIONS = (
        ("tag", gettext_lazy("Add tag")),
        ("untag", gettext_lazy("Remove tag")),
        ("reassign", gettext_lazy("Reassign to account manager")),
    )
    action = forms.ChoiceField(label=gettext_lazy("Action"), choices=ACTIONS)
    customer = forms.TypedMultipleChoiceField(label=gettext_lazy("Customers"), coerce=int)
    tag = forms.TypedChoiceField(label=gettext_lazy("Tag"), coerce=int, required=False, empty_value=None)
    manager = forms.IntegerField(
        label=gettext_lazy("New primary account manager"), required=False, min_value=1
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500, required=False)
    next = forms.CharField(required=False, max_length=2000)

    def __init__(
        self, *args: Any, customer_ids: list[int], tag_choices: list[tuple[int, str]], **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.fields["customer"].choices = [(pk, pk) for pk in customer_ids]  # type: ignore[attr-defined]
        self.fields["tag"].choices = [("", "—"), *tag_choices]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action in ("tag", "untag") and not data.get("tag"):
            self.add_error("tag", _("Choose a tag."))
        if action == "reassign":
            if not data.get("manager"):
                self.add_error("manager", _("Choose the new account manager."))
            if not (data.get("reason") or "").strip():
                self.add_error("reason", _("Say why the customers are reassigned."))
        return data


def _error_text(error: ServiceError) -> str:
    return " ".join([str(error.message), *(text for texts in error.fields.values() for text in texts)])


def _safe_next(request: HttpRequest, fallback: str) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def _manager_choices(actor: Actor) -> list[tuple[int, str]]:
    """Staff the actor may pick as a manager filter or reassignment target (user.view scope)."""
    if not actor.can("user.view"):
        return []
    from fincrm.users.selectors.accounts import UserFilter, user_list

    users = user_list(actor=actor, filters=UserFilter(is_active=True))[:300]
    return [(user.pk, f"{user.full_name} ({user.username})") for user in users]


# ---------------------------------------------------------------- the list


@page
@require_http_methods(["GET"])
def customer_list_view(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, VIEW)
    params, view_id = _list_params(request, actor)
    filterset = CustomerFilterSet(params, actor=actor)
    listing = None
    error = ""
    if filterset.is_valid():
        try:
            listing = customer_list_page(
                actor=actor, filterset=filterset, cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE
            )
        except InvalidCursor as invalid:
            error = str(invalid.message)
    display_form = filterset.display_form()
    if not filterset.is_valid():
        # Show the messages (each naming its filter) on the form the page renders.
        for name, texts in filterset.errors.items():
            for text in texts:
                display_form.add_error(name if name in display_form.fields else None, text)
    columns = filterset.columns if filterset.is_valid() else []
    query = filterset.querystring() if filterset.is_valid() else ""
    context = {
        "form": display_form,
        "filterset": filterset,
        "listing": listing,
        "error": error,
        "columns": [(code, COLUMNS[code].label) for code in columns],
        "all_columns": [(code, spec.label, code in columns) for code, spec in COLUMNS.items()],
        "sorts": [(code, sort.label) for code, sort in SORTS.items()],
        "query": query,
        "next_query": filterset.querystring(cursor=listing.next_cursor)
        if listing is not None and listing.next_cursor
        else "",
        "saved_views": list(saved_views_for(actor=actor)),
        "current_view": view_id,
        "save_form": SavedViewForm(),
        "can_export": actor.can(EXPORT),
        "can_tag": actor.can("customer.edit"),
        "can_reassign": actor.can("customer.reassign"),
        "tag_choices": filterset.tag_choices,
        "manager_choices": _manager_choices(actor) if actor.can("customer.reassign") else [],
        "current_url": request.get_full_path(),
    }
    return render(request, "customers/list.html", context)


# ---------------------------------------------------------------- saved views


@page
@require_http_methods(["POST"])
def saved_view_save(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    form = SavedViewForm(request.POST)
    # The list's parameters come along as hidden fields named like the list's own.
    parameters = {
        key: request.POST.getlist(key)
        for key in request.POST
        if key not in ("label", "is_default", "csrfmiddlewaretoken")
    }
    if form.is_valid():
        try:
            view = view_services.saved_view_save(
                actor=actor,
                label=form.cleaned_data["label"],
                parameters=parameters,
                is_default=form.cleaned_data["is_default"],
            )
        except ServiceError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("View “%(label)s” saved.") % {"label": view.label})
            return redirect(f"{reverse('customers:customer-list')}?view={view.pk}")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect(f"{reverse('customers:customer-list')}?{urlencode(parameters, doseq=True)}")


@page
@require_http_methods(["POST"])
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view_services.saved_view_delete(actor=request_actor(request), view_id=pk)
    messages.success(request, _("View deleted."))
    return redirect("customers:customer-list")


@page
@require_http_methods(["POST"])
def saved_view_default(request: HttpRequest, pk: int) -> HttpResponse:
    view = view_services.saved_view_set_default(actor=request_actor(request), view_id=pk)
    messages.success(request, _("“%(label)s” now opens by default.") % {"label": view.label})
    return redirect(f"{reverse('customers:customer-list')}?view={view.pk}")


# ---------------------------------------------------------------- bulk actions


@page
@require_http_methods(["POST"])
def customer_bulk(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    # The action's own permission first: refused before anything is read.
    require_permission(
        actor, "customer.reassign" if request.POST.get("action") == "reassign" else "customer.edit"
    )
    fallback = reverse("customers:customer-list")
    ids = [int(value) for value in request.POST.getlist("customer") if value.isdigit()][:1000]
    filterset = CustomerFilterSet({}, actor=actor)
    form = BulkForm(request.POST, customer_ids=ids, tag_choices=filterset.tag_choices)
    back = _safe_next(request, fallback)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(back)
    data = form.cleaned_data
    try:
        if data["action"] in ("tag", "untag"):
            from fincrm.customers.services.tags import customers_tag_bulk

            changed = customers_tag_bulk(
                actor=actor,
                customer_ids=data["customer"],
                tag_ids=[data["tag"]],
                remove=data["action"] == "untag",
            )
            messages.success(request, _("%(count)d customers changed.") % {"count": changed})
        else:
            changed = _reassign(actor, data["customer"], data["manager"], data["reason"])
            messages.success(request, _("%(count)d customers reassigned.") % {"count": changed})
    except ServiceError as error:
        messages.error(request, _error_text(error))
    except ImportError:
        messages.error(request, _("This bulk action is not available yet."))
    return redirect(back)


def _reassign(actor: Actor, customer_ids: list[int], manager_id: int, reason: str) -> int:
    """Reassign each customer with the core service (its own scope check, audit and history)."""
    from fincrm.customers.services.profile import customer_transfer
    from fincrm.platform import transaction

    with transaction.atomic():
        for customer_id in customer_ids:
            customer_transfer(
                actor=actor, customer_id=customer_id, primary_manager_id=manager_id, reason=reason
            )
    return len(customer_ids)


# ---------------------------------------------------------------- exports


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        label=gettext_lazy("File format"),
        choices=(("xlsx", "Excel (XLSX)"), ("csv", "CSV")),
        widget=forms.RadioSelect,
        initial="xlsx",
    )


class ExportRequestForm(forms.Form):
    format = forms.ChoiceField(choices=(("xlsx", "XLSX"), ("csv", "CSV")), widget=forms.HiddenInput)
    reason = forms.CharField(
        label=gettext_lazy("Why is this export needed?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _export_params(request: HttpRequest) -> dict[str, list[str]]:
    source = request.POST if request.method == "POST" else request.GET
    skip = {"format", "reason", "csrfmiddlewaretoken", "cursor", "view"}
    return {key: source.getlist(key) for key in source if key not in skip}


@page
@require_http_methods(["GET", "POST"])
def customer_export(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, EXPORT)
    params = _export_params(request)
    filterset = CustomerFilterSet(params, actor=actor)
    if not filterset.is_valid():
        messages.error(request, " ".join(text for texts in filterset.errors.values() for text in texts))
        return redirect("customers:customer-list")
    stepped_up = export_step_up_ok(request)
    form = ExportForm(request.POST if request.method == "POST" else None)
    request_form = None
    needs_approval = False
    if request.method == "POST":
        if not stepped_up:
            return HttpResponseRedirect(
                _step_up_url(f"{reverse('customers:customer-export')}?{filterset.querystring()}")
            )
        if form.is_valid():
            try:
                export = export_services.customer_export(
                    actor=actor,
                    parameters=params,
                    file_format=form.cleaned_data["format"],
                    stepped_up=stepped_up,
                )
            except ServiceError as error:
                if error.code == "export_needs_approval":
                    needs_approval = True
                    messages.warning(request, str(error.message))
                    request_form = ExportRequestForm(initial={"format": form.cleaned_data["format"]})
                else:
                    apply_service_error(form, error)
            else:
                return redirect("customers:export-ready", pk=export.pk)
    # Counted up to the export cap (not the list's): whether an approval is needed depends on it.
    count = capped_count(
        customer_list(actor=actor, filterset=filterset, action=EXPORT), settings.FINCRM_EXPORT_ROW_CAP
    )
    context = {
        "form": form,
        "request_form": request_form,
        "needs_approval": needs_approval,
        "count": count,
        "row_cap": settings.FINCRM_EXPORT_ROW_CAP,
        "over_cap": count.capped or count.value > settings.FINCRM_EXPORT_ROW_CAP,
        "columns": [COLUMNS[code].label for code in filterset.columns],
        "filters": filterset.filter_params(),
        "query": filterset.querystring(),
        "params": [(key, value) for key, values in filterset.params().items() for value in values],
        "stepped_up": stepped_up,
        "step_up_url": _step_up_url(request.get_full_path()),
    }
    return render(request, "customers/export.html", context)


@page
@require_http_methods(["GET"])
def export_ready(request: HttpRequest, pk: str) -> HttpResponse:
    actor = request_actor(request)
    from fincrm.platform.access import access_object

    export = access_object(
        export_services.export_files_for(actor=actor).defer("content"),
        pk,
        actor=actor,
        action=EXPORT,
        object_type="export_file",
    )
    return render(request, "customers/export_ready.html", {"export": export})


@page
@require_http_methods(["GET"])
def export_download(request: HttpRequest, pk: str) -> HttpResponse:
    export, content = export_services.export_file_download(actor=request_actor(request), export_id=pk)
    response = download(content, content_type=CONTENT_TYPES[export.file_format], filename=export.filename)
    response["X-Content-SHA256"] = export.sha256
    return response


# ---------------------------------------------------------------- approvals of large exports


@page
@require_http_methods(["POST"])
def export_request_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    form = ExportRequestForm(request.POST)
    params = _export_params(request)
    if form.is_valid():
        try:
            export_services.export_request_create(
                actor=actor,
                parameters=params,
                file_format=form.cleaned_data["format"],
                reason=form.cleaned_data["reason"],
            )
        except ServiceError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("Approval requested. You can run the export once it is approved."))
            return redirect("customers:export-request-list")
    else:
        require_permission(actor, EXPORT)
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect(f"{reverse('customers:customer-export')}?{urlencode(params, doseq=True)}")


@page
@require_http_methods(["GET"])
def export_request_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, EXPORT)
    from fincrm.customers.selectors.lists import export_requests_for

    approver = export_services.can_approve_exports(actor)
    return render(
        request,
        "customers/export_requests.html",
        {
            "requests": export_requests_for(actor=actor),
            "approver": approver,
            "user_id": actor.user_id,
            "stepped_up": export_step_up_ok(request),
            "step_up_url": _step_up_url(reverse("customers:export-request-list")),
        },
    )


@page
@require_http_methods(["POST"])
def export_request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    approve = request.POST.get("decision") == "approve"
    try:
        export_services.export_request_decide(actor=actor, request_id=pk, approve=approve)
    except ServiceError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("Export approved.") if approve else _("Export refused."))
    return redirect("customers:export-request-list")


@page
@require_http_methods(["POST"])
def export_request_run(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, EXPORT)
    if not export_step_up_ok(request):
        return HttpResponseRedirect(_step_up_url(reverse("customers:export-request-list")))
    try:
        export = export_services.customer_export(
            actor=actor, parameters={}, file_format="csv", stepped_up=True, approved_request_id=pk
        )
    except ServiceError as error:
        messages.error(request, _error_text(error))
        return redirect("customers:export-request-list")
    return redirect("customers:export-ready", pk=export.pk)

"""Pages of the privacy app: a customer's consents (also a partial for the 360), processing
purposes, and data-subject requests."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from fincrm.customers.models import Customer
from fincrm.customers.selectors import access_customer
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.downloads import download
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.views import page, request_actor
from fincrm.privacy import selectors, services
from fincrm.privacy.forms import (
    ConsentRecordForm,
    ConsentWithdrawForm,
    PurposeCreateForm,
    PurposeForm,
    SubjectRequestCloseForm,
    SubjectRequestForm,
)
from fincrm.privacy.models import ConsentSource, SubjectRequest
from fincrm.privacy.selectors import ConsentRow
from fincrm.security.masking import mask

RECORD = services.RECORD


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def customer_label(customer: Customer) -> str:
    return f"{customer.customer_number} {mask('name', customer.name)}"


def customer_url(customer_id: int) -> str | None:
    """The customer's 360 page, once the customers app has one."""
    try:
        return reverse("customers:customer-detail", args=[customer_id])
    except NoReverseMatch:
        return None


# ---------------------------------------------------------------- consents


def _slot_choices(rows: list[ConsentRow]) -> list[tuple[str, str]]:
    return [
        (row.key, f"{row.purpose_name} · {row.channel_label}" if row.channel else row.purpose_name)
        for row in rows
        if not row.is_given
    ]


def _form_fields(form: ConsentRecordForm) -> SafeString:
    return SafeString(render_to_string("web/partials/form_fields.html", {"form": form}))


@lru_cache(maxsize=256)
def _blank_form_fields(language: str | None, slot_choices: tuple[tuple[str, str], ...]) -> SafeString:
    """The fields of an unbound record form, rendered once per language and set of open slots
    (nothing else varies between customers): the widgets' templates were a large part of the
    360 page's rendering."""
    return _form_fields(
        ConsentRecordForm(slot_choices=slot_choices, initial={"source": ConsentSource.BRANCH})
    )


def consent_panel_context(
    actor: Actor,
    customer_id: int,
    *,
    form: ConsentRecordForm | None = None,
    reached_for: str | None = None,
    read: selectors.ConsentsRead | None = None,
) -> dict[str, Any]:
    """What privacy/_consents.html needs; the 360 page may call this and include the partial.

    ``reached_for``: the action for which the caller has reached the customer in the actor's scope
    in this request (the 360 page: ``customer.view``); what it covers is not checked again.
    ``read``: the purposes and consents that caller has read already (``selectors.consent_rows``),
    used only when ``reached_for`` covers viewing consents."""
    if reached_for is not None and selectors.covers(actor, selectors.CONSENT_VIEW, reached_for):
        rows = selectors.consent_rows(customer_id, read=read)
    else:
        rows = selectors.consents_for(actor, customer_id)
    can_record = actor.can(RECORD) and selectors.customer_in_scope(
        actor, customer_id, RECORD, reached_for=reached_for
    )
    fields = SafeString("")
    if can_record and form is None:
        slots = tuple(_slot_choices(rows))
        form = ConsentRecordForm(slot_choices=slots, initial={"source": ConsentSource.BRANCH})
        fields = _blank_form_fields(get_language(), slots)
    elif can_record and form is not None:
        fields = _form_fields(form)
    return {
        "consent_customer_id": customer_id,
        "consent_rows": rows,
        "consent_form": form if can_record else None,
        "consent_form_fields": fields,
        "can_record_consent": can_record,
    }


def _panel(request: HttpRequest, customer_id: int, **extra: Any) -> HttpResponse:
    context = consent_panel_context(request_actor(request), customer_id, **extra)
    return render(request, "privacy/_consents.html", context)


@page
@require_http_methods(["GET"])
def consent_page(request: HttpRequest, customer_id: int) -> HttpResponse:
    actor = request_actor(request)
    context = consent_panel_context(actor, customer_id)
    customer = access_customer(actor, customer_id)
    context.update(
        customer=customer,
        customer_label=customer_label(customer),
        customer_url=customer_url(customer.pk),
        history=selectors.consent_history(actor, customer_id),
        can_log_request=actor.can(services.REQUEST_VIEW)
        and selectors.customer_in_scope(actor, customer.pk, services.REQUEST_VIEW),
    )
    return render(request, "privacy/consent_page.html", context)


@page
@require_http_methods(["GET"])
def consent_panel(request: HttpRequest, customer_id: int) -> HttpResponse:
    return _panel(request, customer_id)


@page
@require_http_methods(["POST"])
def consent_record(request: HttpRequest, customer_id: int) -> HttpResponse:
    actor = request_actor(request)
    customer = access_customer(actor, customer_id, RECORD)
    rows = selectors.consents_for(actor, customer.pk)
    form = ConsentRecordForm(request.POST, slot_choices=_slot_choices(rows))
    if form.is_valid():
        try:
            services.consent_record(actor=actor, customer_id=customer.pk, **form.service_arguments())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            if _is_htmx(request):
                return _panel(request, customer.pk)
            messages.success(request, _("Consent recorded."))
            return redirect("privacy:consent-page", customer_id=customer.pk)
    if _is_htmx(request):
        return _panel(request, customer.pk, form=form)
    messages.error(request, _("The consent was not recorded: please correct the form."))
    return redirect("privacy:consent-page", customer_id=customer.pk)


@page
@require_http_methods(["POST"])
def consent_withdraw(request: HttpRequest, customer_id: int, consent_id: int) -> HttpResponse:
    actor = request_actor(request)
    customer = access_customer(actor, customer_id, RECORD)
    form = ConsentWithdrawForm(request.POST)
    source = form.cleaned_data.get("source") if form.is_valid() else ""
    try:
        services.consent_withdraw(
            actor=actor, customer_id=customer.pk, consent_id=consent_id, source=source or ConsentSource.BRANCH
        )
    except ServiceError as error:
        if not _is_htmx(request):
            messages.error(
                request, str(error.message) if not error.fields else _("The consent was not withdrawn.")
            )
    else:
        if not _is_htmx(request):
            messages.success(request, _("Consent withdrawn."))
    if _is_htmx(request):
        return _panel(request, customer.pk)
    return redirect("privacy:consent-page", customer_id=customer.pk)


# ---------------------------------------------------------------- purposes


@page
@require_http_methods(["GET"])
def purpose_list(request: HttpRequest) -> HttpResponse:
    purposes = selectors.purpose_list(actor=request_actor(request))
    return render(request, "privacy/purpose_list.html", {"purposes": purposes})


@page
@require_http_methods(["GET", "POST"])
def purpose_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, services.MANAGE)
    if request.method == "POST":
        form = PurposeCreateForm(request.POST)
        if form.is_valid():
            try:
                services.purpose_create(actor=actor, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Purpose created."))
                return redirect("privacy:purpose-list")
    else:
        form = PurposeCreateForm()
    return render(request, "privacy/purpose_form.html", {"form": form, "title": _("New processing purpose")})


@page
@require_http_methods(["GET", "POST"])
def purpose_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    purpose = selectors.access_purpose(actor, pk)
    if request.method == "POST":
        form = PurposeForm(request.POST)
        if form.is_valid():
            try:
                services.purpose_update(actor=actor, purpose_id=purpose.pk, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Purpose saved."))
                return redirect("privacy:purpose-list")
    else:
        form = PurposeForm(initial={field: getattr(purpose, field) for field in PurposeForm.base_fields})
    title = _("Edit processing purpose %(code)s") % {"code": purpose.code}
    return render(request, "privacy/purpose_form.html", {"form": form, "title": title, "purpose": purpose})


# ---------------------------------------------------------------- data-subject requests


@page
@require_http_methods(["GET"])
def request_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    status = request.GET.get("status", SubjectRequest.Status.OPEN)
    if status not in SubjectRequest.Status.values:
        status = ""
    requests = list(selectors.subject_request_list(actor=actor, status=status or None)[:200])
    rows = [{"request": item, "customer": customer_label(item.customer)} for item in requests]
    return render(
        request,
        "privacy/request_list.html",
        {"rows": rows, "status": status, "statuses": SubjectRequest.Status.choices},
    )


@page
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest, customer_id: int) -> HttpResponse:
    actor = request_actor(request)
    customer = access_customer(actor, customer_id, services.REQUEST_VIEW)
    if request.method == "POST":
        form = SubjectRequestForm(request.POST)
        if form.is_valid():
            try:
                created = services.subject_request_create(
                    actor=actor, customer_id=customer.pk, **form.cleaned_data
                )
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Request logged."))
                return redirect("privacy:request-detail", pk=created.pk)
    else:
        form = SubjectRequestForm()
    context = {
        "form": form,
        "title": _("New data-subject request"),
        "customer_label": customer_label(customer),
    }
    return render(request, "privacy/request_form.html", context)


def _request_detail(
    request: HttpRequest, subject_request: SubjectRequest, form: SubjectRequestCloseForm, status: int = 200
) -> HttpResponse:
    actor = request_actor(request)
    context = {
        "item": subject_request,
        "customer_label": customer_label(subject_request.customer),
        "customer_url": customer_url(subject_request.customer_id),
        "can_handle": actor.can(services.HANDLE),
        "is_open": subject_request.status == SubjectRequest.Status.OPEN,
        "form": form,
    }
    return render(request, "privacy/request_detail.html", context, status=status)


@page
@require_http_methods(["GET"])
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subject_request = selectors.access_subject_request(request_actor(request), pk)
    return _request_detail(request, subject_request, SubjectRequestCloseForm())


@page
@require_http_methods(["POST"])
def request_close(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    actor = request_actor(request)
    subject_request = selectors.access_subject_request(actor, pk, services.HANDLE)
    form = SubjectRequestCloseForm(request.POST)
    if form.is_valid():
        try:
            if action == "reject":
                services.subject_request_reject(
                    actor=actor, request_id=subject_request.pk, **form.cleaned_data
                )
            else:
                services.subject_request_complete(
                    actor=actor, request_id=subject_request.pk, **form.cleaned_data
                )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Request closed."))
            return redirect("privacy:request-detail", pk=subject_request.pk)
    return _request_detail(request, subject_request, form, status=400)


@page
@require_http_methods(["GET"])
def request_export(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    try:
        content = services.subject_data_export(actor=actor, request_id=pk)
    except ServiceError as error:
        messages.error(request, str(error.message))
        return redirect("privacy:request-detail", pk=pk)
    return download(
        content, content_type="application/json; charset=utf-8", filename=f"subject-data-request-{pk}.json"
    )

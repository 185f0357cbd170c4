"""Pages: step-up, unmasking (HTMX fragments), sensitive-access grants and their report."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from fincrm.customers.models import Customer
from fincrm.customers.selectors import access_customer
from fincrm.platform.access import record_denied, require_permission
from fincrm.platform.downloads import download
from fincrm.platform.errors import Forbidden, NotFound, ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.pagination import keyset_page
from fincrm.platform.views import page, request_actor
from fincrm.security import grants, selectors, unmask
from fincrm.security.forms import GrantDecisionForm, GrantRequestForm, StepUpForm, UnmaskForm
from fincrm.security.models import SensitiveAccessGrant
from fincrm.security.stepup import (
    StepUpOutcome,
    step_up_is_recent,
    step_up_method,
    step_up_remaining_seconds,
    step_up_verify,
    step_up_window_seconds,
)
from fincrm.security.templatetags.unmask import control_context


def safe_next(request: HttpRequest, candidate: str, default: str = "web:home") -> str:
    """``candidate`` when it points to this host (a relative path or our own host), else the default."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(default)


def throttled_message(wait: int) -> str:
    return _("Too many attempts; try again in %(seconds)d seconds.") % {"seconds": wait}


def step_up_failed_message(method: str) -> str:
    if method == "totp":
        return _("The code is not correct.")
    return _("Your password is not correct.")


# ---------------------------------------------------------------- step-up


@page
@sensitive_post_parameters("secret")
@never_cache
@require_http_methods(["GET", "POST"])
def step_up(request: HttpRequest) -> HttpResponse:
    """Re-confirm identity, then go back to ``next`` (same host only)."""
    next_url = request.POST.get("next") or request.GET.get("next", "")
    method = step_up_method(request.user)  # type: ignore[arg-type]
    form = StepUpForm(request.POST or None, method=method)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = step_up_verify(request=request, secret=form.cleaned_data["secret"])
        if result.ok:
            return HttpResponseRedirect(safe_next(request, next_url))
        if result.outcome == StepUpOutcome.THROTTLED:
            form.add_error(None, throttled_message(result.wait_seconds))
            status = 429
        else:
            form.add_error("secret", step_up_failed_message(method))
    context = {
        "form": form,
        "next": safe_next(request, next_url),
        "method": str(method),
        "recent": step_up_is_recent(request),
        "remaining_minutes": (step_up_remaining_seconds(request) + 59) // 60,
        "window_minutes": step_up_window_seconds() // 60,
    }
    return render(request, "security/step_up.html", context, status=status)


# ---------------------------------------------------------------- unmasking

UNMASK_SHOWN_SECONDS = 30


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _no_store(response: HttpResponse) -> HttpResponse:
    # A clear value must not be kept by the browser, a proxy, or the back button.
    patch_cache_control(response, no_store=True, no_cache=True, must_revalidate=True, private=True, max_age=0)
    return response


def _unmask_owner(request: HttpRequest, customer_id: int, key: str) -> tuple[Customer, Any]:
    """The customer (in view scope, else 404) and the object holding the field (it, or an account)."""
    actor = request_actor(request)
    customer = access_customer(actor, customer_id, unmask.VIEW)
    field = unmask.unmaskable_fields().get(key)
    if field is None:
        raise NotFound("field", key)
    if field.owner != "account":
        return customer, customer
    model = unmask.account_model()
    account_id = request.GET.get("account", "")
    account = None
    if model is not None and account_id.isdigit():
        account = model._default_manager.filter(customer_id=customer.pk, pk=int(account_id)).first()
    if account is None:
        record_denied(actor, unmask.VIEW, object_type="account", object_id=account_id)
        raise NotFound("account", account_id)
    return customer, account


@page
@sensitive_post_parameters("secret")
@never_cache
@require_http_methods(["GET", "POST"])
def unmask_view(request: HttpRequest, customer_id: int, field: str) -> HttpResponse:
    """GET: the control with the dialog open. POST: reason (+ step-up) → the clear value for 30 s."""
    actor = request_actor(request)
    customer, owner = _unmask_owner(request, customer_id, field)
    spec = unmask.unmaskable_fields()[field]
    if not unmask.may_unmask(actor, customer.pk, field):
        # No right to unmask: the same answer as a customer out of scope (recorded).
        permission = spec.permission or "pii.unmask_c3"
        record_denied(actor, permission, object_type="customer", object_id=customer.pk)
        raise NotFound("customer", customer.pk)
    context = control_context(request, owner, field, include_script=False)
    assert context is not None
    needs_step_up = not step_up_is_recent(request)
    method = step_up_method(request.user)  # type: ignore[arg-type]
    form = UnmaskForm(request.POST or None, step_up=method if needs_step_up else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        stepped_up = not needs_step_up
        if needs_step_up:
            result = step_up_verify(request=request, secret=form.cleaned_data["secret"])
            if result.outcome == StepUpOutcome.THROTTLED:
                form.add_error(None, throttled_message(result.wait_seconds))
            elif not result.ok:
                form.add_error("secret", step_up_failed_message(method))
            stepped_up = result.ok
        if stepped_up:
            try:
                shown = unmask.unmask_field(
                    actor=actor,
                    customer_id=customer.pk,
                    field=field,
                    reason_code=form.cleaned_data["reason_code"],
                    reason_text=form.cleaned_data["reason_text"],
                    account_id=context["account_id"],
                    stepped_up=True,
                )
            except ServiceError as error:
                apply_service_error(form, error)
                # Stepped up now: do not ask for the secret a second time.
                form = _keep_errors(form, UnmaskForm(request.POST, step_up=None))
            else:
                context.update(clear_value=shown.value, masked=shown.masked, hide_after=UNMASK_SHOWN_SECONDS)
                return _no_store(_render_unmask(request, context, status))
    context.update(
        form=form,
        needs_step_up=needs_step_up and "secret" in form.fields,
        step_up_method=str(method),
    )
    return _no_store(_render_unmask(request, context, status))


def _keep_errors(old: UnmaskForm, new: UnmaskForm) -> UnmaskForm:
    new.is_valid()
    for name, errors in old.errors.items():
        if name == "secret":
            continue
        for error in errors:
            new.add_error(None if name == "__all__" else name, error)
    return new


def _render_unmask(request: HttpRequest, context: dict[str, Any], status: int) -> HttpResponse:
    if _is_htmx(request):
        return render(request, "security/_unmask_control.html", context, status=status)
    return render(request, "security/unmask_page.html", context, status=status)


# ---------------------------------------------------------------- sensitive-access grants

GRANT_PAGE_SIZE = 50
_ANY_GRANT_PERMISSION = (grants.REQUEST, grants.APPROVE, grants.REPORT)


def _field_labels(keys: list[str]) -> str:
    fields = unmask.unmaskable_fields()
    return "、".join(str(fields[key].label) if key in fields else key for key in keys or [])


def _reason_label(code: str) -> str:
    return str(unmask.REASONS.get(code, code))


@page
@require_http_methods(["GET"])
def grant_list(request: HttpRequest) -> HttpResponse:
    """The hub: my requests (requesters), requests waiting for me (approvers), the report link."""
    actor = request_actor(request)
    if not any(actor.can(permission) for permission in _ANY_GRANT_PERMISSION):
        record_denied(actor, grants.REQUEST)
        raise Forbidden(grants.REQUEST)
    mine = []
    if actor.can(grants.REQUEST):
        mine = [
            {
                "grant": grant,
                "fields": _field_labels(grant.fields),
                "reason": _reason_label(grant.reason_code),
            }
            for grant in selectors.grant_list_mine(actor=actor)[:GRANT_PAGE_SIZE]
        ]
    queue = []
    if actor.can(grants.APPROVE):
        queue = [
            {
                "grant": grant,
                "fields": _field_labels(grant.fields),
                "reason": _reason_label(grant.reason_code),
            }
            for grant in selectors.grant_queue(actor=actor)[:GRANT_PAGE_SIZE]
        ]
    context = {
        "can_request": actor.can(grants.REQUEST),
        "can_approve": actor.can(grants.APPROVE),
        "can_report": actor.can(grants.REPORT),
        "mine": mine,
        "queue": queue,
        "grant_hours": grants.grant_seconds() // 3600,
    }
    return render(request, "security/grant_list.html", context)


@page
@require_http_methods(["GET", "POST"])
def grant_request_view(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, grants.REQUEST)
    form = GrantRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            grants.grant_request(actor=actor, **form.cleaned_data)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            # The same message whether or not the number exists.
            messages.success(request, _("Your request was sent for approval."))
            return redirect("security:grant-list")
    context = {
        "form": form,
        "title": _("Request access to sensitive data"),
        "grant_hours": grants.grant_seconds() // 3600,
    }
    return render(request, "security/grant_request.html", context)


@page
@require_http_methods(["GET", "POST"])
def grant_decide(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    grant = selectors.access_grant_for_decision(actor, pk)
    form = GrantDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        decide = grants.grant_approve if form.cleaned_data["decision"] == "approve" else grants.grant_refuse
        try:
            decide(actor=actor, grant_id=grant.pk, note=form.cleaned_data["note"])
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            if form.cleaned_data["decision"] == "approve":
                messages.success(request, _("Request approved."))
            else:
                messages.success(request, _("Request refused."))
            return redirect("security:grant-list")
    context = {
        "grant": grant,
        "fields": _field_labels(grant.fields),
        "reason": _reason_label(grant.reason_code),
        "form": form,
        "grant_hours": grants.grant_seconds() // 3600,
    }
    return render(request, "security/grant_decide.html", context)


@page
@require_http_methods(["GET"])
def grant_report_view(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, grants.REPORT)
    status = request.GET.get("status", "")
    if status not in SensitiveAccessGrant.Status.values:
        status = ""
    if request.GET.get("export") == "csv":
        if not step_up_is_recent(request):
            target = f"{reverse('security:grant-report')}?{request.GET.urlencode()}"
            return redirect(f"{reverse('security:step-up')}?{urlencode({'next': target})}")
        rows = grants.grant_report_export(actor=actor, status=status or None)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response = download(
            _report_csv(rows),
            content_type="text/csv; charset=utf-8",
            filename=f"sensitive-access-grants-{stamp}.csv",
        )
        return _no_store(cast(HttpResponse, response))  # streamed, but headers are set the same way
    queryset = selectors.grant_report(actor=actor, status=status or None)
    ordering = ("-requested_at", "-id")
    try:
        page_ = keyset_page(
            queryset, limit=GRANT_PAGE_SIZE, cursor=request.GET.get("cursor"), ordering=ordering
        )
    except ServiceError:
        page_ = keyset_page(queryset, limit=GRANT_PAGE_SIZE, cursor=None, ordering=ordering)
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "rows": [
            {
                "grant": grant,
                "fields": _field_labels(grant.fields),
                "reason": _reason_label(grant.reason_code),
            }
            for grant in page_.items
        ],
        "next_cursor": page_.next_cursor,
        "query": query.urlencode(),
        "first_page": not request.GET.get("cursor"),
        "status": status,
        "statuses": SensitiveAccessGrant.Status.choices,
    }
    return render(request, "security/grant_report.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _report_csv(rows: QuerySet[SensitiveAccessGrant]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(grants.REPORT_COLUMNS)
    for grant in rows.iterator(chunk_size=2000):
        yield writer.writerow([_csv_safe(value) for value in grants.report_row(grant)])


def _csv_safe(value: str) -> str:
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

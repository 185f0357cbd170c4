"""Security alerts for administrators (new-address and off-hours sign-ins, lockouts) and the
auditor's pages: audit log search, event detail, CSV export."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from fincrm.audit import registry
from fincrm.audit.alerts import security_alert_acknowledge
from fincrm.audit.exports import audit_event_export, csv_lines
from fincrm.audit.forms import AuditSearchForm
from fincrm.audit.selectors import (
    ALERT_PERMISSION,
    AUDIT_VIEW,
    access_audit_event,
    audit_event_search,
    security_alert_list,
)
from fincrm.platform.downloads import download
from fincrm.platform.errors import ServiceError
from fincrm.platform.pagination import keyset_page
from fincrm.platform.views import permission_required_page, request_actor

PAGE_SIZE = 50
EVENT_PAGE_SIZE = 50


@permission_required_page(ALERT_PERMISSION)
def alert_list(request: HttpRequest) -> HttpResponse:
    alerts = security_alert_list(actor=request.actor)  # type: ignore[attr-defined]
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audit/alert_list.html", {"page": page})


@login_required
@require_POST
def alert_ack(request: HttpRequest, pk: int) -> HttpResponse:
    # Names an object: without the permission (or outside scope) the alert is simply not found.
    security_alert_acknowledge(actor=request.actor, alert_id=pk)  # type: ignore[attr-defined]
    messages.success(request, _("The alert was acknowledged."))
    return redirect("audit:alert-list")


def _label(code: str) -> str:
    try:
        return str(registry.get(code).label)
    except registry.UnknownEventCode:
        return code


@permission_required_page(AUDIT_VIEW)
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    form = AuditSearchForm(request.GET or None)
    events = audit_event_search(actor=actor, filters=form.filters())
    ordering = ("-sequence",)
    try:
        page = keyset_page(events, limit=EVENT_PAGE_SIZE, cursor=request.GET.get("cursor"), ordering=ordering)
    except ServiceError:
        page = keyset_page(events, limit=EVENT_PAGE_SIZE, cursor=None, ordering=ordering)
    query = request.GET.copy()
    query.pop("cursor", None)
    rows = [(event, _label(event.action)) for event in page.items]
    return render(
        request,
        "audit/event_list.html",
        {
            "form": form,
            "rows": rows,
            "next_cursor": page.next_cursor,
            "query": query.urlencode(),
            "first_page": not request.GET.get("cursor"),
            "can_export": actor.can("audit.export"),
        },
    )


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else str(value)


@login_required
@require_GET
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = access_audit_event(request_actor(request), pk)
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    keys = sorted(set(before) | set(after))
    changes = [
        {
            "field": key,
            "before": _shown(before.get(key)) if key in before else None,
            "after": _shown(after.get(key)) if key in after else None,
            "changed": before.get(key) != after.get(key) and bool(before) and bool(after),
        }
        for key in keys
    ]
    return render(
        request,
        "audit/event_detail.html",
        {
            "event": event,
            "label": _label(event.action),
            "changes": changes,
            "has_before": event.before is not None,
            "has_after": event.after is not None,
        },
    )


@login_required
@require_GET
def event_export(request: HttpRequest) -> HttpResponseBase:
    # Without audit.export the service raises Forbidden: the 403 page, recorded as a denial.
    form = AuditSearchForm(request.GET or None)
    export = audit_event_export(actor=request_actor(request), filters=form.filters())
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = download(
        csv_lines(export.events), content_type="text/csv; charset=utf-8", filename=f"audit-{stamp}.csv"
    )
    response["X-Row-Count"] = str(export.count)
    return response

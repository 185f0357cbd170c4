"""Security alerts for administrators: new-address and off-hours sign-ins, lockouts."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from fincrm.audit.alerts import security_alert_acknowledge
from fincrm.audit.selectors import ALERT_PERMISSION, security_alert_list
from fincrm.platform.views import permission_required_page

PAGE_SIZE = 50


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

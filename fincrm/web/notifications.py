"""The notifications under the bell: a list of providers, each adding at most one entry.

A capability adds its own provider with ``@provider``. Providers import their app's selector
inside the function, so the shell does not depend on the apps it reports on; a selector that
does not exist yet makes its provider report nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from fincrm.platform.actor import Actor
from fincrm.web.navigation import safe_reverse


@dataclass(frozen=True)
class Notification:
    key: str
    text: str | Promise
    count: int
    url: str | None
    level: str = "warning"  # a Bootstrap colour: the dot beside the entry


Provider = Callable[[HttpRequest, Actor], "Notification | None"]

PROVIDERS: list[Provider] = []


def provider(function: Provider) -> Provider:
    PROVIDERS.append(function)
    return function


def optional_function(module: str, name: str) -> Callable[..., Any] | None:
    """``module.name`` if that app has written it yet, else None."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def collect(request: HttpRequest, actor: Actor) -> list[Notification]:
    entries = []
    for function in PROVIDERS:
        entry = function(request, actor)
        if entry is not None and entry.count > 0:
            entries.append(entry)
    return entries


@provider
def security_alerts(request: HttpRequest, actor: Actor) -> Notification | None:
    if not actor.can("security.alert.view"):
        return None
    count_alerts = optional_function("fincrm.audit.selectors", "security_alert_count")
    if count_alerts is None:
        return None
    count = int(count_alerts(actor=actor))
    text = ngettext(
        "%(count)d unacknowledged security alert", "%(count)d unacknowledged security alerts", count
    ) % {"count": count}
    return Notification("security_alerts", text, count, safe_reverse("audit:alert-list"), level="danger")


@provider
def pending_approvals(request: HttpRequest, actor: Actor) -> Notification | None:
    if not actor.can("role.approve"):
        return None
    count_pending = optional_function("fincrm.users.selectors.accounts", "pending_approval_count")
    if count_pending is None:
        return None
    count = int(count_pending(actor=actor))
    text = ngettext(
        "%(count)d access change waiting for approval", "%(count)d access changes waiting for approval", count
    ) % {"count": count}
    return Notification("pending_approvals", text, count, safe_reverse("users:approval-list"))


@provider
def mfa_not_enrolled(request: HttpRequest, actor: Actor) -> Notification | None:
    if actor.user_id is None:
        return None
    is_confirmed = optional_function("fincrm.users.selectors.sessions", "mfa_device_confirmed")
    if is_confirmed is None or is_confirmed(user_id=actor.user_id):
        return None
    return Notification(
        "mfa_not_enrolled", _("Two-factor sign-in is not set up"), 1, safe_reverse("users:mfa-setup")
    )

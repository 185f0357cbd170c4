"""``shell``: what base.html needs around every page (navigation, user menu, languages).

Everything is computed on first use, so a partial that does not show the shell costs nothing.
Error pages render through this too, possibly before authentication ran: every lookup
tolerates a request without ``user`` or ``actor``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from fincrm.platform.actor import Actor
from fincrm.web import navigation, notifications
from fincrm.web.navigation import Link, safe_reverse


class Shell:
    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    @cached_property
    def actor(self) -> Actor | None:
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        actor = getattr(self.request, "actor", None)
        return actor if actor is not None and actor.is_authenticated else None

    @property
    def signed_in(self) -> bool:
        return self.actor is not None

    @property
    def confined(self) -> bool:
        """Held on one page (password change, MFA enrolment): no navigation, no polling."""
        return bool(getattr(self.request, "confined_to", ""))

    @cached_property
    def nav(self) -> list[navigation.Section]:
        if self.actor is None or self.confined:
            return []
        return navigation.build(self.request, self.actor)

    @cached_property
    def quick_links(self) -> list[Link]:
        home = safe_reverse("web:home")
        return [link for section in self.nav for link in section.links if link.url != home]

    @cached_property
    def user_links(self) -> list[Link]:
        """The user menu, above sign-out."""
        if self.actor is None or self.confined:
            return []
        entries: list[tuple[Any, str, str]] = [
            (_("My account"), "users:account", "user"),
            (_("My sessions"), "users:session-list", "devices"),
            (_("Two-factor sign-in"), "users:mfa-setup", "shield"),
        ]
        if self.actor.can("api.token.use"):
            entries.append((_("API tokens"), "users:token-list", "key"))
        links = []
        for label, url_name, icon in entries:
            url = safe_reverse(url_name)
            if url is not None:
                links.append(Link(label, url, url_name, icon, self.request.path == url))
        return links

    @cached_property
    def sign_out_url(self) -> str | None:
        return safe_reverse("users:sign-out")

    @cached_property
    def notifications_url(self) -> str | None:
        return None if self.confined else safe_reverse("web:notifications")

    @cached_property
    def notifications(self) -> list[notifications.Notification]:
        return notifications.collect(self.request, self.actor) if self.actor is not None else []

    @property
    def notification_count(self) -> int:
        return sum(entry.count for entry in self.notifications)

    @property
    def languages(self) -> list[tuple[str, str]]:
        return list(settings.LANGUAGES)


def shell(request: HttpRequest) -> dict[str, Any]:
    return {"shell": Shell(request)}

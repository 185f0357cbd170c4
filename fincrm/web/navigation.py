"""The sidebar: sections of page links, each shown only to actors who may open it.

Later capabilities append their items here. A URL name that does not resolve (its app is not
built yet) is skipped, so the shell never breaks on a missing page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from django.http import HttpRequest
from django.urls import NoReverseMatch, URLResolver, get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.platform.actor import Actor


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    # Any one of these permissions shows the item; none listed: every signed-in user.
    permissions: tuple[str, ...] = ()
    icon: str = ""  # a template in web/icons/, e.g. "home" -> web/icons/home.svg

    def allows(self, actor: Actor) -> bool:
        if not self.permissions:
            return True
        return any(actor.can(permission) for permission in self.permissions)


@dataclass(frozen=True)
class NavSection:
    key: str
    label: str | Promise | None  # None: no heading
    items: tuple[NavItem, ...]


SECTIONS: tuple[NavSection, ...] = (
    NavSection(
        "main",
        None,
        (
            NavItem(_("Home"), "web:home", icon="home"),
            NavItem(_("Customers"), "customers:customer-list", ("customer.view",), icon="users-group"),
            NavItem(_("New customer"), "customers:customer-create", ("customer.create",), icon="user"),
            NavItem(_("Products"), "products:product-list", ("product.view",), icon="building"),
        ),
    ),
    NavSection(
        "customer_data",
        _("Customer data"),
        (
            NavItem(_("Duplicates"), "customers:duplicate-list", ("customer.merge",), icon="checklist"),
            NavItem(_("Tags"), "customers:tag-list", ("customer.tag.manage",), icon="checklist"),
            NavItem(_("Data import"), "integration:batch-list", ("data.import",), icon="checklist"),
            NavItem(
                _("Custom fields"),
                "customers:custom-field-list",
                ("customer.field.manage",),
                icon="checklist",
            ),
        ),
    ),
    NavSection(
        "privacy",
        _("Privacy and access"),
        (
            NavItem(_("Consent purposes"), "privacy:purpose-list", ("privacy.manage",), icon="shield"),
            NavItem(
                _("Data-subject requests"),
                "privacy:request-list",
                ("privacy.request.view",),
                icon="checklist",
            ),
            NavItem(
                _("Sensitive-access grants"),
                "security:grant-list",
                ("pii.grant.request", "pii.grant.approve", "pii.grant.report"),
                icon="key",
            ),
        ),
    ),
    NavSection(
        "administration",
        _("Administration"),
        (
            NavItem(_("Org units"), "org:unit-list", ("org.view",), icon="building"),
            NavItem(_("Teams"), "org:team-list", ("org.view",), icon="users-group"),
            NavItem(_("Users"), "users:user-list", ("user.view",), icon="user"),
            NavItem(_("Roles"), "users:role-list", ("role.view",), icon="shield"),
            NavItem(_("Approvals"), "users:approval-list", ("role.approve",), icon="checklist"),
            NavItem(_("Security alerts"), "audit:alert-list", ("security.alert.view",), icon="alert"),
        ),
    ),
    NavSection(
        "oversight",
        _("Audit"),
        (NavItem(_("Audit log"), "audit:event-list", ("audit.view",), icon="checklist"),),
    ),
)


@dataclass(frozen=True)
class Link:
    label: str | Promise
    url: str
    url_name: str
    icon: str = ""
    active: bool = False


@dataclass(frozen=True)
class Section:
    key: str
    label: str | Promise | None
    links: tuple[Link, ...] = field(default=())


def safe_reverse(url_name: str) -> str | None:
    """The URL of a page without arguments, None when the name does not resolve."""
    urlconf = get_urlconf()
    return _reverse(get_resolver(urlconf), urlconf, get_script_prefix(), url_name)


# The shell reverses some twenty names on every page (a tenth of a millisecond each). A URL without
# arguments depends only on the URL configuration and the script prefix; Django builds a new
# resolver when its URL caches are cleared, so a stale entry is never found again.
@lru_cache(maxsize=1024)
def _reverse(resolver: URLResolver, urlconf: str | None, prefix: str, url_name: str) -> str | None:
    del resolver, prefix  # part of the key: reverse() looks them up itself
    try:
        return reverse(url_name, urlconf=urlconf)
    except NoReverseMatch:
        return None


def _active_url(request: HttpRequest, candidates: list[tuple[str, str]]) -> str | None:
    """The URL of the item to highlight: the page itself, else the deepest list above it
    (a detail page keeps its list highlighted; /admin/org/teams/ is Teams, not Org units)."""
    match = getattr(request, "resolver_match", None)
    for url_name, url in candidates:
        if match is not None and match.view_name == url_name:
            return url
    below = [url for _name, url in candidates if url != "/" and request.path.startswith(url)]
    return max(below, key=len) if below else None


def build(request: HttpRequest, actor: Actor) -> list[Section]:
    """The sections the actor may see, with resolved URLs; empty sections are left out."""
    visible: list[tuple[NavSection, list[tuple[NavItem, str]]]] = []
    for spec in SECTIONS:
        items = []
        for item in spec.items:
            url = safe_reverse(item.url_name) if item.allows(actor) else None
            if url is not None:
                items.append((item, url))
        if items:
            visible.append((spec, items))
    active = _active_url(request, [(item.url_name, url) for _spec, items in visible for item, url in items])
    return [
        Section(
            spec.key,
            spec.label,
            tuple(Link(item.label, url, item.url_name, item.icon, url == active) for item, url in items),
        )
        for spec, items in visible
    ]

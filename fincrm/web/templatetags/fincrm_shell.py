"""The page shell's pieces that are the same on every page for the same inputs.

* ``{% icon name %}``: the SVG icon ``web/icons/<name>.svg``. The icons are plain SVG (no template
  syntax): each is rendered once per process, where an ``{% include %}`` per icon looked the
  template up and rendered it again (the shell shows some twenty icons on every page).
* ``{% sidebar shell.nav %}``: the sidebar's links (``web/partials/sidebar.html``), rendered once
  per language and set of links. The links (``Shell.nav``) are still built for every request
  from the actor's permissions; only their markup is reused.
* ``{% topbar_items place %}``: the top bar's notification bell, language menu and user menu
  (``web/partials/topbar_items.html``), rendered once per language, place, user and set of user
  links. The page shows it twice (phone bar and desktop header) and it was a tenth of the 360
  page's rendering. The two values that change on every request, the CSRF token and the page's
  path (the language form's ``next``), are put into the reused markup afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from django import template
from django.template import Context
from django.template.defaulttags import CsrfTokenNode
from django.template.loader import get_template, render_to_string
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from fincrm.web.navigation import Link, Section

register = template.Library()


@lru_cache(maxsize=64)
def _svg(name: str) -> SafeString:
    return SafeString(get_template(f"web/icons/{name}.svg").render())


@register.simple_tag
def icon(name: str) -> SafeString:
    return _svg(name)


@lru_cache(maxsize=512)
def _sidebar(language: str | None, nav: tuple[Section, ...]) -> SafeString:
    del language  # part of the key: the labels are translated when rendered
    return SafeString(render_to_string("web/partials/sidebar.html", {"nav": nav}))


@register.simple_tag
def sidebar(nav: Sequence[Section]) -> SafeString:
    return _sidebar(get_language(), tuple(nav))


# Stand-ins for the per-request values in the reused top bar. Autoescaping writes any "<" of a
# variable as "&lt;", so no user-provided text can put either mark into the markup.
_CSRF_MARK = SafeString("<fincrm-csrf-token>")
_NEXT_MARK = SafeString("<fincrm-next-path>")
# The CSRF field as {% csrf_token %} writes it around the mark; replaced by what the tag writes
# for the request (no field at all when the context has no token).
_CSRF_FIELD = CsrfTokenNode().render(Context({"csrf_token": _CSRF_MARK}))
# What django.template.context_processors.csrf puts in the context when there is no token.
_CSRF_ABSENT = "NOTPROVIDED"


@dataclass(frozen=True)
class _Topbar:
    """All the top bar shows, besides the language, the CSRF token and the path (its cache key)."""

    place: str
    notifications_url: str | None
    user_name: str
    org_unit_name: str
    user_links: tuple[Link, ...]  # with labels translated: a lazy label hashes by translating
    sign_out_url: str | None
    languages: tuple[tuple[str, str], ...]


@lru_cache(maxsize=512)
def _topbar(language: str | None, topbar: _Topbar) -> SafeString:
    del language  # part of the key: the labels are translated when rendered
    return SafeString(
        render_to_string(
            "web/partials/topbar_items.html",
            {"topbar": topbar, "languages": topbar.languages, "next": _NEXT_MARK, "csrf_token": _CSRF_MARK},
        )
    )


@register.simple_tag(takes_context=True)
def topbar_items(context: template.Context, place: str) -> SafeString:
    shell, user, request = context["shell"], context["user"], context["request"]
    org_unit = getattr(user, "org_unit", None)
    topbar = _Topbar(
        place=place,
        notifications_url=shell.notifications_url,
        user_name=str(getattr(user, "full_name", "")),
        org_unit_name=str(getattr(org_unit, "name", "")),
        user_links=tuple(
            Link(str(link.label), link.url, link.url_name, link.icon, link.active)
            for link in shell.user_links
        ),
        sign_out_url=shell.sign_out_url,
        languages=tuple(shell.languages),
    )
    html = _topbar(get_language(), topbar)
    # No token (a page served without the CSRF middleware): no field, as {% csrf_token %} writes.
    provided = context.get("csrf_token") not in (None, "", _CSRF_ABSENT)
    field = CsrfTokenNode().render(context) if provided else ""
    return SafeString(
        html.replace(_CSRF_FIELD, field).replace(_NEXT_MARK, conditional_escape(request.get_full_path()))
    )

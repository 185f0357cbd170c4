"""The page shell's pieces that are the same on every page for the same inputs.

* ``{% icon name %}``: the SVG icon ``web/icons/<name>.svg``. The icons are plain SVG (no template
  syntax): each is rendered once per process, where an ``{% include %}`` per icon looked the
  template up and rendered it again (the shell shows some twenty icons on every page).
* ``{% sidebar shell.nav %}``: the sidebar's links (``web/partials/sidebar.html``), rendered once
  per language and set of links. The links (``Shell.nav``) are still built for every request
  from the actor's permissions; only their markup is reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from django import template
from django.template.loader import get_template, render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from fincrm.web.navigation import Section

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

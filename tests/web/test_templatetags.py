"""fincrm_format and fincrm_shell: the same output as the general filters and includes they replace,
and the sidebar rendered once per set of links and language."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.template import Context, Template
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone, translation

from fincrm.platform.actor import Actor, ActorKind, Scope
from fincrm.web import navigation

AMOUNTS: list[Any] = [
    Decimal("1234567.891"),
    Decimal("-1234567.895"),
    Decimal("0.005"),
    Decimal("-0.005"),
    Decimal("-0.004"),
    Decimal("-0"),
    Decimal("0E-8"),
    Decimal("1E+3"),
    Decimal("999.995"),
    Decimal("123456789012345678.125"),
    Decimal("NaN"),
    Decimal("Infinity"),
    12,
    -7,
    1.5,
    None,
    "",
    "12.345",
    "abc",
]
MOMENTS: list[Any] = [
    datetime(2026, 1, 31, 16, 30, tzinfo=UTC),  # already 1 February in Shanghai
    datetime(2026, 6, 1, 8, 5, 59, tzinfo=UTC),
    date(2026, 2, 3),
    None,
    "",
]


def _render(source: str, **context: Any) -> str:
    return Template("{% load fincrm_format fincrm_shell %}" + source).render(Context(context))


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_money_is_floatformat_2g(language: str) -> None:
    with translation.override(language):
        for value in AMOUNTS:
            assert _render("{{ v|money }}", v=value) == _render('{{ v|floatformat:"2g" }}', v=value), value


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC"])
def test_minute_and_day_are_the_date_filter(zone: str) -> None:
    with timezone.override(zone):
        for value in MOMENTS:
            assert _render("{{ v|day }}", v=value) == _render('{{ v|date:"Y-m-d" }}', v=value), value
            if type(value) is date:  # a time of a date: the date filter refuses, and so does minute
                for source in ("{{ v|minute }}", '{{ v|date:"Y-m-d H:i" }}'):
                    with pytest.raises(TypeError):
                        _render(source, v=value)
                continue
            assert _render("{{ v|minute }}", v=value) == _render('{{ v|date:"Y-m-d H:i" }}', v=value), value
    with timezone.override("Asia/Shanghai"):
        assert _render("{{ v|minute }}", v=MOMENTS[0]) == "2026-02-01 00:30"


def test_minute_follows_the_timezone_tag() -> None:
    source = '{% load tz %}{% timezone "Asia/Shanghai" %}{{ v|minute }}{% endtimezone %}'
    with timezone.override("UTC"):
        assert _render(source, v=MOMENTS[0]) == "2026-02-01 00:30"


def test_icon_is_the_icon_template() -> None:
    for name in ("bell", "world", "logout", "user"):
        assert _render(f'{{% icon "{name}" %}}') == _render(f'{{% include "web/icons/{name}.svg" %}}')
    assert _render("{% icon name %}", name="home") == _render('{% include "web/icons/home.svg" %}')


def test_sidebar_is_rendered_per_set_of_links_and_language(world: Any, stub_urls: None) -> None:
    actor = Actor(kind=ActorKind.USER, label="t", user_id=1, grants={"org.view": frozenset({Scope.BRANCH})})
    on_units = navigation.build(RequestFactory().get(reverse("org:unit-list")), actor)
    on_teams = navigation.build(RequestFactory().get(reverse("org:team-list")), actor)
    source = "{% sidebar nav %}"

    with translation.override("en"):
        units = _render(source, nav=on_units)
        assert units == _render(source, nav=on_units)  # the same links: the same markup
        assert units == render_to_string("web/partials/sidebar.html", {"nav": on_units})
        assert f'href="{reverse("org:unit-list")}" data-nav="org:unit-list" aria-current="page"' in units
        teams = _render(source, nav=on_teams)
        assert f'href="{reverse("org:team-list")}" data-nav="org:team-list" aria-current="page"' in teams
        assert ">Teams<" in teams
    with translation.override("zh-hans"):
        assert ">Teams<" not in _render(source, nav=on_teams)

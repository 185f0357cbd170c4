"""fincrm_format, fincrm_shell and fincrm_i18n: the same output as the general filters, tags and
includes they replace; the sidebar and the top bar rendered once per set of links and language."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.template import Context, RequestContext, Template
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import SafeString

import fincrm
from fincrm.platform.actor import Actor, ActorKind, Scope
from fincrm.users.actors import actor_for_user
from fincrm.web import navigation
from fincrm.web.context_processors import Shell
from fincrm.web.templatetags import fincrm_shell

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


# ---------------------------------------------------------------- fincrm_i18n

TRANSLATE_TAG = re.compile(r"""{%\s*(?:translate|trans)\s+("[^"]*"|'[^']*')""")


def _template_messages() -> list[str]:
    """Every literal message the project's templates translate with {% translate %}."""
    messages: set[str] = set()
    for path in Path(fincrm.__file__).parent.glob("*/templates/**/*.html"):
        messages.update(match.group(1) for match in TRANSLATE_TAG.finditer(path.read_text()))
    return sorted(messages)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_fast_translate_writes_what_djangos_translate_writes(language: str) -> None:
    messages = _template_messages()
    assert len(messages) > 300
    # Percent signs, markup and quotes are written as Django writes them (not escaped: the message
    # is the template's own text).
    messages += ['"100% <b>sure</b> & done"', '"it\'s"', '"%(count)s %%"', '""']
    with translation.override(language):
        for message in messages:
            for form in ("{% translate MSG %}", "{% trans MSG %}", "{% translate MSG as v %}[{{ v }}]"):
                source = form.replace("MSG", message)
                ours = Template("{% load i18n fincrm_i18n %}" + source).render(Context({}))
                djangos = Template("{% load i18n %}" + source).render(Context({}))
                assert ours == djangos, source
                assert isinstance(ours, SafeString)


def test_other_forms_of_translate_are_djangos() -> None:
    context = {"message": "Customers", "markup": "<b>"}
    with translation.override("zh-hans"):
        for source in (
            "{% translate message %}",
            "{% translate markup %}",
            '{% translate "Customers" noop %}',
            '{% translate "May" context "month name" %}',
            '{% translate "Customers"|upper %}',
            "{% translate message as v %}{{ v }}",
        ):
            ours = Template("{% load i18n fincrm_i18n %}" + source).render(Context(context))
            assert ours == Template("{% load i18n %}" + source).render(Context(context)), source
        assert Template('{% load i18n fincrm_i18n %}{% translate "Customers" %}').render(Context()) == "客户"


# ---------------------------------------------------------------- the top bar


def _topbar_context(path: str, token: str, *, name: str | None = None) -> RequestContext:
    from fincrm.users.models import User

    request = RequestFactory().get(path)
    request.user = User.objects.get(username="peer_a")
    if name is not None:
        request.user.full_name = name
    request.actor = actor_for_user(request.user)
    context = RequestContext(request)
    context.update({"csrf_token": token})  # above the context processors' own
    return context


def test_topbar_is_reused_with_each_requests_token_and_path(world: Any) -> None:
    source = Template('{% load fincrm_shell %}{% topbar_items "desktop" %}')
    pages = [("/customers/1/?tab=a&b=<x>", "tokenA"), ("/", "tokenB")]
    with translation.override("en"):
        html = [source.render(_topbar_context(path, token)) for path, token in pages]
        for page, token, path in zip(
            html, ("tokenA", "tokenB"), ("/customers/1/?tab=a&amp;b=%3Cx%3E", "/"), strict=True
        ):
            assert page.count(f'name="csrfmiddlewaretoken" value="{token}"') == 2  # language and sign-out
            assert f'<input type="hidden" name="next" value="{path}">' in page
            assert "fincrm-csrf-token" not in page
            assert "fincrm-next-path" not in page
        # Exactly what the template writes with the request's own values.
        request = _topbar_context(*pages[0]).request
        shell = Shell(request)
        topbar = fincrm_shell._Topbar(
            place="desktop",
            notifications_url=shell.notifications_url,
            user_name=request.user.full_name,
            org_unit_name=request.user.org_unit.name,
            user_links=tuple(shell.user_links),
            sign_out_url=shell.sign_out_url,
            languages=tuple(shell.languages),
        )
        context = {"topbar": topbar, "languages": shell.languages, "next": request.get_full_path()}
        assert html[0] == render_to_string(
            "web/partials/topbar_items.html", {**context, "csrf_token": "tokenA"}
        )
        # Without a token (a page served without the CSRF middleware): no hidden field, as {% csrf_token %}.
        bare = source.render(_topbar_context("/", "NOTPROVIDED"))
        assert "csrfmiddlewaretoken" not in bare
        assert 'action="/i18n/setlang/"' in bare


def test_topbar_marks_cannot_be_forged_by_a_users_name(world: Any) -> None:
    name = "<fincrm-csrf-token><fincrm-next-path>"
    html = Template('{% load fincrm_shell %}{% topbar_items "mobile" %}').render(
        _topbar_context("/", "t", name=name)
    )
    assert "&lt;fincrm-csrf-token&gt;&lt;fincrm-next-path&gt;" in html
    assert 'data-place="mobile"' in html

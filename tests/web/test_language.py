"""zh-Hans by default; the language switch in the top bar changes the next page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from tests.support.world import World
from tests.web.conftest import html_lang


def _label(language: str, text: str) -> str:
    with translation.override(language):
        return gettext(text)


def test_default_language_is_simplified_chinese(signed_in: Any) -> None:
    html = signed_in("system_admin_a").get("/").content.decode()

    assert html_lang(html) == "zh-hans"
    assert f">{_label('zh-hans', 'Administration')}<" in html


def test_switch_to_english_changes_the_next_page(signed_in: Any) -> None:
    client = signed_in("system_admin_a")

    response = client.post("/i18n/setlang/", {"language": "en", "next": "/admin/users/"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/users/"
    html = client.get("/").content.decode()
    assert html_lang(html) == "en"
    assert f">{_label('en', 'Administration')}<" in html
    assert 'value="en" lang="en"\n          class="dropdown-item active"' in html


def test_switch_back_to_chinese(signed_in: Any) -> None:
    client = signed_in("peer_a")
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})

    assert html_lang(client.get("/").content.decode()) == "zh-hans"


def test_switch_form_offers_both_languages_and_keeps_the_page(signed_in: Any) -> None:
    html = signed_in("peer_a").get("/?tab=1").content.decode()

    assert '<form method="post" action="/i18n/setlang/">' in html
    assert '<input type="hidden" name="next" value="/?tab=1">' in html
    for code, name in settings.LANGUAGES:
        assert f'name="language" value="{code}" lang="{code}"' in html
        assert f">{name}</button>" in html


def test_signed_out_pages_offer_the_switch_too(client: Client, world: World) -> None:
    html = client.get("/no-such-page/").content.decode()

    assert '<form method="post" action="/i18n/setlang/" class="d-inline-flex gap-2">' in html


def test_language_cookie_flags() -> None:
    assert settings.LANGUAGE_COOKIE_HTTPONLY is True
    assert settings.LANGUAGE_COOKIE_SAMESITE == "Lax"

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.support.auth import sign_in
from tests.support.world import World


@pytest.fixture
def stub_urls(settings: Any) -> None:
    """Every page the shell links to resolves (tests/web/urls.py), whichever apps have landed."""
    settings.ROOT_URLCONF = "tests.web.urls"


@pytest.fixture
def signed_in(client: Client, world: World) -> Any:
    def as_user(username: str) -> Client:
        return sign_in(client, World.user(username))

    return as_user


def nav_items(html: str) -> list[str]:
    """URL names of the sidebar links, in order."""
    return re.findall(r'data-nav="([^"]+)"', html)


def nav_sections(html: str) -> list[str]:
    return re.findall(r'data-nav-section="([^"]+)"', html)


def user_links(html: str) -> list[str]:
    """URL names in the user menu (rendered twice: phone bar and desktop header)."""
    return list(dict.fromkeys(re.findall(r'data-user-link="([^"]+)"', html)))


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match is not None
    return match.group(1)

"""The home page: who you are, what you hold, where you can go."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from fincrm.users.models import Role, RoleAssignment
from fincrm.users.roles import BUILTIN_ROLES
from tests.support.auth import sign_in
from tests.support.english import client, english  # the assertions quote English messages
from tests.support.world import World

NO_ROLE = "No role has been assigned to you yet; ask your administrator."

__all__ = ["client", "english"]


def _roles(html: str) -> list[str]:
    block = re.search(r'data-field="roles">(.*?)</dd>', html, re.S)
    assert block is not None
    return re.findall(r'<span class="badge[^"]*">([^<]+)</span>', block.group(1))


def _quick_links(html: str) -> list[str]:
    return re.findall(r'data-quick-link="([^"]+)"', html)


def test_anonymous_is_sent_to_sign_in(client: Client, world: World) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('users:sign-in')}?next=/"


@pytest.mark.parametrize("role", [role.code for role in BUILTIN_ROLES])
def test_every_role_may_open_it(role: str, signed_in: Any) -> None:
    response = signed_in(f"{role}_a").get("/")

    assert response.status_code == 200


def test_welcome_card_names_the_user_the_unit_and_the_roles(signed_in: Any, client: Client) -> None:
    user = World.user("team_lead_a")
    RoleAssignment.objects.create(user=user, role=Role.objects.get(code="auditor"))
    client.cookies["django_language"] = "en"

    html = signed_in("team_lead_a").get("/").content.decode()

    assert "Welcome, Team Lead A" in html
    assert 'data-field="org-unit">Sub-branch A1</dd>' in html
    assert _roles(html) == ["Auditor", "Team lead"]
    assert NO_ROLE not in html


def test_role_names_follow_the_language(world: World) -> None:
    """Without a language preference the page is in the default language, zh-Hans."""
    html = sign_in(Client(), World.user("system_admin_a")).get("/").content.decode()

    with translation.override("zh-hans"):
        expected = str(next(role.name for role in BUILTIN_ROLES if role.code == "system_admin"))
    assert _roles(html) == [expected]


def test_user_without_roles_is_told_to_ask(signed_in: Any) -> None:
    html = signed_in("peer_a").get("/").content.decode()

    assert NO_ROLE in html
    assert _roles(html) == []
    assert _quick_links(html) == []


def test_quick_links_repeat_the_menu_without_home(signed_in: Any) -> None:
    html = signed_in("system_admin_a").get("/").content.decode()

    assert _quick_links(html) == [
        "customers:custom-field-list",
        "org:unit-list",
        "org:team-list",
        "users:user-list",
        "users:role-list",
        "users:approval-list",
        "audit:alert-list",
    ]


def test_account_manager_quick_links_are_the_daily_pages(signed_in: Any) -> None:
    html = signed_in("account_manager_a").get("/").content.decode()

    assert _quick_links(html) == [
        "customers:customer-list",
        "customers:customer-create",
        "products:product-list",
        "security:grant-list",
    ]
    assert NO_ROLE not in html


def test_messages_are_shown_once_as_alerts(signed_in: Any, client: Client, stub_urls: None) -> None:
    signed_in("peer_a")

    response = client.get("/test/message/", follow=True)

    html = response.content.decode()
    assert re.findall(
        r'class="alert alert-(\w+) alert-dismissible" role="(\w+)">\s*<div>([^<]+)</div>', html
    ) == [
        ("success", "status", "Saved."),
        ("danger", "alert", "Could not save."),
    ]
    assert "alert-dismissible" not in client.get("/").content.decode()


def test_query_count_is_pinned(signed_in: Any, django_assert_num_queries: Any) -> None:
    """Session, user, session row, the actor's grants and teams (one query), the user's roles."""
    client = signed_in("system_admin_a")
    client.get("/")
    with django_assert_num_queries(5):
        assert client.get("/").status_code == 200

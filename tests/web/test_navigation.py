"""The sidebar and the user menu, per role, read from the real home page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory
from django.urls import reverse, set_script_prefix

from fincrm.platform.actor import Actor, ActorKind, Scope
from fincrm.users.roles import BUILTIN_ROLES
from fincrm.web import navigation
from tests.web.conftest import nav_items, nav_sections, user_links

HOME = ["web:home"]
CUSTOMERS = ["customers:customer-list"]
CREATE = ["customers:customer-create"]
PRODUCTS = ["products:product-list"]
GRANTS = ["security:grant-list"]
ORG = ["org:unit-list", "org:team-list"]

EXPECTED_NAV = {
    "account_manager": [*HOME, *CUSTOMERS, *CREATE, *PRODUCTS, *GRANTS],
    "team_lead": [*HOME, *CUSTOMERS, *PRODUCTS, *GRANTS, *ORG, "users:user-list"],
    "branch_manager": [*HOME, *CUSTOMERS, *PRODUCTS, *GRANTS, *ORG, "users:user-list"],
    "risk_officer": [*HOME, *CUSTOMERS, *PRODUCTS, *ORG, "users:user-list"],
    "compliance_officer": [
        *HOME,
        *CUSTOMERS,
        *PRODUCTS,
        "privacy:purpose-list",
        "privacy:request-list",
        *GRANTS,
        *ORG,
        "users:user-list",
        "users:role-list",
        "audit:event-list",
    ],
    "operations": [
        *HOME,
        *CUSTOMERS,
        *CREATE,
        *PRODUCTS,
        "customers:duplicate-list",
        "customers:tag-list",
        "integration:batch-list",
        *ORG,
    ],
    "marketing": [*HOME, *CUSTOMERS, *PRODUCTS, "customers:tag-list", *ORG],
    "service_agent": [*HOME, *CUSTOMERS, *PRODUCTS, "privacy:request-list", *GRANTS],
    "auditor": [
        *HOME,
        *CUSTOMERS,
        *PRODUCTS,
        *GRANTS,
        *ORG,
        "users:user-list",
        "users:role-list",
        "audit:event-list",
    ],
    "system_admin": [
        *HOME,
        "customers:custom-field-list",
        *ORG,
        "users:user-list",
        "users:role-list",
        "users:approval-list",
        "audit:alert-list",
    ],
}

SECTION_OF = {
    "customers:duplicate-list": "customer_data",
    "customers:tag-list": "customer_data",
    "customers:custom-field-list": "customer_data",
    "integration:batch-list": "customer_data",
    "privacy:purpose-list": "privacy",
    "privacy:request-list": "privacy",
    "security:grant-list": "privacy",
    "audit:event-list": "oversight",
}
MAIN = {*HOME, *CUSTOMERS, *CREATE, *PRODUCTS}


def test_every_builtin_role_has_an_expectation() -> None:
    assert set(EXPECTED_NAV) == {role.code for role in BUILTIN_ROLES}


@pytest.mark.parametrize("role", sorted(EXPECTED_NAV))
def test_sidebar_shows_what_the_role_may_open(role: str, signed_in: Any, stub_urls: None) -> None:
    html = signed_in(f"{role}_a").get("/").content.decode()

    assert nav_items(html) == EXPECTED_NAV[role]
    items = EXPECTED_NAV[role]
    expected_sections = []
    for name in items:
        section = SECTION_OF.get(name, "administration") if name not in MAIN else None
        if section and section not in expected_sections:
            expected_sections.append(section)
    assert nav_sections(html) == expected_sections


def test_account_manager_sees_home_and_no_administration(signed_in: Any, stub_urls: None) -> None:
    html = signed_in("account_manager_a").get("/").content.decode()

    assert nav_items(html) == EXPECTED_NAV["account_manager"]
    assert "Administration" not in html
    assert f'href="{reverse("users:user-list")}"' not in html


def test_user_without_roles_sees_only_home(signed_in: Any, stub_urls: None) -> None:
    html = signed_in("peer_a").get("/").content.decode()

    assert nav_items(html) == ["web:home"]
    assert nav_sections(html) == []


def test_system_admin_labels_in_english(signed_in: Any, stub_urls: None, client: Any) -> None:
    client.cookies["django_language"] = "en"
    html = signed_in("system_admin_a").get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    for label in ("Org units", "Teams", "Users", "Roles", "Approvals", "Security alerts", "Administration"):
        assert f">{label}<" in html, label


def test_home_item_is_highlighted_on_the_home_page(signed_in: Any, stub_urls: None) -> None:
    html = signed_in("system_admin_a").get("/").content.decode()

    assert 'href="/" data-nav="web:home" aria-current="page"' in html
    assert html.count('aria-current="page"') == 1


@pytest.mark.parametrize(
    ("below", "expected"),
    [("org:unit-list", "org:unit-list"), ("org:team-list", "org:team-list")],
)
def test_item_stays_highlighted_on_pages_below_it(
    below: str, expected: str, world: Any, stub_urls: None
) -> None:
    actor = Actor(kind=ActorKind.USER, label="t", user_id=1, grants={"org.view": frozenset({Scope.BRANCH})})
    request = RequestFactory().get(reverse(below) + "7/edit/")

    sections = navigation.build(request, actor)

    active = [link.url_name for section in sections for link in section.links if link.active]
    assert active == [expected]


def test_missing_pages_are_skipped_not_crashing(signed_in: Any) -> None:
    """With the real URLs, only pages that exist are linked (apps land one by one)."""
    response = signed_in("system_admin_a").get("/")

    assert response.status_code == 200
    for url_name in nav_items(response.content.decode()):
        assert navigation.safe_reverse(url_name) is not None


def test_user_menu_offers_api_tokens_only_with_the_permission(
    signed_in: Any, stub_urls: None, client: Any
) -> None:
    html = signed_in("operations_a").get("/").content.decode()
    assert user_links(html) == ["users:account", "users:session-list", "users:mfa-setup", "users:token-list"]

    client.logout()
    html = signed_in("account_manager_a").get("/").content.decode()
    assert user_links(html) == ["users:account", "users:session-list", "users:mfa-setup"]


def test_user_menu_shows_name_org_unit_and_a_sign_out_form(signed_in: Any, stub_urls: None) -> None:
    html = signed_in("team_lead_a").get("/").content.decode()

    assert "Team Lead A" in html
    assert "Sub-branch A1" in html
    assert f'<form method="post" action="{reverse("users:sign-out")}">' in html


def test_safe_reverse_follows_the_script_prefix_and_the_url_configuration(settings: Any) -> None:
    """The shell's URLs are remembered per URL configuration and script prefix."""
    assert navigation.safe_reverse("web:home") == "/"
    set_script_prefix("/crm/")
    try:
        assert navigation.safe_reverse("web:home") == "/crm/"
    finally:
        set_script_prefix("/")
    settings.ROOT_URLCONF = "tests.platform.test_api_errors"  # no pages at all
    assert navigation.safe_reverse("web:home") is None
    settings.ROOT_URLCONF = "fincrm.urls"
    assert navigation.safe_reverse("web:home") == "/"

"""The search page, the top bar's box and POST /api/v1/customers/search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from fincrm.audit.models import AuditEvent
from tests.support.auth import sign_in
from tests.support.authz import Case, check, matrix
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]

pytestmark = pytest.mark.django_db

URL = "/customers/search/"
API = "/api/v1/customers/search"


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def manager_a(world: World, client: Client) -> Client:
    return sign_in(client, World.user("account_manager_a"))


CASES = [
    Case("search page", "get", URL, "customer.view"),
    Case("search by name", "post", URL, "customer.view", data={"q": "张三"}),
    Case("search by mobile", "post", URL, "customer.view", data={"q": "+86 138-0013-8000"}),
    Case("api search", "post", API, "customer.view", api=True, data={"q": "zs"}),
    Case("api search by id", "post", API, "customer.view", api=True, data={"q": "11010519491231002x"}),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)


def test_results_are_masked_and_link_to_the_customer(world: World, manager_a: Client) -> None:
    response = manager_a.post(URL, {"q": "zs"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "张*" in body
    assert "张三" not in body
    assert "138****8000" in body
    assert "13800138000" not in body
    assert f'href="/customers/{world.customer_a}/"' in body
    assert "no-store" in response["Cache-Control"]


def test_a_get_never_searches(world: World, manager_a: Client) -> None:
    before = AuditEvent.objects.filter(action="customer.searched").count()
    response = manager_a.get(URL, {"q": "13800138000"})
    assert response.status_code == 200
    assert 'data-customer="' not in response.content.decode()
    assert AuditEvent.objects.filter(action="customer.searched").count() == before


def test_identifier_search_by_post_is_audited_with_the_kind(world: World, manager_a: Client) -> None:
    response = manager_a.post(URL, {"q": "11010519491231002x"})
    assert f'data-customer="{world.customer_a}"' in response.content.decode()
    event = AuditEvent.objects.filter(action="customer.searched").latest("pk")
    assert event.after == {"kinds": ["id_number"], "found": 1}
    assert "1949" not in str(event.after) + event.object_id + event.reason


def test_out_of_scope_customer_is_not_listed(world: World, client: Client) -> None:
    sign_in(client, World.user("account_manager_b"))
    for typed in ("张三", "zs", "+86 138-0013-8000", "11010519491231002X", "W-A"):
        body = client.post(URL, {"q": typed}).content.decode()
        assert f'data-customer="{world.customer_a}"' not in body
        assert "No customer you may see matches this search." in body


def test_bad_input_is_shown_on_the_field(world: World, manager_a: Client) -> None:
    response = manager_a.post(URL, {"q": "?!"})
    assert response.status_code == 200
    assert "Type a name, pinyin, mobile, ID or account number." in response.content.decode()


def test_live_results_cover_names_only(world: World, manager_a: Client) -> None:
    live = manager_a.post(URL, {"q": "张", "live": "1"}, HTTP_HX_REQUEST="true")
    assert f'data-customer="{world.customer_a}"' in live.content.decode()
    assert "<html" not in live.content.decode()
    before = AuditEvent.objects.filter(action="customer.searched").count()
    typed = manager_a.post(URL, {"q": "1380013", "live": "1"}, HTTP_HX_REQUEST="true")
    assert "Press Enter to look up this number." in typed.content.decode()
    assert AuditEvent.objects.filter(action="customer.searched").count() == before


def test_top_bar_box_for_those_who_may_view_customers(world: World, client: Client) -> None:
    sign_in(client, World.user("account_manager_a"))
    assert 'data-testid="topbar-search"' in client.get("/").content.decode()
    other = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in(other, World.user("system_admin_a"))
    assert 'data-testid="topbar-search"' not in other.get("/").content.decode()


def test_api_answers_masked_results(world: World, manager_a: Client) -> None:
    response = manager_a.post(API, {"q": "+86 138-0013-8000"}, content_type="application/json")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "kinds": ["mobile", "customer_number"],
        "results": [
            {
                "id": world.customer_a,
                "customer_number": "W-A",
                "name": "张*",
                "mobile": "138****8000",
                "id_number": "110***********002X",
                "org_unit": "Sub-branch A1",
                "value_tier": "Mass",
            }
        ],
        "more": False,
    }


def test_api_refuses_bad_input_naming_the_field(world: World, manager_a: Client) -> None:
    response = manager_a.post(API, {"q": ""}, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["q"]


def test_api_search_is_post_only(world: World, manager_a: Client) -> None:
    assert manager_a.get(API, {"q": "13800138000"}).status_code == 405

"""Keyset pagination: every row exactly once, in order, whatever the page size; cursors are tamper-proof."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fincrm.customers.models import Customer
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.pagination import DEFAULT_LIMIT, InvalidCursor, decode_cursor, encode_cursor, keyset_page
from fincrm.users.models import ApiToken, User
from fincrm.users.services.tokens import api_token_create
from tests.support.world import World

pytestmark = pytest.mark.django_db

ORDERINGS = [("id",), ("-id",), ("org_unit_id", "id"), ("-org_unit_id", "username"), ("full_name", "-id")]


def walk(queryset: Any, ordering: tuple[str, ...], limit: int) -> list[list[int]]:
    pages: list[list[int]] = []
    cursor = None
    while True:
        page = keyset_page(queryset, limit=limit, cursor=cursor, ordering=ordering)
        pages.append([row.pk for row in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(min_value=1, max_value=30), ordering=st.sampled_from(ORDERINGS))
def test_walk_visits_every_row_once_in_order(world: World, limit: int, ordering: tuple[str, ...]) -> None:
    users = User.objects.all()
    expected = list(users.order_by(*ordering).values_list("pk", flat=True))
    pages = walk(users, ordering, limit)
    assert [pk for page in pages for pk in page] == expected
    assert all(len(page) == limit for page in pages[:-1])
    assert 0 < len(pages[-1]) <= limit or expected == []
    assert len(pages) == max(1, -(-len(expected) // limit))


def test_rows_removed_between_pages_neither_skip_nor_repeat(world: World) -> None:
    users = User.objects.all()
    first = keyset_page(users, limit=5, cursor=None)
    seen = [row.pk for row in first.items]
    # Removing a row already shown shifts nothing: later pages start after the cursor's key.
    Customer.objects.all().delete()  # the world's customers name their managers
    User.objects.filter(pk=seen[0]).delete()
    rest = walk_from(users, first.next_cursor)
    assert len(set(seen) & set(rest)) == 0
    assert sorted(seen[1:] + rest) == sorted(User.objects.values_list("pk", flat=True))


def walk_from(queryset: Any, cursor: str | None) -> list[int]:
    rows: list[int] = []
    while cursor:
        page = keyset_page(queryset, limit=4, cursor=cursor)
        rows += [row.pk for row in page.items]
        cursor = page.next_cursor
    return rows


def test_default_and_maximum_limits(world: World, settings: Any) -> None:
    assert len(keyset_page(User.objects.all(), limit=None, cursor=None).items) == min(
        DEFAULT_LIMIT, User.objects.count()
    )
    settings.FINCRM_API_PAGE_SIZE_MAX = 10
    with pytest.raises(ServiceError) as raised:
        keyset_page(User.objects.all(), limit=11, cursor=None)
    assert raised.value.status == 422
    assert list(raised.value.fields) == ["limit"]
    assert len(keyset_page(User.objects.all(), limit=10, cursor=None).items) == 10


@pytest.mark.parametrize("position", [0, 10, 25, -3])
def test_a_tampered_cursor_is_refused(world: World, position: int) -> None:
    page = keyset_page(User.objects.all(), limit=3, cursor=None)
    assert page.next_cursor is not None
    cursor = page.next_cursor
    flipped = "A" if cursor[position] != "A" else "B"
    tampered = cursor[:position] + flipped + cursor[position:][1:]
    with pytest.raises(InvalidCursor) as raised:
        keyset_page(User.objects.all(), limit=3, cursor=tampered)
    assert raised.value.status == 400
    assert list(raised.value.fields) == ["cursor"]


def test_a_forged_unsigned_cursor_is_refused(world: World) -> None:
    forged = base64.urlsafe_b64encode(b'{"o":["id"],"v":[0]}').decode().rstrip("=")
    with pytest.raises(InvalidCursor):
        keyset_page(User.objects.all(), limit=3, cursor=forged)


def test_a_cursor_from_another_ordering_is_refused(world: World) -> None:
    cursor = encode_cursor(("-id",), [5])
    assert decode_cursor(("-id",), cursor) == [5]
    with pytest.raises(InvalidCursor):
        decode_cursor(("id",), cursor)


def test_datetime_ordering_round_trips(world: World) -> None:
    owner = World.user("operations_a")
    moment = timezone.now()
    for index in range(7):
        ApiToken.objects.create(
            owner=owner,
            name=f"t{index}",
            prefix=f"p{index:07d}",
            key_hash="0" * 64,
            scopes=[],
            created_by="test",
            expires_at=moment + timedelta(days=index % 3),
        )
    tokens = ApiToken.objects.all()
    ordering = ("expires_at", "id")
    expected = list(tokens.order_by(*ordering).values_list("pk", flat=True))
    assert [pk for page in walk(tokens, ordering, 2) for pk in page] == expected


# Through the API: GET /api/v1/tokens uses @paginate(CursorPagination, ordering=("-id",)).


@pytest.fixture
def bearer(world: World) -> dict[str, str]:
    cache.clear()
    owner = World.user("operations_a")
    _token, plaintext = api_token_create(actor=Actor.cli(), owner_id=owner.pk, name="pager")
    for index in range(11):
        api_token_create(actor=Actor.cli(), owner_id=owner.pk, name=f"extra {index}", expires_days=1)
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def test_api_walk_returns_every_token_once_newest_first(client: Client, bearer: dict[str, str]) -> None:
    expected = list(
        ApiToken.objects.filter(owner__username="operations_a").order_by("-id").values_list("pk", flat=True)
    )
    assert len(expected) == 12
    seen: list[int] = []
    url = "/api/v1/tokens?limit=5"
    pages = 0
    while True:
        data = client.get(url, **bearer).json()
        assert set(data) == {"items", "next_cursor"}
        seen += [item["id"] for item in data["items"]]
        pages += 1
        if data["next_cursor"] is None:
            break
        url = f"/api/v1/tokens?limit=5&cursor={data['next_cursor']}"
    assert seen == expected
    assert pages == 3


def test_api_tampered_cursor_answers_400_naming_cursor(client: Client, bearer: dict[str, str]) -> None:
    cursor = client.get("/api/v1/tokens?limit=2", **bearer).json()["next_cursor"]
    response = client.get(f"/api/v1/tokens?limit=2&cursor={cursor[:-2]}xy", **bearer)
    assert response.status_code == 400
    data = response.json()
    assert data["code"] == "invalid_cursor"
    assert list(data["fields"]) == ["cursor"]
    assert data["request_id"] == response["X-Request-ID"]


def test_api_limit_out_of_range_answers_422(client: Client, bearer: dict[str, str], settings: Any) -> None:
    settings.FINCRM_API_PAGE_SIZE_MAX = 20
    for limit in (0, 21):
        response = client.get(f"/api/v1/tokens?limit={limit}", **bearer)
        assert response.status_code == 422, limit
        assert response.json()["fields"] == {"limit": ["Choose a page size from 1 to 20."]}

"""The per-token (per-user for sessions) rate limit: a fixed window per minute in the cache."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from fincrm.platform import ratelimit
from fincrm.platform.actor import Actor
from fincrm.users.services.tokens import api_token_create
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters() -> None:
    cache.clear()


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The rate limiter's clock, moved by the test (no sleeping)."""
    now = [1_699_999_990.0]  # 10 s into a minute window (1_699_999_980 is a multiple of 60)
    monkeypatch.setattr(ratelimit, "_clock", lambda: now[0])
    return now


def test_hit_allows_the_limit_then_refuses_until_the_window_ends() -> None:
    start = 6_000.0  # a window boundary
    assert [ratelimit.hit("k", 3, 60, now=start + 1)[0] for _ in range(3)] == [True, True, True]
    assert ratelimit.hit("k", 3, 60, now=start + 15.5) == (False, 45)
    assert ratelimit.hit("k", 3, 60, now=start + 59.9) == (False, 1)
    assert ratelimit.hit("k", 3, 60, now=start + 60) == (True, 0)


def test_keys_count_apart() -> None:
    assert ratelimit.hit("a", 1, 60, now=0)[0] is True
    assert ratelimit.hit("b", 1, 60, now=0)[0] is True
    assert ratelimit.hit("a", 1, 60, now=1)[0] is False


def test_enforce_raises_with_retry_after() -> None:
    ratelimit.enforce("e", 1, 60, now=30)
    with pytest.raises(ratelimit.RateLimited) as raised:
        ratelimit.enforce("e", 1, 60, now=30)
    assert raised.value.retry_after == 30


def test_token_over_the_limit_gets_429(
    client: Client, world: World, settings: Any, frozen_clock: list[float]
) -> None:
    settings.FINCRM_API_RATE_LIMIT_PER_MINUTE = 3
    owner = World.user("operations_a")
    _token, plaintext = api_token_create(actor=Actor.cli(), owner_id=owner.pk, name="busy")
    _other, other_plaintext = api_token_create(actor=Actor.cli(), owner_id=owner.pk, name="quiet")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    assert [client.get("/api/v1/me", **auth).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/v1/me", **auth)
    assert response.status_code == 429
    assert response["Retry-After"] == "50"
    data = response.json()
    assert set(data) == {"code", "message", "fields", "request_id"}
    assert data["code"] == "rate_limited"
    assert data["fields"] == {}
    # Another token of the same owner counts apart.
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {other_plaintext}").status_code == 200
    # The next minute starts afresh.
    frozen_clock[0] += 50
    assert client.get("/api/v1/me", **auth).status_code == 200


def test_session_calls_count_per_user(
    client: Client, world: World, settings: Any, frozen_clock: list[float]
) -> None:
    settings.FINCRM_API_RATE_LIMIT_PER_MINUTE = 2
    sign_in(client, World.user("auditor_a"))
    assert [client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
    other = Client()
    sign_in(other, World.user("auditor_b"))
    assert other.get("/api/v1/me").status_code == 200

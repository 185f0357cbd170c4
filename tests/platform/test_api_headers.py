"""The headers every API response carries, header by header: a token, a session, an error."""

from __future__ import annotations

from typing import Any

import pytest
from csp.constants import HEADER
from django.core.cache import cache
from django.test import Client

from fincrm.platform.actor import Actor
from fincrm.users.services.tokens import api_token_create
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "style-src-elem 'self'",
    "object-src 'none'",
    "font-src 'self' data:",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)


@pytest.fixture(autouse=True)
def fresh_counters() -> None:
    cache.clear()


def _headers(response: Any) -> dict[str, str]:
    headers = dict(response.headers)
    # The request id is new on every call; the policy's directive order is django-csp's own.
    assert len(headers.pop("X-Request-ID")) == 32
    assert sorted(headers.pop(HEADER).split("; ")) == sorted(POLICY)
    return headers


def _expected(response: Any, language: str, **more: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": str(len(response.content)),
        "Vary": "Accept-Language, Cookie",
        "Content-Language": language,
        **more,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def test_every_api_response_carries_the_same_headers_for_a_token(client: Client, world: World) -> None:
    _token, plaintext = api_token_create(
        actor=Actor.cli(), owner_id=World.user("system_admin_a").pk, name="sync", scopes=None
    )
    response = client.get(
        "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert response.status_code == 200
    assert _headers(response) == _expected(response, "zh-hans")


def test_every_api_response_carries_the_same_headers_for_a_session(client: Client, world: World) -> None:
    sign_in(client, World.user("branch_manager_a"))
    response = client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert _headers(response) == _expected(response, "en")


def test_an_api_error_carries_them_too(client: Client, world: World) -> None:
    response = client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 401
    assert _headers(response) == _expected(
        response, "zh-hans", **{"WWW-Authenticate": 'Bearer realm="fincrm"'}
    )

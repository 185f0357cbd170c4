"""Error pages: in the shell when signed in, plain when not, always with the request id."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from fincrm.audit.models import SecurityEvent
from fincrm.web.context_processors import Shell
from tests.support.english import client, english  # the assertions quote English messages
from tests.support.world import World
from tests.web.conftest import nav_items

REQUEST_ID = "req-test-000123"

__all__ = ["client", "english"]


def _reference(html: str) -> str:
    match = re.search(r"Reference: ([A-Za-z0-9._-]+)", html)
    assert match is not None, html
    return match.group(1)


def test_404_signed_in_is_in_the_shell_with_the_reference(signed_in: Any) -> None:
    response = signed_in("system_admin_a").get("/no-such-page/", HTTP_X_REQUEST_ID=REQUEST_ID)

    html = response.content.decode()
    assert response.status_code == 404
    assert _reference(html) == REQUEST_ID == response["X-Request-ID"]
    assert "web:home" in nav_items(html)
    assert "Page not found" in html


def test_404_anonymous_is_plain(client: Client, world: World) -> None:
    response = client.get("/no-such-page/")

    html = response.content.decode()
    assert response.status_code == 404
    assert _reference(html) == response["X-Request-ID"]
    assert nav_items(html) == []
    assert "navbar-vertical" not in html


def test_generated_request_id_is_the_reference(signed_in: Any) -> None:
    response = signed_in("peer_a").get("/no-such-page/")

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert _reference(response.content.decode()) == response["X-Request-ID"]


def test_forbidden_raised_in_a_page_is_the_403_page(signed_in: Any, stub_urls: None) -> None:
    response = signed_in("peer_a").get("/test/refuse/", HTTP_X_REQUEST_ID=REQUEST_ID)

    html = response.content.decode()
    assert response.status_code == 403
    assert "Access denied" in html
    assert _reference(html) == REQUEST_ID
    assert "web:home" in nav_items(html)


def test_permission_required_page_refuses_and_records_the_denial(signed_in: Any, stub_urls: None) -> None:
    client = signed_in("peer_a")
    peer = World.user("peer_a")
    before = SecurityEvent.objects.filter(kind="access.denied", user_id=peer.pk).count()

    response = client.get("/test/manage-users/")

    assert response.status_code == 403
    assert "Access denied" in response.content.decode()
    events = SecurityEvent.objects.filter(kind="access.denied", user_id=peer.pk)
    assert events.count() == before + 1
    assert events.first().detail["action"] == "user.manage"  # type: ignore[union-attr]


def test_permission_required_page_lets_holders_in(signed_in: Any, stub_urls: None) -> None:
    response = signed_in("system_admin_a").get("/test/manage-users/")

    assert response.status_code == 200
    assert response.content == b"managed"


def test_permission_required_page_sends_anonymous_to_sign_in(
    client: Client, world: World, stub_urls: None
) -> None:
    response = client.get("/test/manage-users/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('users:sign-in')}?next=/test/manage-users/"


def test_400_page(signed_in: Any, stub_urls: None) -> None:
    response = signed_in("peer_a").get("/test/suspicious/", HTTP_X_REQUEST_ID=REQUEST_ID)

    assert response.status_code == 400
    assert _reference(response.content.decode()) == REQUEST_ID


def test_500_signed_in_is_in_the_shell(signed_in: Any, stub_urls: None, client: Client) -> None:
    client.raise_request_exception = False
    response = signed_in("peer_a").get("/test/boom/", HTTP_X_REQUEST_ID=REQUEST_ID)

    html = response.content.decode()
    assert response.status_code == 500
    assert _reference(html) == REQUEST_ID
    assert "Server error" in html
    assert "web:home" in nav_items(html)


def test_500_falls_back_to_the_minimal_page_when_the_shell_fails(
    signed_in: Any, stub_urls: None, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Shell) -> bool:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(Shell, "signed_in", property(broken))
    client.raise_request_exception = False
    response = signed_in("peer_a").get("/test/boom/", HTTP_X_REQUEST_ID=REQUEST_ID)

    html = response.content.decode()
    assert response.status_code == 500
    assert _reference(html) == REQUEST_ID
    assert "Server error" in html
    assert "<script" not in html


def test_400_before_authentication_ran_is_plain(client: Client, world: World) -> None:
    """A forged Host header fails before the session and the user are loaded."""
    response = client.get("/", HTTP_HOST="evil.example", HTTP_X_REQUEST_ID=REQUEST_ID)

    html = response.content.decode()
    assert response.status_code == 400
    assert _reference(html) == REQUEST_ID
    assert "navbar-vertical" not in html

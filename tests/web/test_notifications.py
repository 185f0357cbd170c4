"""The bell: the partial the page polls, its providers, and that polling is not activity."""

from __future__ import annotations

import re
import sys
import time
import types
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fincrm.audit.models import SecurityEvent
from fincrm.users.models import AccessChangeRequest, MfaDevice, Role, User
from fincrm.users.sessions import SESSION_LAST_ACTIVITY
from fincrm.web import notifications
from tests.support.english import client, english  # the assertions quote English messages
from tests.support.world import World

URL = "/notifications/"

__all__ = ["client", "english"]


def _badge(html: str) -> int | None:
    match = re.search(r'data-count="(\d+)"', html)
    return int(match.group(1)) if match else None


def _entries(html: str) -> list[str]:
    return re.findall(r'data-notification="([^"]+)"', html)


def _enrol(username: str) -> None:
    user = User.objects.get(username=username)
    MfaDevice.objects.create(user=user, secret="JBSWY3DPEHPK3PXP", confirmed_at=timezone.now())


@pytest.fixture
def fake_counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Replace the two count selectors by fakes (their own tests live with their apps)."""
    counts = {"alerts": 3, "approvals": 2}
    real = notifications.optional_function

    def fake(module: str, name: str) -> Any:
        if name == "security_alert_count":
            return lambda *, actor: counts["alerts"]
        if name == "pending_approval_count":
            return lambda *, actor: counts["approvals"]
        return real(module, name)

    monkeypatch.setattr(notifications, "optional_function", fake)
    return counts


def test_the_url_name_is_web_notifications() -> None:
    assert reverse("web:notifications") == URL


def test_user_without_mfa_sees_one_reminder_linking_to_setup(signed_in: Any) -> None:
    html = signed_in("peer_a").get(URL).content.decode()

    assert _badge(html) == 1
    assert _entries(html) == ["mfa_not_enrolled"]
    assert f'href="{reverse("users:mfa-setup")}"' in html
    assert "Two-factor sign-in is not set up" in html


def test_enrolled_user_without_duties_has_nothing(signed_in: Any) -> None:
    _enrol("peer_a")

    html = signed_in("peer_a").get(URL).content.decode()

    assert _badge(html) is None
    assert _entries(html) == []
    assert "Nothing needs your attention." in html


def test_system_admin_sees_alerts_and_approvals_with_links(
    signed_in: Any, fake_counts: dict[str, int]
) -> None:
    html = signed_in("system_admin_a").get(URL).content.decode()

    assert _badge(html) == 3 + 2 + 1
    assert _entries(html) == ["security_alerts", "pending_approvals", "mfa_not_enrolled"]
    assert "3 unacknowledged security alerts" in html
    assert "2 access changes waiting for approval" in html
    assert f'href="{reverse("audit:alert-list")}"' in html
    assert f'href="{reverse("users:approval-list")}"' in html


def test_zero_counts_are_not_listed(signed_in: Any, fake_counts: dict[str, int]) -> None:
    fake_counts.update(alerts=0, approvals=1)
    _enrol("system_admin_a")

    html = signed_in("system_admin_a").get(URL).content.decode()

    assert _badge(html) == 1
    assert _entries(html) == ["pending_approvals"]
    assert "1 access change waiting for approval" in html


def test_providers_check_the_permission_first(signed_in: Any, fake_counts: dict[str, int]) -> None:
    _enrol("account_manager_a")

    html = signed_in("account_manager_a").get(URL).content.decode()

    assert _badge(html) is None
    assert _entries(html) == []


def test_real_selectors_count_unacknowledged_alerts_and_pending_approvals(signed_in: Any) -> None:
    _enrol("system_admin_a")
    now = timezone.now()
    for acknowledged_at in (None, None, now):
        SecurityEvent.objects.create(
            occurred_at=now,
            kind="sign_in.new_address",
            severity=SecurityEvent.Severity.ALERT,
            actor_label="user:peer_a",
            user_id=World.user("peer_a").pk,
            acknowledged_at=acknowledged_at,
        )
    AccessChangeRequest.objects.create(
        kind=AccessChangeRequest.Kind.ASSIGNMENT,
        role=Role.objects.get(code="account_manager"),
        target_user=World.user("peer_a"),
        requested_by=World.user("system_admin_b"),
    )

    html = signed_in("system_admin_a").get(URL).content.decode()

    assert _badge(html) == 3
    assert "2 unacknowledged security alerts" in html
    assert "1 access change waiting for approval" in html


def test_a_provider_whose_selector_is_missing_reports_nothing(
    signed_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = types.ModuleType("fincrm.audit.selectors")
    monkeypatch.setitem(sys.modules, "fincrm.audit.selectors", empty)
    _enrol("system_admin_a")

    response = signed_in("system_admin_a").get(URL)

    assert response.status_code == 200
    assert "security_alerts" not in _entries(response.content.decode())


def test_partial_replaces_every_bell_out_of_band(signed_in: Any) -> None:
    response = signed_in("peer_a").get(URL)

    html = response.content.decode()
    assert html.strip().startswith('<div hx-swap-oob="innerHTML:.fincrm-notifications">')
    assert "<html" not in html
    assert "no-store" in response["Cache-Control"]


def test_page_polls_the_partial_as_background_every_minute(signed_in: Any) -> None:
    html = signed_in("peer_a").get("/").content.decode()

    poller = re.search(r'<div id="fincrm-notifications-poll"[^>]*>', html)
    assert poller is not None
    tag = poller.group(0)
    assert f'hx-get="{URL}"' in tag
    assert 'hx-trigger="load, every 60s"' in tag
    assert """hx-headers='{"X-Fincrm-Background": "1"}'""" in tag
    assert html.count('class="nav-item dropdown d-flex me-3 fincrm-notifications"') == 2


def test_background_poll_does_not_count_as_activity(signed_in: Any, client: Client) -> None:
    signed_in("peer_a")
    session = client.session
    two_minutes_ago = int(time.time()) - 120
    session[SESSION_LAST_ACTIVITY] = two_minutes_ago
    session.save()

    response = client.get(URL, HTTP_HX_REQUEST="true", HTTP_X_FINCRM_BACKGROUND="1")

    assert response.status_code == 200
    assert client.session[SESSION_LAST_ACTIVITY] == two_minutes_ago

    client.get(URL, HTTP_HX_REQUEST="true")
    assert client.session[SESSION_LAST_ACTIVITY] > two_minutes_ago


def test_anonymous_is_sent_to_sign_in(client: Client, world: World) -> None:
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('users:sign-in')}?next={URL}"


def test_anonymous_poll_moves_the_whole_page_to_sign_in(client: Client, world: World) -> None:
    response = client.get(URL, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/admin/users/")

    assert response.status_code == 401
    assert response["HX-Redirect"] == f"{reverse('users:sign-in')}?next=/admin/users/"


def test_only_get(signed_in: Any) -> None:
    assert signed_in("peer_a").post(URL).status_code == 405


def test_query_count_is_pinned(signed_in: Any, django_assert_num_queries: Any) -> None:
    """Session, user, session row, the actor's grants and teams (one query), then one count per
    provider."""
    client = signed_in("system_admin_a")
    client.get(URL)
    with django_assert_num_queries(7):
        assert client.get(URL).status_code == 200

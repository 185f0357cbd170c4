"""The security alerts page: who sees it, what it lists first, acknowledging."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.audit.selectors import security_alert_count, security_alert_list
from fincrm.platform.actor import Scope
from fincrm.users.actors import actor_for_user
from fincrm.users.models import User
from tests.support.auth import sign_in
from tests.support.authz import Case, check, matrix
from tests.support.world import World

pytestmark = pytest.mark.django_db


def make_alert(
    kind: str = "auth.new_ip", user: User | None = None, minutes_ago: int = 0, **extra: object
) -> int:
    event = SecurityEvent.objects.create(
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
        kind=kind,
        severity="alert",
        actor_label="user:peer_a",
        user_id=user.pk if user else None,
        client_ip="10.0.0.9",
        detail={"ip": "10.0.0.9"},
        **extra,
    )
    return event.pk


def alert_target(world: World, actor: User, variant: str) -> int:
    return make_alert(user=World.user("peer_a"))


CASES = [
    Case("alert list", "get", "/security/alerts/", "security.alert.view"),
    Case(
        "alert acknowledge",
        "post",
        "/security/alerts/{pk}/acknowledge/",
        "security.alert.view",
        target=alert_target,
        ok=(302,),
    ),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)


def test_unacknowledged_alerts_come_first(world: World) -> None:
    peer = World.user("peer_a")
    old_open = make_alert("auth.off_hours", peer, minutes_ago=60)
    new_done = make_alert("auth.new_ip", peer, minutes_ago=1, acknowledged_at=timezone.now())
    new_open = make_alert("auth.lockout", peer, minutes_ago=5)
    SecurityEvent.objects.create(
        occurred_at=timezone.now(), kind="auth.failed", severity="warning", actor_label="anonymous"
    )
    actor = actor_for_user(World.user("system_admin_a"))
    alerts = list(security_alert_list(actor=actor))
    assert [alert.pk for alert in alerts] == [new_open, old_open, new_done]
    assert getattr(alerts[0], "username") == "peer_a"  # noqa: B009 (an annotation)
    assert security_alert_count(actor=actor) == 2
    assert security_alert_count(actor=actor_for_user(World.user("auditor_a"))) == 0


def test_page_lists_alerts_and_acknowledging_is_audited(world: World) -> None:
    peer = World.user("peer_a")
    alert_id = make_alert("auth.new_ip", peer)
    admin = World.user("system_admin_a")
    client = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), admin)
    page = client.get("/security/alerts/").content.decode()
    assert "Sign-in from a new address" in page
    assert "peer_a" in page
    assert "10.0.0.9" in page
    assert f"/security/alerts/{alert_id}/acknowledge/" in page
    response = client.post(f"/security/alerts/{alert_id}/acknowledge/")
    assert response.status_code == 302
    assert response["Location"] == "/security/alerts/"
    alert = SecurityEvent.objects.get(pk=alert_id)
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by_id == admin.pk
    event = AuditEvent.objects.get(action="security.alert.acknowledged")
    assert (event.object_id, event.actor_user_id) == (str(alert_id), admin.pk)
    assert security_alert_count(actor=actor_for_user(admin)) == 0
    assert f"/security/alerts/{alert_id}/acknowledge/" not in client.get("/security/alerts/").content.decode()


def test_non_alert_events_cannot_be_acknowledged(world: World) -> None:
    warning = SecurityEvent.objects.create(
        occurred_at=timezone.now(), kind="auth.failed", severity="warning", actor_label="anonymous"
    )
    client = sign_in(Client(), World.user("system_admin_a"))
    assert client.post(f"/security/alerts/{warning.pk}/acknowledge/").status_code == 404
    assert SecurityEvent.objects.get(pk=warning.pk).acknowledged_at is None


def test_narrower_scope_sees_alerts_about_reachable_users_only(world: World) -> None:
    actor = actor_for_user(World.user("peer_a"))
    object.__setattr__(actor, "grants", {"security.alert.view": frozenset({Scope.BRANCH})})
    mine = make_alert(user=World.user("account_manager_a"))
    make_alert(user=World.user("account_manager_b"))
    make_alert(user=None)
    assert [alert.pk for alert in security_alert_list(actor=actor)] == [mine]


def test_real_sign_in_from_a_new_address_shows_up(world: World) -> None:
    for address in ("10.0.0.1", "10.0.0.2"):
        Client(REMOTE_ADDR=address).post(
            "/signin/", {"username": "peer_a", "password": "Correct-Horse-Battery-9"}
        )
    actor = actor_for_user(World.user("system_admin_a"))
    kinds = [alert.kind for alert in security_alert_list(actor=actor)]
    assert "auth.new_ip" in kinds

"""Security events about refused actions outlive the refused action's transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from fincrm.audit.models import SecurityEvent
from fincrm.platform import context
from fincrm.platform.access import access_object
from fincrm.platform.errors import NotFound
from fincrm.users.actors import actor_for_user
from fincrm.users.models import User
from tests.support.world import World

pytestmark = pytest.mark.django_db


def test_a_denial_inside_a_rolled_back_transaction_is_still_recorded(world: World) -> None:
    actor = actor_for_user(World.user("account_manager_a"))
    target = World.user("peer_b").pk
    with context.operation(user_agent="fincrm test") as operation:
        with pytest.raises(NotFound), transaction.atomic():
            access_object(
                User.objects.visible_to(actor, "user.view"),
                target,
                actor=actor,
                action="user.view",
                object_type="user",
            )
        assert not SecurityEvent.objects.filter(kind="access.denied").exists()  # not yet: deferred
    event = SecurityEvent.objects.get(kind="access.denied", user_id=actor.user_id)
    assert event.detail == {"action": "user.view", "object_type": "user", "object_id": str(target)}
    assert event.request_id == operation.request_id
    assert event.actor_label == "user:account_manager_a"


def test_a_request_gets_an_id_echoed_in_the_response(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/signin/", HTTP_X_REQUEST_ID="trace-12345678")
    assert response["X-Request-ID"] == "trace-12345678"
    response = client.get("/signin/", HTTP_X_REQUEST_ID="bad id with spaces")
    assert len(response["X-Request-ID"]) == 32

"""The session engine answers exactly as Django's database sessions: the live session's data, and
nothing (a fresh, keyless session) for a missing or expired one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from fincrm.users.session_store import SessionStore
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db


def _stored(data: dict[str, object]) -> str:
    store = db.SessionStore()
    store.update(data)
    store.create()
    return str(store.session_key)


def test_a_live_session_loads_as_djangos_does() -> None:
    key = _stored({"answer": 42, "name": "张三"})

    ours, django = SessionStore(key), db.SessionStore(key)

    assert ours.load() == django.load() == {"answer": 42, "name": "张三"}
    assert ours.session_key == django.session_key == key


@pytest.mark.parametrize("state", ["expired", "missing"])
def test_an_expired_or_missing_session_loads_empty_and_forgets_its_key(state: str) -> None:
    key = _stored({"answer": 42})
    if state == "expired":
        Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    else:
        Session.objects.filter(session_key=key).delete()

    ours, django = SessionStore(key), db.SessionStore(key)

    assert ours.load() == django.load() == {}
    assert ours.session_key is django.session_key is None


def test_a_signed_in_browser_whose_session_expired_is_signed_out(world: World, client: Client) -> None:
    sign_in(client, World.user("account_manager_a"))
    assert client.get(f"/api/v1/customers/{world.customer_a}/360").status_code == 200

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    assert client.get(f"/api/v1/customers/{world.customer_a}/360").status_code == 401

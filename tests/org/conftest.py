from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.utils import translation

from fincrm.platform.actor import Actor
from fincrm.users.actors import actor_for_user
from tests.support.world import World


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Assertions quote the English messages, whatever the default language's catalogue says."""
    with translation.override("en"):
        yield


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def actor_of(username: str) -> Actor:
    return actor_for_user(World.user(username))


@pytest.fixture
def admin(world: World) -> Actor:
    """The system administrator: org.manage over the whole institution."""
    return actor_of("system_admin_a")

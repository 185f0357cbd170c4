from __future__ import annotations

import pytest

from fincrm.platform.actor import Actor
from fincrm.users.actors import actor_for_user
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]


def actor_of(username: str) -> Actor:
    return actor_for_user(World.user(username))


@pytest.fixture
def admin(world: World) -> Actor:
    """The system administrator: org.manage over the whole institution."""
    return actor_of("system_admin_a")

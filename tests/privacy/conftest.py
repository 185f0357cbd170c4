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
def manager(world: World) -> Actor:
    """account_manager_a: manages world.customer_a, may record its consents."""
    return actor_of("account_manager_a")


@pytest.fixture
def compliance(world: World) -> Actor:
    """compliance_officer_a: purposes and data-subject requests, institution-wide."""
    return actor_of("compliance_officer_a")

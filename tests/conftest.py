from __future__ import annotations

from typing import Any

import pytest

from tests.support.world import World, build_world, load_world


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> None:
    """Build the authorization world once per run (per xdist worker)."""
    with django_db_blocker.unblock():
        build_world()


@pytest.fixture
def world(db: None) -> World:
    return load_world()

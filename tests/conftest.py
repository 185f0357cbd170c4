from __future__ import annotations

from typing import Any

import pytest

from fincrm.org.models import OrgUnit
from fincrm.security.keyring import keyring
from tests.support.world import World, build_world, load_world


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> None:
    """Build the authorization world once per run (per xdist worker)."""
    with django_db_blocker.unblock():
        build_world()


@pytest.fixture
def world_after_flush(django_db_blocker: Any) -> Any:
    """For committing tests; request it first: after the test's flush, build the session's world
    again for the tests that follow on this worker."""
    yield
    with django_db_blocker.unblock():
        if not OrgUnit.objects.exists():
            build_world()


@pytest.fixture
def world(db: None) -> World:
    return load_world()


@pytest.fixture(autouse=True)
def keyring_follows_the_database(request: pytest.FixtureRequest) -> Any:
    """The keyring caches keys per process, and a transactional test's database is flushed at its
    end, keys included. A key cached from before the flush would seal data that no stored key
    opens, and the next key made would reuse its id with other material: forget them on both sides."""
    transactional = "transactional_db" in request.fixturenames or "live_server" in request.fixturenames
    if transactional:
        keyring.reset()
    yield
    if transactional:
        keyring.reset()

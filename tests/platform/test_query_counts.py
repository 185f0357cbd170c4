"""Query counts of the main pages and endpoints are pinned, and do not grow with the rows listed
(an N+1 shows up here as a failing test)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fincrm.org.models import OrgUnit, Team
from fincrm.users.models import RoleAssignment, TeamMembership, User
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db

PAGES = [
    ("/admin/users/", "system_admin_a"),
    ("/admin/roles/", "system_admin_a"),
    ("/admin/approvals/", "system_admin_a"),
    ("/admin/org/", "system_admin_a"),
    ("/admin/org/teams/", "system_admin_a"),
    ("/security/alerts/", "system_admin_a"),
    ("/account/sessions/", "account_manager_a"),
    ("/account/tokens/", "operations_a"),
    ("/api/v1/users", "system_admin_a"),
    ("/api/v1/roles", "system_admin_a"),
    ("/api/v1/org-units", "system_admin_a"),
    ("/api/v1/teams", "system_admin_a"),
    ("/api/v1/me", "account_manager_a"),
]


def _more_rows(world: World) -> None:
    """Twenty more users, teams and units, each with a role and a team."""
    parent = OrgUnit.objects.get(pk=world.branch_a)
    role = World.user("team_lead_a").roles.get()
    for number in range(20):
        unit = OrgUnit.objects.create(
            code=f"X{number}",
            name=f"Unit {number}",
            kind=OrgUnit.Kind.SUB_BRANCH,
            parent=parent,
            path="",
            depth=2,
        )
        unit.path = f"{parent.path}{unit.pk}/"
        unit.save(update_fields=["path"])
        team = Team.objects.create(code=f"TX{number}", name=f"Team {number}", org_unit=unit)
        user = User.objects.create(username=f"extra{number}", full_name=f"Extra {number}", org_unit=unit)
        TeamMembership.objects.create(user=user, team=team)
        RoleAssignment.objects.create(user=user, role=role)


def _count(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(queries)


@pytest.mark.parametrize(("path", "username"), PAGES)
def test_queries_do_not_grow_with_rows(path: str, username: str, world: World, client: Client) -> None:
    sign_in(client, World.user(username))
    _count(client, path)  # warm caches that are per process, not per request
    before = _count(client, path)
    _more_rows(world)
    after = _count(client, path)
    assert after == before, f"{path}: {before} queries with the world, {after} with 20 more rows of each kind"


@pytest.mark.parametrize(("path", "username"), PAGES)
def test_query_count_is_pinned(path: str, username: str, world: World, client: Client) -> None:
    sign_in(client, World.user(username))
    _count(client, path)
    assert _count(client, path) == PINNED[path]


# About five are the floor of every signed-in request (session, user, the session row, the actor's
# grants with its teams in one statement). Raise a number only with a reason in the commit message.
PINNED: dict[str, int] = {
    "/admin/users/": 8,
    "/admin/roles/": 6,
    "/admin/approvals/": 5,
    "/admin/org/": 5,
    "/admin/org/teams/": 5,
    "/security/alerts/": 5,
    "/account/sessions/": 5,
    "/account/tokens/": 5,
    "/api/v1/users": 7,
    "/api/v1/roles": 6,
    "/api/v1/org-units": 5,
    "/api/v1/teams": 5,
    "/api/v1/me": 10,
}

"""Every org page and endpoint through the authorization matrix."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.support.authz import Case, check, matrix, team_target, unit_target
from tests.support.world import World


def new_unit(world: World, _target: int | None) -> dict[str, Any]:
    return {"parent_id": world.sub_a1, "kind": "sub_branch", "code": "SB-NEW", "name": "New sub-branch"}


def new_team(world: World, _target: int | None) -> dict[str, Any]:
    return {"org_unit_id": world.sub_a1, "code": "T-NEW", "name": "New team"}


def move_to_branch_b(world: World, _target: int | None) -> dict[str, Any]:
    return {"new_parent_id": world.branch_b}


def edit_team(world: World, _target: int | None) -> dict[str, Any]:
    return {"org_unit_id": world.sub_a1, "code": "T-A1", "name": "Renamed team", "is_active": "on"}


UNIT_EDIT = {"code": "SB-A1", "name": "Renamed", "is_active": "on"}

PAGES = [
    Case("unit list", "get", "/admin/org/", "org.view"),
    Case("unit detail", "get", "/admin/org/units/{pk}/", "org.view", target=unit_target),
    Case("unit create form", "get", "/admin/org/units/new/", "org.manage"),
    Case("unit create", "post", "/admin/org/units/new/", "org.manage", data=new_unit, ok=(302,)),
    Case("unit edit form", "get", "/admin/org/units/{pk}/edit/", "org.manage", target=unit_target),
    Case(
        "unit edit",
        "post",
        "/admin/org/units/{pk}/edit/",
        "org.manage",
        target=unit_target,
        data=UNIT_EDIT,
        ok=(302,),
    ),
    Case("unit move form", "get", "/admin/org/units/{pk}/move/", "org.manage", target=unit_target),
    Case(
        "unit move",
        "post",
        "/admin/org/units/{pk}/move/",
        "org.manage",
        target=unit_target,
        data=move_to_branch_b,
        ok=(302,),
    ),
    Case("team list", "get", "/admin/org/teams/", "org.view"),
    Case("team detail", "get", "/admin/org/teams/{pk}/", "org.view", target=team_target),
    Case("team create form", "get", "/admin/org/teams/new/", "org.manage"),
    Case("team create", "post", "/admin/org/teams/new/", "org.manage", data=new_team, ok=(302,)),
    Case("team edit form", "get", "/admin/org/teams/{pk}/edit/", "org.manage", target=team_target),
    Case(
        "team edit",
        "post",
        "/admin/org/teams/{pk}/edit/",
        "org.manage",
        target=team_target,
        data=edit_team,
        ok=(302,),
    ),
]

ENDPOINTS = [
    Case("api unit list", "get", "/api/v1/org-units", "org.view", api=True),
    Case("api unit detail", "get", "/api/v1/org-units/{pk}", "org.view", api=True, target=unit_target),
    Case("api unit create", "post", "/api/v1/org-units", "org.manage", api=True, data=new_unit, ok=(201,)),
    Case(
        "api unit update",
        "patch",
        "/api/v1/org-units/{pk}",
        "org.manage",
        api=True,
        target=unit_target,
        data={"name": "Renamed"},
    ),
    Case(
        "api unit move",
        "post",
        "/api/v1/org-units/{pk}/move",
        "org.manage",
        api=True,
        target=unit_target,
        data=move_to_branch_b,
    ),
    Case("api team list", "get", "/api/v1/teams", "org.view", api=True),
    Case("api team detail", "get", "/api/v1/teams/{pk}", "org.view", api=True, target=team_target),
    Case("api team create", "post", "/api/v1/teams", "org.manage", api=True, data=new_team, ok=(201,)),
    Case(
        "api team update",
        "patch",
        "/api/v1/teams/{pk}",
        "org.manage",
        api=True,
        target=team_target,
        data={"name": "Renamed team"},
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "role", "variant"), list(matrix(PAGES + ENDPOINTS)))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)

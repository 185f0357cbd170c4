"""The org API as an integrator uses it."""

from __future__ import annotations

import pytest
from django.test import Client

from fincrm.org.models import OrgUnit, Team
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(world: World, client: Client) -> Client:
    return sign_in(client, World.user("system_admin_a"))


def test_create_answers_201_with_the_new_unit(world: World, admin_client: Client) -> None:
    response = admin_client.post(
        "/api/v1/org-units",
        {"parent_id": world.branch_a, "kind": "sub_branch", "code": "SB-A2", "name": "Sub-branch A2"},
        content_type="application/json",
    )
    assert response.status_code == 201
    created = OrgUnit.objects.get(code="SB-A2")
    assert response.json() == {
        "id": created.pk,
        "code": "SB-A2",
        "name": "Sub-branch A2",
        "kind": "sub_branch",
        "parent_id": world.branch_a,
        "path": f"/{world.hq}/{world.branch_a}/{created.pk}/",
        "depth": 2,
        "is_active": True,
    }


def test_rule_errors_name_the_field(world: World, admin_client: Client) -> None:
    response = admin_client.post(
        "/api/v1/org-units",
        {"parent_id": world.hq, "kind": "sub_branch", "code": "SB-X", "name": "X"},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "kind_rule"
    assert body["fields"] == {"parent_id": ["A sub-branch must sit under a branch or another sub-branch."]}
    assert not OrgUnit.objects.filter(code="SB-X").exists()


def test_missing_fields_are_422(admin_client: Client) -> None:
    response = admin_client.post("/api/v1/org-units", {"code": "X"}, content_type="application/json")
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"parent_id", "name", "kind"}


def test_patch_changes_only_what_is_sent(world: World, admin_client: Client) -> None:
    response = admin_client.patch(
        f"/api/v1/org-units/{world.branch_b}", {"name": "Branch Bee"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["code"]) == ("Branch Bee", "BR-B")

    response = admin_client.patch(
        f"/api/v1/org-units/{world.branch_b}", {"is_active": False}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "is_active": ["Deactivate or move this unit's active sub-units first."]
    }


def test_move_answers_the_moved_unit(world: World, admin_client: Client) -> None:
    response = admin_client.post(
        f"/api/v1/org-units/{world.sub_a1}/move",
        {"new_parent_id": world.branch_b},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["path"] == f"/{world.hq}/{world.branch_b}/{world.sub_a1}/"

    response = admin_client.post(
        f"/api/v1/org-units/{world.branch_b}/move",
        {"new_parent_id": world.sub_a1},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["new_parent_id"]


def test_unit_list_pages_with_a_cursor_parents_first(world: World, admin_client: Client) -> None:
    first = admin_client.get("/api/v1/org-units?limit=3").json()
    assert [unit["code"] for unit in first["items"]] == ["HQ", "BR-A", "BR-B"]
    second = admin_client.get(f"/api/v1/org-units?limit=3&cursor={first['next_cursor']}").json()
    assert [unit["code"] for unit in second["items"]] == ["SB-A1", "SB-B1"]
    assert second["next_cursor"] is None


def test_unit_list_is_scoped(world: World, client: Client) -> None:
    sign_in(client, World.user("team_lead_a"))
    body = client.get("/api/v1/org-units").json()
    assert [unit["code"] for unit in body["items"]] == ["SB-A1"]


def test_teams(world: World, admin_client: Client) -> None:
    response = admin_client.post(
        "/api/v1/teams",
        {"org_unit_id": world.sub_b1, "code": "T-B2", "name": "Team B2"},
        content_type="application/json",
    )
    assert response.status_code == 201
    team = Team.objects.get(code="T-B2")
    assert response.json() == {
        "id": team.pk,
        "code": "T-B2",
        "name": "Team B2",
        "org_unit_id": world.sub_b1,
        "is_active": True,
    }

    listed = admin_client.get(f"/api/v1/teams?org_unit_id={world.sub_b1}").json()
    assert [item["code"] for item in listed["items"]] == ["T-B1", "T-B2"]

    response = admin_client.patch(
        f"/api/v1/teams/{team.pk}", {"is_active": False}, content_type="application/json"
    )
    assert response.json()["is_active"] is False
    assert admin_client.get(f"/api/v1/teams/{team.pk}").json()["name"] == "Team B2"

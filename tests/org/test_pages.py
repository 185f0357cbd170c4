"""The org pages as a person uses them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from fincrm.org.members import register_team_member_provider
from fincrm.org.models import OrgUnit, Team
from fincrm.users.selectors.accounts import team_member_list
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(world: World, client: Client) -> Client:
    return sign_in(client, World.user("system_admin_a"))


def test_tree_is_indented_with_kind_code_and_status(world: World, admin_client: Client) -> None:
    OrgUnit.objects.filter(pk=world.sub_b1).update(is_active=False)
    page = admin_client.get("/admin/org/").content.decode()
    assert "table-responsive" in page
    # Depth-first: each unit right after its parent, children indented one step further.
    positions = [
        page.index(f">{name}</a>") for name in ("Head office", "Branch A", "Sub-branch A1", "Branch B")
    ]
    assert positions == sorted(positions)
    assert f'\u2514\u2002</span><a href="/admin/org/units/{world.branch_a}/">Branch A</a>' in page
    assert f'\u2003\u2514\u2002</span><a href="/admin/org/units/{world.sub_a1}/">Sub-branch A1</a>' in page
    assert "<code>SB-B1</code>" in page
    assert "Inactive" in page
    assert "/admin/org/units/new/" in page


def test_viewers_see_no_change_buttons(world: World, client: Client) -> None:
    sign_in(client, World.user("auditor_a"))
    page = client.get("/admin/org/").content.decode()
    assert "/admin/org/units/new/" not in page
    detail = client.get(f"/admin/org/units/{world.sub_a1}/").content.decode()
    assert "/edit/" not in detail
    assert "/move/" not in detail
    team = client.get(f"/admin/org/teams/{world.team_a1}/").content.decode()
    assert "/edit/" not in team


def test_branch_manager_sees_only_the_subtree(world: World, client: Client) -> None:
    manager = World.user("branch_manager_a")
    manager.org_unit_id = world.branch_a
    manager.save(update_fields=["org_unit"])
    sign_in(client, manager)
    page = client.get("/admin/org/").content.decode()
    assert "Branch A" in page
    assert "Sub-branch A1" in page
    assert "Branch B" not in page
    assert "Head office" not in page
    assert client.get(f"/admin/org/units/{world.branch_b}/").status_code == 404


def test_create_a_unit_from_the_page(world: World, admin_client: Client) -> None:
    form = admin_client.get(f"/admin/org/units/new/?parent={world.branch_a}").content.decode()
    assert f'<option value="{world.branch_a}" selected>' in form
    response = admin_client.post(
        "/admin/org/units/new/",
        {"parent_id": world.branch_a, "kind": "sub_branch", "code": "SB-A2", "name": "Sub-branch A2"},
    )
    created = OrgUnit.objects.get(code="SB-A2")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/org/units/{created.pk}/"
    assert created.path == f"/{world.hq}/{world.branch_a}/{created.pk}/"


def test_a_refused_create_shows_the_message_on_the_field(world: World, admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/org/units/new/",
        {"parent_id": world.hq, "kind": "sub_branch", "code": "HQ", "name": "Nope"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "A sub-branch must sit under a branch or another sub-branch." in page
    assert OrgUnit.objects.count() == 5


def test_duplicate_code_on_edit_shows_on_the_code_field(world: World, admin_client: Client) -> None:
    response = admin_client.post(
        f"/admin/org/units/{world.branch_b}/edit/", {"code": "BR-A", "name": "Branch B", "is_active": "on"}
    )
    assert response.status_code == 200
    assert "Another org unit already uses this code." in response.content.decode()
    assert response.context["form"].errors == {"code": ["Another org unit already uses this code."]}


def test_move_page_offers_no_unit_of_its_own_subtree(world: World, admin_client: Client) -> None:
    page = admin_client.get(f"/admin/org/units/{world.branch_a}/move/")
    values = {value for value, _label in page.context["form"].fields["new_parent_id"].choices}
    assert world.branch_a not in values
    assert world.sub_a1 not in values
    assert world.hq not in values  # the current parent
    assert world.branch_b in values

    response = admin_client.post(f"/admin/org/units/{world.sub_a1}/move/", {"new_parent_id": world.branch_b})
    assert response.status_code == 302
    assert OrgUnit.objects.get(pk=world.sub_a1).path == f"/{world.hq}/{world.branch_b}/{world.sub_a1}/"


def test_deactivating_a_unit_with_users_is_refused_on_the_page(world: World, admin_client: Client) -> None:
    response = admin_client.post(
        f"/admin/org/units/{world.sub_a1}/edit/", {"code": "SB-A1", "name": "Sub-branch A1"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "is_active": ["Move or deactivate this unit's active users first."]
    }
    assert OrgUnit.objects.get(pk=world.sub_a1).is_active


def test_team_pages(world: World, admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/org/teams/new/", {"org_unit_id": world.sub_b1, "code": "T-B2", "name": "Team B2"}
    )
    team = Team.objects.get(code="T-B2")
    assert response["Location"] == f"/admin/org/teams/{team.pk}/"
    listing = admin_client.get(f"/admin/org/teams/?unit={world.sub_b1}").content.decode()
    assert "Team B2" in listing
    assert "Team B1" in listing
    assert "Team A1" not in listing
    response = admin_client.post(
        f"/admin/org/teams/{team.pk}/edit/", {"org_unit_id": world.sub_b1, "code": "T-B2", "name": "Team Bee"}
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.is_active) == ("Team Bee", False)


@pytest.fixture
def member_provider() -> Iterator[None]:
    register_team_member_provider(team_member_list)
    yield
    register_team_member_provider(None)


def test_team_detail_lists_members_when_the_users_app_provides_them(
    world: World, admin_client: Client, member_provider: None
) -> None:
    page = admin_client.get(f"/admin/org/teams/{world.team_a1}/").content.decode()
    assert "Members" in page
    assert "<code>peer_a</code>" in page
    assert "<code>peer_b</code>" not in page


def test_team_detail_without_a_member_provider_omits_members(world: World, admin_client: Client) -> None:
    page = admin_client.get(f"/admin/org/teams/{world.team_a1}/").content.decode()
    assert "Members" not in page
    assert "Sub-branch A1" in page

"""The administration pages: the authorization matrix, then what an administrator sees and does."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from fincrm.audit.models import AuditEvent
from fincrm.users.models import AccessChangeRequest, Role, RoleAssignment, User
from tests.support.auth import sign_in
from tests.support.authz import Case, check, matrix, user_target
from tests.support.world import World
from tests.users.admin_support import custom_role, live_session, pending_request, sessions_of

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Quiet-Lantern-Orchard-42"


def builtin_role_target(world: World, actor: User, variant: str) -> int:
    return Role.objects.get(code="account_manager").pk


def custom_role_target(world: World, actor: User, variant: str) -> int:
    return custom_role("matrix_desk").pk


def request_target(world: World, actor: User, variant: str) -> int:
    role = custom_role("matrix_grant", permissions=("customer.view",))
    return pending_request(requester="system_admin_b", role=role, target="peer_a").pk


def _create_data(world: World, pk: int | None) -> dict[str, Any]:
    return {
        "username": "matrix.user",
        "full_name": "Matrix User",
        "email": "",
        "org_unit": world.sub_a1,
        "teams": [world.team_a1],
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
    }


def _edit_data(world: World, pk: int | None) -> dict[str, Any]:
    return {"full_name": "Renamed", "email": "", "org_unit": world.sub_a1, "teams": [world.team_a1]}


def _assign_data(world: World, pk: int | None) -> dict[str, Any]:
    return {"action": "assign", "role": Role.objects.get(code="system_admin").pk}


def _role_data(world: World, pk: int | None) -> dict[str, Any]:
    return {"code": "matrix_role", "name": "Matrix role", "scope": "own", "permissions": ["org.view"]}


CASES = [
    Case("user list", "get", "/admin/users/", "user.view"),
    Case("user detail", "get", "/admin/users/{pk}/", "user.view", target=user_target),
    Case("user create form", "get", "/admin/users/new/", "user.manage"),
    Case("user create", "post", "/admin/users/new/", "user.manage", data=_create_data, ok=(302,)),
    Case("user edit form", "get", "/admin/users/{pk}/edit/", "user.manage", target=user_target),
    Case(
        "user edit",
        "post",
        "/admin/users/{pk}/edit/",
        "user.manage",
        target=user_target,
        data=_edit_data,
        ok=(302,),
    ),
    Case("user roles", "get", "/admin/users/{pk}/roles/", "role.manage", target=user_target),
    Case(
        "user role assign",
        "post",
        "/admin/users/{pk}/roles/",
        "role.manage",
        target=user_target,
        data=_assign_data,
        ok=(302,),
    ),
    Case(
        "user deactivate",
        "post",
        "/admin/users/{pk}/deactivate/",
        "user.manage",
        target=user_target,
        ok=(302,),
    ),
    Case(
        "user reactivate",
        "post",
        "/admin/users/{pk}/reactivate/",
        "user.manage",
        target=user_target,
        ok=(302,),
    ),
    Case("user unlock", "post", "/admin/users/{pk}/unlock/", "user.manage", target=user_target, ok=(302,)),
    Case(
        "user password reset",
        "post",
        "/admin/users/{pk}/password-reset/",
        "user.manage",
        target=user_target,
        data={"new_password": NEW_PASSWORD},
        ok=(302,),
    ),
    Case("role list", "get", "/admin/roles/", "role.view"),
    Case("role detail", "get", "/admin/roles/{pk}/", "role.view", target=builtin_role_target),
    Case("role create form", "get", "/admin/roles/new/", "role.manage"),
    Case("role create", "post", "/admin/roles/new/", "role.manage", data=_role_data, ok=(302,)),
    Case("role edit form", "get", "/admin/roles/{pk}/edit/", "role.manage", target=custom_role_target),
    Case(
        "role edit",
        "post",
        "/admin/roles/{pk}/edit/",
        "role.manage",
        target=custom_role_target,
        data={"name": "Edited", "scope": "own", "permissions": ["org.view"]},
        ok=(302,),
    ),
    Case("role clone form", "get", "/admin/roles/{pk}/clone/", "role.manage", target=builtin_role_target),
    Case(
        "role clone",
        "post",
        "/admin/roles/{pk}/clone/",
        "role.manage",
        target=builtin_role_target,
        data={"code": "am_copy", "name": "AM copy"},
        ok=(302,),
    ),
    Case("approval list", "get", "/admin/approvals/", "role.approve"),
    Case(
        "approval decide",
        "post",
        "/admin/approvals/{pk}/decide/",
        "role.approve",
        target=request_target,
        data={"decision": "approve"},
        ok=(302,),
    ),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)


def admin_client(username: str = "system_admin_a") -> Client:
    return sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), World.user(username))


def test_create_user_through_the_page(world: World) -> None:
    client = admin_client()
    data = _create_data(world, None) | {"is_superuser": "on"}
    response = client.post("/admin/users/new/", data)
    user = User.objects.get(username="matrix.user")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/users/{user.pk}/"
    assert user.must_change_password is True
    assert user.is_superuser is False  # never settable through a form


def test_create_user_form_shows_field_errors(world: World) -> None:
    client = admin_client()
    data = _create_data(world, None) | {"password": "password123", "password_again": "password123"}
    response = client.post("/admin/users/new/", data)
    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    assert not User.objects.filter(username="matrix.user").exists()


def test_user_list_filters_and_scope(world: World) -> None:
    response = admin_client().get("/admin/users/", {"q": "peer", "org_unit": world.sub_b1})
    body = response.content.decode()
    assert "peer_b" in body
    assert "peer_a" not in body
    # Account managers hold no user.view: the staff list is an administration page.
    response = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), World.user("account_manager_a")).get(
        "/admin/users/"
    )
    assert response.status_code == 403


def test_user_detail_shows_roles_teams_sessions_and_actions(world: World) -> None:
    live_session(World.user("peer_a"))
    peer = World.user("branch_manager_a")
    response = admin_client().get(f"/admin/users/{peer.pk}/")
    body = response.content.decode()
    assert "Team A1" in body
    assert "Branch manager" in body
    assert f"/admin/users/{peer.pk}/deactivate/" in body
    assert f"/admin/users/{peer.pk}/roles/" in body
    # A viewer without user.manage sees no actions.
    response = sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), World.user("auditor_a")).get(
        f"/admin/users/{peer.pk}/"
    )
    assert response.status_code == 200
    assert "/deactivate/" not in response.content.decode()


def test_deactivate_through_the_page_ends_the_users_sessions(world: World) -> None:
    peer = World.user("peer_a")
    live_session(peer)
    response = admin_client().post(f"/admin/users/{peer.pk}/deactivate/", {"reason": "left"})
    assert response.status_code == 302
    peer.refresh_from_db()
    assert peer.is_active is False
    assert sessions_of(peer) == (0, 0)


def test_self_role_change_is_refused_on_the_page(world: World) -> None:
    admin = World.user("system_admin_a")
    client = admin_client()
    page = client.get(f"/admin/users/{admin.pk}/roles/")
    assert "You cannot change your own roles" in page.content.decode()
    role = custom_role()
    response = client.post(
        f"/admin/users/{admin.pk}/roles/", {"action": "assign", "role": role.pk}, follow=False
    )
    assert response.status_code == 200
    assert "You cannot change your own roles" in response.content.decode()
    assert RoleAssignment.objects.filter(user=admin).count() == 1


def test_assign_customer_role_on_the_page_then_second_admin_approves(world: World) -> None:
    peer = World.user("peer_a")
    role = custom_role(permissions=("customer.view",))
    response = admin_client().post(f"/admin/users/{peer.pk}/roles/", {"action": "assign", "role": role.pk})
    assert response.status_code == 302
    request = AccessChangeRequest.objects.get()
    assert not RoleAssignment.objects.filter(user=peer, role=role).exists()

    maker_page = admin_client().get("/admin/approvals/").content.decode()
    assert 'value="withdraw"' in maker_page
    assert 'value="approve"' not in maker_page
    checker = admin_client("system_admin_b")
    checker_page = checker.get("/admin/approvals/").content.decode()
    assert 'value="approve"' in checker_page
    assert 'value="withdraw"' not in checker_page

    # The maker cannot approve by posting anyway.
    admin_client().post(f"/admin/approvals/{request.pk}/decide/", {"decision": "approve"})
    request.refresh_from_db()
    assert request.status == "pending"

    checker.post(f"/admin/approvals/{request.pk}/decide/", {"decision": "approve", "note": "ok"})
    request.refresh_from_db()
    assert request.status == "approved"
    assert RoleAssignment.objects.filter(user=peer, role=role).exists()


def test_unassign_on_the_page(world: World) -> None:
    manager = World.user("branch_manager_a")
    role = manager.roles.get()
    response = admin_client().post(
        f"/admin/users/{manager.pk}/roles/", {"action": "unassign", "role": role.pk}
    )
    assert response.status_code == 302
    assert not RoleAssignment.objects.filter(user=manager).exists()


def test_builtin_role_edit_page_refuses_and_shows_read_only(world: World) -> None:
    role = Role.objects.get(code="system_admin")
    client = admin_client()
    response = client.get(f"/admin/roles/{role.pk}/edit/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/roles/{role.pk}/"
    response = client.post(f"/admin/roles/{role.pk}/edit/", {"name": "x", "scope": "own", "permissions": []})
    assert response.status_code == 302
    assert Role.objects.get(pk=role.pk).name == "System administrator"
    detail = client.get(f"/admin/roles/{role.pk}/").content.decode()
    assert "Built-in roles are read-only" in detail
    assert f"/admin/roles/{role.pk}/edit/" not in detail


def test_role_detail_marks_customer_data_permissions(world: World) -> None:
    role = Role.objects.get(code="account_manager")
    body = admin_client().get(f"/admin/roles/{role.pk}/").content.decode()
    assert "Customer data" in body
    assert "customer.view" in body


def test_role_edit_page_holds_customer_data_grant(world: World) -> None:
    role = custom_role(scope="own", permissions=("org.view",))
    response = admin_client().post(
        f"/admin/roles/{role.pk}/edit/",
        {"name": "Desk", "scope": "own", "permissions": ["org.view", "customer.view"], "reason": "desk"},
    )
    assert response.status_code == 302
    assert sorted(role.permission_rows.values_list("permission", flat=True)) == ["org.view"]
    request = AccessChangeRequest.objects.get()
    assert request.add_permissions == ["customer.view"]


def test_role_clone_page(world: World) -> None:
    source = Role.objects.get(code="auditor")
    response = admin_client().post(
        f"/admin/roles/{source.pk}/clone/", {"code": "auditor_lite", "name": "Lite"}
    )
    clone = Role.objects.get(code="auditor_lite")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/roles/{clone.pk}/"
    assert AuditEvent.objects.filter(action="role.cloned", object_id=str(clone.pk)).exists()


def test_user_list_pages_with_a_cursor(world: World) -> None:
    client = admin_client()
    from fincrm.users.views import admin as admin_views

    original = admin_views.PAGE_SIZE
    admin_views.PAGE_SIZE = 3
    try:
        first = client.get("/admin/users/", {"q": "_a"})
        body = first.content.decode()
        assert "account_manager_a" in body
        assert "cursor=" in body
        cursor = first.context["next_cursor"]
        second = client.get("/admin/users/", {"q": "_a", "cursor": cursor})
        names = [user.username for user in second.context["users"]]
        assert names == ["compliance_officer_a", "marketing_a", "operations_a"]
        broken = client.get("/admin/users/", {"cursor": "garbage"})
        assert broken.status_code == 200
    finally:
        admin_views.PAGE_SIZE = original


def test_unlock_and_password_reset_through_the_page(world: World) -> None:
    from django.utils import timezone

    peer = World.user("peer_a")
    live_session(peer)
    User.objects.filter(pk=peer.pk).update(locked_at=timezone.now())
    client = admin_client()
    assert "/unlock/" in client.get(f"/admin/users/{peer.pk}/").content.decode()
    client.post(f"/admin/users/{peer.pk}/unlock/")
    peer.refresh_from_db()
    assert peer.locked_at is None
    client.post(f"/admin/users/{peer.pk}/password-reset/", {"new_password": NEW_PASSWORD})
    peer.refresh_from_db()
    assert peer.check_password(NEW_PASSWORD)
    assert peer.must_change_password is True
    assert sessions_of(peer) == (0, 0)

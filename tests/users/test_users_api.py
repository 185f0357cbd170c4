"""The administration API: the authorization matrix, then behaviour an integrator relies on."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.test import Client

from fincrm.users.models import AccessChangeRequest, Role, RoleAssignment, RolePermission, User
from tests.support.auth import sign_in
from tests.support.authz import OUT_OF_SCOPE, Case, check, matrix, user_target
from tests.support.world import World
from tests.users.admin_support import custom_role, live_session, pending_request, sessions_of

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Quiet-Lantern-Orchard-42"
ROLE_PLACEHOLDER = "ROLE"


def inactive_user_target(world: World, actor: User, variant: str) -> int:
    user = World.user("peer_b" if variant == OUT_OF_SCOPE else "peer_a")
    User.objects.filter(pk=user.pk).update(is_active=False)
    return user.pk


def builtin_role_target(world: World, actor: User, variant: str) -> int:
    return Role.objects.get(code="account_manager").pk


def custom_role_target(world: World, actor: User, variant: str) -> int:
    return custom_role("api_desk").pk


def request_target(world: World, actor: User, variant: str) -> int:
    role = custom_role("api_grant", permissions=("customer.view",))
    return pending_request(requester="system_admin_b", role=role, target="peer_a").pk


def own_request_target(world: World, actor: User, variant: str) -> int:
    """A request of the actor's own when they may make one, else another administrator's."""
    role = custom_role("api_grant", permissions=("customer.view",))
    requester = (
        actor.username if actor.roles.filter(permission_rows__permission="role.manage").exists() else None
    )
    return pending_request(requester=requester or "system_admin_b", role=role, target="peer_b").pk


def _assign_data(world: World, pk: int | None) -> dict[str, Any]:
    return {"role_id": Role.objects.get(code="system_admin").pk}


CASES = [
    Case("api users list", "get", "/api/v1/users", "user.view", api=True),
    Case(
        "api user create",
        "post",
        "/api/v1/users",
        "user.manage",
        api=True,
        data=lambda world, pk: {
            "username": "api.user",
            "full_name": "Api User",
            "org_unit_id": world.sub_a1,
            "password": NEW_PASSWORD,
        },
        ok=(201,),
    ),
    Case("api user get", "get", "/api/v1/users/{pk}", "user.view", api=True, target=user_target),
    Case(
        "api user patch",
        "patch",
        "/api/v1/users/{pk}",
        "user.manage",
        api=True,
        target=user_target,
        data={"full_name": "Renamed"},
    ),
    Case(
        "api user deactivate",
        "post",
        "/api/v1/users/{pk}/deactivate",
        "user.manage",
        api=True,
        target=user_target,
    ),
    Case(
        "api user reactivate",
        "post",
        "/api/v1/users/{pk}/reactivate",
        "user.manage",
        api=True,
        target=inactive_user_target,
    ),
    Case("api user roles", "get", "/api/v1/users/{pk}/roles", "user.view", api=True, target=user_target),
    Case(
        "api user role assign",
        "post",
        "/api/v1/users/{pk}/roles",
        "role.manage",
        api=True,
        target=user_target,
        data=_assign_data,
        ok=(201,),
    ),
    Case(
        "api user role unassign",
        "delete",
        f"/api/v1/users/{{pk}}/roles/{ROLE_PLACEHOLDER}",
        "role.manage",
        api=True,
        target=user_target,
        ok=(204,),
    ),
    Case("api roles list", "get", "/api/v1/roles", "role.view", api=True),
    Case(
        "api role create",
        "post",
        "/api/v1/roles",
        "role.manage",
        api=True,
        data={"code": "api_role", "name": "Api role", "scope": "own", "permissions": ["org.view"]},
        ok=(201,),
    ),
    Case("api role get", "get", "/api/v1/roles/{pk}", "role.view", api=True, target=builtin_role_target),
    Case(
        "api role patch",
        "patch",
        "/api/v1/roles/{pk}",
        "role.manage",
        api=True,
        target=custom_role_target,
        data={"name": "Edited"},
    ),
    Case("api access requests", "get", "/api/v1/access-requests", "role.approve", api=True),
    Case(
        "api request approve",
        "post",
        "/api/v1/access-requests/{pk}/approve",
        "role.approve",
        api=True,
        target=request_target,
    ),
    Case(
        "api request reject",
        "post",
        "/api/v1/access-requests/{pk}/reject",
        "role.approve",
        api=True,
        target=request_target,
        data={"note": "no"},
    ),
    Case(
        "api request withdraw",
        "post",
        "/api/v1/access-requests/{pk}/withdraw",
        "role.manage",
        api=True,
        target=own_request_target,
    ),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    if ROLE_PLACEHOLDER in case.path:
        # The user to take a role from holds one: give both peers a role without customer data.
        desk = custom_role("api_unassign")
        for username in ("peer_a", "peer_b"):
            RoleAssignment.objects.create(user=World.user(username), role=desk)
        case = dataclasses.replace(case, path=case.path.replace(ROLE_PLACEHOLDER, str(desk.pk)))
    check(case, role, variant, world, client)


def api(username: str = "system_admin_a") -> Client:
    return sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), World.user(username))


def test_list_users_is_paginated_and_scoped(world: World) -> None:
    body = api("team_lead_a").get("/api/v1/users", {"limit": 2}).json()
    assert len(body["items"]) == 2
    assert body["next_cursor"]
    names: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = api("team_lead_a").get("/api/v1/users", params).json()
        names += [item["username"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert "peer_a" in names
    assert not any(name.endswith("_b") for name in names)
    assert len(names) == len(set(names))


def test_create_user_refuses_is_superuser_and_validates(world: World) -> None:
    client = api()
    payload = {
        "username": "api.user",
        "full_name": "Api",
        "org_unit_id": world.sub_a1,
        "password": NEW_PASSWORD,
    }
    response = client.post("/api/v1/users", payload | {"is_superuser": True}, content_type="application/json")
    assert response.status_code == 422
    assert "is_superuser" in response.json()["fields"]
    assert not User.objects.filter(username="api.user").exists()
    response = client.post("/api/v1/users", payload | {"password": "short"}, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["password"]
    response = client.post("/api/v1/users", payload, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert (body["username"], body["must_change_password"], body["team_ids"], body["role_ids"]) == (
        "api.user",
        True,
        [],
        [],
    )


def test_assign_customer_role_returns_202_and_second_admin_approves(world: World) -> None:
    peer = World.user("peer_a")
    live_session(peer)
    role = custom_role(permissions=("customer.view",))
    response = api().post(
        f"/api/v1/users/{peer.pk}/roles", {"role_id": role.pk}, content_type="application/json"
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["pending_request"]["kind"] == "assignment"
    request_id = body["pending_request"]["id"]

    own = api().post(f"/api/v1/access-requests/{request_id}/approve", content_type="application/json")
    assert own.status_code == 400
    assert own.json()["code"] == "self_approval"
    assert sessions_of(peer) == (1, 1)

    listed = api("system_admin_b").get("/api/v1/access-requests").json()["items"]
    assert [item["id"] for item in listed] == [request_id]
    approved = api("system_admin_b").post(
        f"/api/v1/access-requests/{request_id}/approve", {"note": "ok"}, content_type="application/json"
    )
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert RoleAssignment.objects.filter(user=peer, role=role).exists()
    assert sessions_of(peer) == (0, 0)


def test_self_role_change_refused_by_api(world: World) -> None:
    admin = World.user("system_admin_a")
    role = custom_role()
    response = api().post(
        f"/api/v1/users/{admin.pk}/roles", {"role_id": role.pk}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "self_change"
    own_role = admin.roles.get()
    response = api().delete(f"/api/v1/users/{admin.pk}/roles/{own_role.pk}")
    assert response.status_code == 400
    assert RoleAssignment.objects.filter(user=admin).count() == 1


def test_builtin_role_patch_is_refused(world: World) -> None:
    role = Role.objects.get(code="auditor")
    response = api().patch(f"/api/v1/roles/{role.pk}", {"name": "x"}, content_type="application/json")
    assert response.status_code == 409
    assert response.json()["code"] == "builtin_role"
    assert Role.objects.get(pk=role.pk).name == "Auditor"


def test_role_patch_mixed_change_reports_the_held_part(world: World) -> None:
    role = custom_role(scope="own", permissions=("customer.view", "org.view"))
    response = api().patch(
        f"/api/v1/roles/{role.pk}",
        {"permissions": ["customer.view", "customer.edit", "user.view"], "scope": "team"},
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["role"]["permissions"] == ["customer.view", "user.view"]
    assert body["role"]["scope"] == "own"
    assert body["pending_request"]["add_permissions"] == ["customer.edit"]
    assert body["pending_request"]["new_scope"] == "team"


def test_role_create_unknown_permission_and_clone(world: World) -> None:
    response = api().post(
        "/api/v1/roles",
        {"code": "x_role", "name": "X", "scope": "own", "permissions": ["customer.fly"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"permissions": ["Unknown permission: customer.fly."]}
    source = Role.objects.get(code="team_lead")
    response = api().post(
        "/api/v1/roles",
        {"code": "tl_copy", "name": "TL copy", "scope": "own", "clone_of": source.pk},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["scope"], body["is_builtin"]) == ("team", False)
    assert body["permissions"] == sorted(
        RolePermission.objects.filter(role=source).values_list("permission", flat=True)
    )


def test_deactivate_by_api_ends_sessions(world: World) -> None:
    peer = World.user("peer_a")
    live_session(peer)
    response = api().post(
        f"/api/v1/users/{peer.pk}/deactivate", {"reason": "left"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert sessions_of(peer) == (0, 0)
    again = api().post(f"/api/v1/users/{peer.pk}/deactivate", content_type="application/json")
    assert again.status_code == 409


def test_withdraw_by_someone_else_is_not_found(world: World) -> None:
    role = custom_role(permissions=("customer.view",))
    request = pending_request(requester="system_admin_a", role=role, target="peer_a")
    response = api("system_admin_b").post(
        f"/api/v1/access-requests/{request.pk}/withdraw", content_type="application/json"
    )
    assert response.status_code == 404
    assert AccessChangeRequest.objects.get(pk=request.pk).status == "pending"

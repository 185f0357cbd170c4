"""Administration API: staff users, roles, and the approval of grants that reach customer data.

Endpoints parse and serialize; the services decide (scope, maker-checker, audit). Lists use
keyset pagination ({items, next_cursor}) ordered by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from fincrm.platform.actor import Actor
from fincrm.platform.api import ErrorOut
from fincrm.platform.pagination import CursorPagination
from fincrm.users.models import AccessChangeRequest, Role, User
from fincrm.users.selectors import accounts as account_selectors
from fincrm.users.selectors import roles as role_selectors
from fincrm.users.services import accounts as account_services
from fincrm.users.services import approvals as approval_services
from fincrm.users.services import roles as role_services

router = Router(tags=["accounts"])

ERRORS: dict[int, Any] = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


# ---------------------------------------------------------------- schemas


class _StrictIn(Schema):
    # Unknown fields (is_superuser, password hashes …) are refused, never silently dropped.
    model_config = ConfigDict(extra="forbid")


class UserOut(Schema):
    id: int
    username: str
    full_name: str
    email: str
    org_unit_id: int
    team_ids: list[int]
    role_ids: list[int]
    is_active: bool
    is_locked: bool
    must_change_password: bool
    created_at: datetime

    @staticmethod
    def resolve_team_ids(obj: User) -> list[int]:
        return sorted(team.pk for team in obj.teams.all())

    @staticmethod
    def resolve_role_ids(obj: User) -> list[int]:
        return sorted(role.pk for role in obj.roles.all())


class UserCreateIn(_StrictIn):
    username: str = Field(max_length=64)
    full_name: str = Field(max_length=100)
    email: str = Field("", max_length=254)
    org_unit_id: int
    team_ids: list[int] = []
    password: str = Field(description="Initial password; the user must change it at first sign-in.")


class UserPatchIn(_StrictIn):
    full_name: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=254)
    org_unit_id: int | None = None
    team_ids: list[int] | None = None


class ReasonIn(_StrictIn):
    reason: str = Field("", max_length=500)


class RoleBriefOut(Schema):
    id: int
    code: str
    name: str
    scope: str
    is_builtin: bool

    @staticmethod
    def resolve_name(obj: Role) -> str:
        return role_selectors.role_display_name(obj)


class RoleOut(RoleBriefOut):
    description: str
    permissions: list[str]
    mfa_required: bool

    @staticmethod
    def resolve_permissions(obj: Role) -> list[str]:
        return sorted(row.permission for row in obj.permission_rows.all())


class RoleAssignIn(_StrictIn):
    role_id: int
    reason: str = Field("", max_length=500)


class RoleCreateIn(_StrictIn):
    code: str = Field(max_length=64)
    name: str = Field(max_length=100)
    description: str = ""
    scope: str
    permissions: list[str] = []
    mfa_required: bool = False
    clone_of: int | None = Field(
        None,
        description="Copy this role's scope and permissions (built-in roles included); others are ignored.",
    )


class RolePatchIn(_StrictIn):
    name: str | None = Field(None, max_length=100)
    description: str | None = None
    scope: str | None = None
    permissions: list[str] | None = None
    mfa_required: bool | None = None
    reason: str = Field("", max_length=500)


class AccessRequestOut(Schema):
    id: int
    kind: str
    status: str
    role_id: int
    target_user_id: int | None
    add_permissions: list[str]
    new_scope: str
    reason: str
    requested_by_id: int
    decided_by_id: int | None
    decided_at: datetime | None
    decision_note: str
    created_at: datetime


class RoleUpdateOut(Schema):
    role: RoleOut
    pending_request: AccessRequestOut | None


class AssignmentOut(Schema):
    status: str = Field(description='"assigned", or "pending" when a second administrator must approve.')
    role: RoleBriefOut
    pending_request: AccessRequestOut | None = None


class DecisionIn(_StrictIn):
    note: str = Field("", max_length=500)


# ---------------------------------------------------------------- users


def _user_out(user: User) -> UserOut:
    return UserOut.from_orm(account_selectors.user_with_relations(user))


@router.get("/users", response=list[UserOut], summary="Staff users within your scope (user.view)")
@paginate(CursorPagination, ordering=("id",))
def list_users(
    request: HttpRequest,
    org_unit_id: int | None = None,
    role_id: int | None = None,
    is_active: bool | None = None,
    search: str = "",
) -> object:
    filters = account_selectors.UserFilter(
        org_unit_id=org_unit_id, role_id=role_id, is_active=is_active, search=search
    )
    return account_selectors.user_list(actor=_actor(request), filters=filters).prefetch_related(
        "teams", "roles"
    )


@router.post(
    "/users", response={201: UserOut, **ERRORS, 422: ErrorOut}, summary="Create a user (user.manage)"
)
def create_user(request: HttpRequest, payload: UserCreateIn) -> Status[UserOut]:
    user = account_services.user_create(
        actor=_actor(request),
        username=payload.username,
        full_name=payload.full_name,
        email=payload.email,
        org_unit_id=payload.org_unit_id,
        team_ids=payload.team_ids,
        password=payload.password,
    )
    return Status(201, _user_out(user))


@router.get("/users/{user_id}", response={200: UserOut, **ERRORS})
def get_user(request: HttpRequest, user_id: int) -> UserOut:
    return UserOut.from_orm(account_selectors.user_get(actor=_actor(request), user_id=user_id))


@router.patch("/users/{user_id}", response={200: UserOut, **ERRORS, 422: ErrorOut}, summary="Change a user")
def patch_user(request: HttpRequest, user_id: int, payload: UserPatchIn) -> UserOut:
    actor = _actor(request)
    current = account_selectors.user_with_relations(
        account_selectors.access_user(actor, user_id, "user.manage")
    )
    user = account_services.user_update(
        actor=actor,
        user_id=current.pk,
        full_name=payload.full_name if payload.full_name is not None else current.full_name,
        email=payload.email if payload.email is not None else current.email,
        org_unit_id=payload.org_unit_id if payload.org_unit_id is not None else current.org_unit_id,
        team_ids=payload.team_ids
        if payload.team_ids is not None
        else [team.pk for team in current.teams.all()],
    )
    return _user_out(user)


@router.post("/users/{user_id}/deactivate", response={200: UserOut, **ERRORS})
def deactivate_user(request: HttpRequest, user_id: int, payload: ReasonIn | None = None) -> UserOut:
    reason = payload.reason if payload else ""
    return _user_out(account_services.user_deactivate(actor=_actor(request), user_id=user_id, reason=reason))


@router.post("/users/{user_id}/reactivate", response={200: UserOut, **ERRORS})
def reactivate_user(request: HttpRequest, user_id: int, payload: ReasonIn | None = None) -> UserOut:
    reason = payload.reason if payload else ""
    return _user_out(account_services.user_reactivate(actor=_actor(request), user_id=user_id, reason=reason))


@router.get("/users/{user_id}/roles", response={200: list[RoleBriefOut], **ERRORS})
def list_user_roles(request: HttpRequest, user_id: int) -> list[Role]:
    user = account_selectors.user_get(actor=_actor(request), user_id=user_id)
    return list(user.roles.all())


@router.post(
    "/users/{user_id}/roles",
    response={201: AssignmentOut, 202: AssignmentOut, **ERRORS},
    summary="Assign a role (one reaching customer data waits for a second administrator: 202)",
)
def assign_role(request: HttpRequest, user_id: int, payload: RoleAssignIn) -> Status[dict[str, Any]]:
    result = account_services.user_role_assign(
        actor=_actor(request), user_id=user_id, role_id=payload.role_id, reason=payload.reason
    )
    if isinstance(result, AccessChangeRequest):
        return Status(202, {"status": "pending", "role": result.role, "pending_request": result})
    return Status(201, {"status": "assigned", "role": result.role, "pending_request": None})


@router.delete("/users/{user_id}/roles/{role_id}", response={204: None, **ERRORS})
def unassign_role(request: HttpRequest, user_id: int, role_id: int) -> Status[None]:
    account_services.user_role_unassign(actor=_actor(request), user_id=user_id, role_id=role_id)
    return Status(204, None)


# ---------------------------------------------------------------- roles


@router.get("/roles", response=list[RoleOut], summary="Roles and their permissions (role.view)")
@paginate(CursorPagination, ordering=("id",))
def list_roles(request: HttpRequest) -> object:
    return role_selectors.role_list(actor=_actor(request))


@router.post(
    "/roles", response={201: RoleOut, **ERRORS, 422: ErrorOut}, summary="Create or clone a custom role"
)
def create_role(request: HttpRequest, payload: RoleCreateIn) -> Status[RoleOut]:
    actor = _actor(request)
    if payload.clone_of is not None:
        role = role_services.role_clone(
            actor=actor, role_id=payload.clone_of, code=payload.code, name=payload.name
        )
    else:
        role = role_services.role_create(
            actor=actor,
            code=payload.code,
            name=payload.name,
            description=payload.description,
            scope=payload.scope,
            permissions=payload.permissions,
            mfa_required=payload.mfa_required,
        )
    return Status(201, RoleOut.from_orm(role_selectors.role_get(actor=actor, role_id=role.pk)))


@router.get("/roles/{role_id}", response={200: RoleOut, **ERRORS})
def get_role(request: HttpRequest, role_id: int) -> RoleOut:
    return RoleOut.from_orm(role_selectors.role_get(actor=_actor(request), role_id=role_id))


@router.patch(
    "/roles/{role_id}",
    response={200: RoleUpdateOut, **ERRORS, 422: ErrorOut},
    summary="Change a custom role; additions reaching customer data wait for approval",
)
def patch_role(request: HttpRequest, role_id: int, payload: RolePatchIn) -> dict[str, Any]:
    actor = _actor(request)
    role = role_selectors.access_role(actor, role_id, "role.manage")
    change = role_services.role_update(
        actor=actor,
        role_id=role.pk,
        name=payload.name if payload.name is not None else role.name,
        description=payload.description if payload.description is not None else role.description,
        scope=payload.scope if payload.scope is not None else role.scope,
        permissions=(
            payload.permissions
            if payload.permissions is not None
            else sorted(role_selectors.role_permission_names(role))
        ),
        mfa_required=payload.mfa_required if payload.mfa_required is not None else role.mfa_required,
        reason=payload.reason,
    )
    return {"role": role_selectors.role_get(actor=actor, role_id=role.pk), "pending_request": change.request}


# ---------------------------------------------------------------- access requests


@router.get("/access-requests", response=list[AccessRequestOut], summary="Access change requests")
@paginate(CursorPagination, ordering=("id",))
def list_access_requests(request: HttpRequest, status: str = AccessChangeRequest.Status.PENDING) -> object:
    return role_selectors.access_request_list(actor=_actor(request), status=status or None)


@router.post("/access-requests/{request_id}/approve", response={200: AccessRequestOut, **ERRORS})
def approve_access_request(
    request: HttpRequest, request_id: int, payload: DecisionIn | None = None
) -> AccessChangeRequest:
    return approval_services.access_request_approve(
        actor=_actor(request), request_id=request_id, note=payload.note if payload else ""
    )


@router.post("/access-requests/{request_id}/reject", response={200: AccessRequestOut, **ERRORS})
def reject_access_request(
    request: HttpRequest, request_id: int, payload: DecisionIn | None = None
) -> AccessChangeRequest:
    return approval_services.access_request_reject(
        actor=_actor(request), request_id=request_id, note=payload.note if payload else ""
    )


@router.post("/access-requests/{request_id}/withdraw", response={200: AccessRequestOut, **ERRORS})
def withdraw_access_request(
    request: HttpRequest, request_id: int, payload: DecisionIn | None = None
) -> AccessChangeRequest:
    return approval_services.access_request_withdraw(
        actor=_actor(request), request_id=request_id, note=payload.note if payload else ""
    )

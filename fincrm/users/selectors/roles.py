"""Reading roles, their permissions and access change requests.

Roles are institution-wide definitions: anyone holding ``role.view`` sees all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet

from fincrm.platform import permissions as permission_registry
from fincrm.platform.access import access_object, require_permission
from fincrm.platform.actor import Actor
from fincrm.users.models import AccessChangeRequest, Role, RoleAssignment, RolePermission, User
from fincrm.users.roles import builtin_name


@dataclass(frozen=True)
class PermissionRow:
    name: str
    label: str
    customer_data: bool
    privileged: bool
    granted: bool


@dataclass(frozen=True)
class PermissionGroup:
    name: str
    rows: list[PermissionRow]


def _roles_visible(actor: Actor, action: str) -> QuerySet[Role]:
    roles = Role.objects.all() if actor.can(action) else Role.objects.none()
    return roles.prefetch_related(
        Prefetch("permission_rows", queryset=RolePermission.objects.order_by("permission"))
    )


def role_list(*, actor: Actor) -> QuerySet[Role]:
    require_permission(actor, "role.view")
    return (
        _roles_visible(actor, "role.view")
        .annotate(holder_count=Count("assignments"))
        .order_by("-is_builtin", "code")
    )


def access_role(actor: Actor, role_id: object, action: str, *, for_update: bool = False) -> Role:
    roles = _roles_visible(actor, action)
    if for_update:
        roles = roles.select_for_update()
    return access_object(roles, object_id=role_id, actor=actor, action=action, object_type="role")


def role_get(*, actor: Actor, role_id: object) -> Role:
    return access_role(actor, role_id, "role.view")


def role_permission_names(role: Role) -> set[str]:
    return {row.permission for row in role.permission_rows.all()}


def role_display_name(role: Role) -> str:
    return builtin_name(role.code, role.name) if role.is_builtin else role.name


def permission_table(granted: set[str] | frozenset[str]) -> list[PermissionGroup]:
    """Every known permission grouped by its group, marking those granted."""
    groups: dict[str, list[PermissionRow]] = {}
    for spec in permission_registry.all_permissions():
        groups.setdefault(str(spec.group), []).append(
            PermissionRow(
                spec.name, str(spec.label), spec.customer_data, spec.privileged, spec.name in granted
            )
        )
    return [PermissionGroup(name, rows) for name, rows in sorted(groups.items())]


def assignable_roles(*, actor: Actor) -> QuerySet[Role]:
    require_permission(actor, "role.manage")
    return _roles_visible(actor, "role.manage").order_by("-is_builtin", "code")


def role_holder_list(*, actor: Actor, role_id: int) -> QuerySet[User]:
    """Holders of a role whom the actor may see."""
    return (
        User.objects.visible_to(actor, "user.view")
        .filter(Exists(RoleAssignment.objects.filter(user_id=OuterRef("pk"), role_id=role_id)))
        .select_related("org_unit")
        .order_by("username")
    )


def _requests_visible(actor: Actor) -> QuerySet[AccessChangeRequest]:
    """Deciders (role.approve) and role administrators see every request; others only their own."""
    requests = AccessChangeRequest.objects.select_related("role", "target_user", "requested_by", "decided_by")
    if actor.can("role.approve") or actor.can("role.manage"):
        return requests
    if actor.user_id is None:
        return requests.none()
    return requests.filter(requested_by_id=actor.user_id)


def access_request_list(
    *, actor: Actor, status: str | None = AccessChangeRequest.Status.PENDING
) -> QuerySet[AccessChangeRequest]:
    if not (actor.can("role.approve") or actor.can("role.manage")):
        require_permission(actor, "role.approve")
    requests = _requests_visible(actor)
    if status:
        requests = requests.filter(status=status)
    return requests.order_by("-created_at", "-id")


def access_request_for_decision(actor: Actor, request_id: object, action: str) -> AccessChangeRequest:
    """The request the actor may approve/reject (``role.approve``) or withdraw (their own)."""
    if action == "withdraw":
        requests = _requests_visible(actor).filter(requested_by_id=actor.user_id)
        permission = "access_request.withdraw"
    else:
        requests = (
            _requests_visible(actor) if actor.can("role.approve") else AccessChangeRequest.objects.none()
        )
        permission = "role.approve"
    return access_object(
        requests.select_for_update(of=("self",)),
        object_id=request_id,
        actor=actor,
        action=permission,
        object_type="access_request",
    )

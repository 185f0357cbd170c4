"""Custom roles: create, clone, change. Built-in roles are defined in code and never change here.

A change that adds reach to customer data (customer-data permissions, or a wider scope for a
role holding them) is held as an AccessChangeRequest for a second administrator; the rest of
the same edit applies at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from fincrm.audit.services import audit_record
from fincrm.platform import permissions as permission_registry
from fincrm.platform import transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor, Scope
from fincrm.platform.errors import Conflict, ServiceError
from fincrm.users.models import AccessChangeRequest, Role, RolePermission
from fincrm.users.selectors.roles import access_role

ROLE_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
SCOPE_ORDER = [Scope.OWN, Scope.TEAM, Scope.BRANCH, Scope.SUBTREE, Scope.INSTITUTION]


@dataclass(frozen=True)
class RoleChange:
    role: Role
    request: AccessChangeRequest | None  # the part held for approval, if any


def is_widening(old: str, new: str) -> bool:
    """Any move except to a strictly narrower scope widens (own < team < branch < subtree < institution)."""
    if old == new:
        return False
    return SCOPE_ORDER.index(Scope(new)) > SCOPE_ORDER.index(Scope(old))


def role_snapshot(role: Role, permissions: Iterable[str] | None = None) -> dict[str, Any]:
    if permissions is None:
        permissions = RolePermission.objects.filter(role_id=role.pk).values_list("permission", flat=True)
    return {
        "code": role.code,
        "name": role.name,
        "description": role.description,
        "scope": role.scope,
        "permissions": sorted(permissions),
        "mfa_required": role.mfa_required,
    }


def _clean_permissions(names: Iterable[str]) -> set[str]:
    wanted = {name.strip() for name in names if name.strip()}
    unknown = sorted(name for name in wanted if not permission_registry.exists(name))
    if unknown:
        raise ServiceError.field(
            "permissions", _("Unknown permission: %(names)s.") % {"names": ", ".join(unknown)}, code="unknown"
        )
    return wanted


def _clean_fields(*, name: str, scope: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = [_("Enter a name.")]
    elif len(name.strip()) > 100:
        errors["name"] = [_("Use at most 100 characters.")]
    if scope not in {item.value for item in Scope}:
        errors["scope"] = [_("Choose one of the data scopes.")]
    return errors


def _clean_code(code: str) -> dict[str, list[str]]:
    if not ROLE_CODE.match(code):
        return {"code": [_("Use 2 to 64 lower-case letters, digits, hyphens or underscores.")]}
    if Role.objects.filter(code=code).exists():
        return {"code": [_("A role with this code already exists.")]}
    return {}


def _set_permissions(role: Role, permissions: set[str]) -> None:
    current = set(RolePermission.objects.filter(role_id=role.pk).values_list("permission", flat=True))
    RolePermission.objects.filter(role_id=role.pk, permission__in=current - permissions).delete()
    RolePermission.objects.bulk_create(
        RolePermission(role=role, permission=name) for name in sorted(permissions - current)
    )


def _mfa(permissions: Iterable[str], requested: bool) -> bool:
    # A role holding a privileged permission always requires MFA; no setting turns that off.
    return requested or permission_registry.any_privileged(permissions)


@transaction.atomic
def role_create(
    *,
    actor: Actor,
    code: str,
    name: str,
    description: str = "",
    scope: str,
    permissions: Iterable[str] = (),
    mfa_required: bool = False,
) -> Role:
    """A new role has no holders, so its permissions apply at once; assigning it is what is checked."""
    require_permission(actor, "role.manage")
    code = code.strip().lower()
    errors = _clean_code(code) | _clean_fields(name=name, scope=scope)
    try:
        wanted = _clean_permissions(permissions)
    except ServiceError as error:
        errors |= error.fields
        wanted = set()
    if errors:
        raise ServiceError(_("Please correct the marked fields."), fields=errors)
    role = Role.objects.create(
        code=code,
        name=name.strip(),
        description=description.strip(),
        scope=scope,
        mfa_required=_mfa(wanted, mfa_required),
    )
    _set_permissions(role, wanted)
    audit_record(
        actor, "role.created", object_type="role", object_id=str(role.pk), after=role_snapshot(role, wanted)
    )
    return role


@transaction.atomic
def role_clone(*, actor: Actor, role_id: int, code: str, name: str) -> Role:
    """A custom copy of any role (built-in ones included), with the same scope and permissions."""
    source = access_role(actor, role_id, "role.manage")
    code = code.strip().lower()
    errors = _clean_code(code) | _clean_fields(name=name, scope=source.scope)
    if errors:
        raise ServiceError(_("Please correct the marked fields."), fields=errors)
    permissions = set(RolePermission.objects.filter(role_id=source.pk).values_list("permission", flat=True))
    role = Role.objects.create(
        code=code,
        name=name.strip(),
        description=source.description,
        scope=source.scope,
        mfa_required=_mfa(permissions, source.mfa_required),
    )
    _set_permissions(role, permissions)
    audit_record(
        actor,
        "role.cloned",
        object_type="role",
        object_id=str(role.pk),
        after=role_snapshot(role, permissions) | {"source_role_id": source.pk, "source_code": source.code},
    )
    return role


@transaction.atomic
def role_update(
    *,
    actor: Actor,
    role_id: int,
    name: str,
    description: str = "",
    scope: str,
    permissions: Iterable[str],
    mfa_required: bool = False,
    reason: str = "",
) -> RoleChange:
    role = access_role(actor, role_id, "role.manage", for_update=True)
    if role.is_builtin:
        raise Conflict(
            _("Built-in roles cannot be changed; clone one to make a custom role."), code="builtin_role"
        )
    errors = _clean_fields(name=name, scope=scope)
    try:
        wanted = _clean_permissions(permissions)
    except ServiceError as error:
        errors |= error.fields
        wanted = set()
    if errors:
        raise ServiceError(_("Please correct the marked fields."), fields=errors)

    current = set(RolePermission.objects.filter(role_id=role.pk).values_list("permission", flat=True))
    added = wanted - current
    held_permissions = permission_registry.reaching_customer_data(added)
    applied_permissions = wanted - held_permissions
    # A wider scope is held if the role would reach customer data with it (now or once approved).
    held_scope = (
        scope if is_widening(role.scope, scope) and permission_registry.reaching_customer_data(wanted) else ""
    )
    applied_scope = role.scope if held_scope else scope

    request: AccessChangeRequest | None = None
    if (held_permissions or held_scope) and actor.user_id is None:
        raise ServiceError(_("A grant that reaches customer data must be requested by a staff user."))

    before = role_snapshot(role, current)
    role.name = name.strip()
    role.description = description.strip()
    role.scope = applied_scope
    role.mfa_required = _mfa(applied_permissions, mfa_required)
    role.save(update_fields=["name", "description", "scope", "mfa_required", "updated_at"])
    _set_permissions(role, applied_permissions)
    after = role_snapshot(role, applied_permissions)
    if after != before:
        audit_record(
            actor,
            "role.updated",
            object_type="role",
            object_id=str(role.pk),
            before=before,
            after=after,
            reason=reason,
        )
    if held_permissions or held_scope:
        requester_id = actor.user_id
        assert requester_id is not None  # refused above, before any write
        request = AccessChangeRequest.objects.create(
            kind=AccessChangeRequest.Kind.ROLE_GRANT,
            role=role,
            add_permissions=sorted(held_permissions),
            new_scope=held_scope,
            reason=reason,
            requested_by_id=requester_id,
        )
        audit_record(
            actor,
            "access_request.created",
            object_type="access_request",
            object_id=str(request.pk),
            after={
                "kind": request.kind,
                "role_id": role.pk,
                "role_code": role.code,
                "add_permissions": request.add_permissions,
                "new_scope": request.new_scope,
            },
            reason=reason,
        )
    return RoleChange(role, request)


def apply_role_grant(
    *, actor: Actor, role: Role, add_permissions: Iterable[str], new_scope: str
) -> dict[str, Any]:
    """Apply an approved grant; returns the role's after-snapshot. Unknown names are skipped."""
    current = set(RolePermission.objects.filter(role_id=role.pk).values_list("permission", flat=True))
    before = role_snapshot(role, current)
    wanted = current | {name for name in add_permissions if permission_registry.exists(name)}
    if new_scope:
        role.scope = new_scope
    role.mfa_required = _mfa(wanted, role.mfa_required)
    role.save(update_fields=["scope", "mfa_required", "updated_at"])
    _set_permissions(role, wanted)
    after = role_snapshot(role, wanted)
    audit_record(
        actor, "role.updated", object_type="role", object_id=str(role.pk), before=before, after=after
    )
    return after

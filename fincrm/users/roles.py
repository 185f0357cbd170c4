"""The built-in roles. Defined here, kept in step after every migrate, read-only in the UI
(administrators clone one to make a custom role)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.platform.actor import Scope


@dataclass(frozen=True)
class BuiltinRole:
    code: str
    name: str | Promise
    scope: Scope
    permissions: frozenset[str]
    mfa_required: bool = False


BUILTIN_ROLES: tuple[BuiltinRole, ...] = (
    BuiltinRole(
        "account_manager",
        _("Account manager"),
        Scope.OWN,
        frozenset(
            {
                "customer.view",
                "customer.create",
                "customer.edit",
                "pii.grant.request",
                "privacy.consent.record",
                "product.view",
            }
        ),
    ),
    BuiltinRole(
        "team_lead",
        _("Team lead"),
        Scope.TEAM,
        frozenset(
            {
                "customer.view",
                "customer.edit",
                "customer.reassign",
                "pii.grant.request",
                "privacy.consent.record",
                "product.view",
                "user.view",
                "org.view",
            }
        ),
    ),
    BuiltinRole(
        "branch_manager",
        _("Branch manager"),
        Scope.SUBTREE,
        frozenset(
            {
                "customer.view",
                "customer.edit",
                "customer.reassign",
                "customer.export",
                "pii.grant.request",
                "privacy.consent.record",
                "product.view",
                "user.view",
                "org.view",
            }
        ),
        mfa_required=True,
    ),
    BuiltinRole(
        "risk_officer",
        _("Risk officer"),
        Scope.INSTITUTION,
        frozenset({"customer.view", "pii.unmask_c2", "product.view", "user.view", "org.view"}),
        mfa_required=True,
    ),
    BuiltinRole(
        "compliance_officer",
        _("Compliance officer"),
        Scope.INSTITUTION,
        frozenset(
            {
                "customer.view",
                "pii.unmask_c2",
                "pii.grant.approve",
                "pii.grant.report",
                "privacy.manage",
                "privacy.request.view",
                "privacy.request.handle",
                "product.view",
                "audit.view",
                "user.view",
                "role.view",
                "org.view",
            }
        ),
        mfa_required=True,
    ),
    BuiltinRole(
        "operations",
        _("Operations"),
        Scope.SUBTREE,
        frozenset(
            {
                "customer.view",
                "customer.create",
                "customer.edit",
                "customer.merge",
                "data.import",
                "data.feed",
                "customer.tag.manage",
                "privacy.consent.record",
                "product.view",
                "product.manage",
                "org.view",
                "api.token.use",
            }
        ),
    ),
    BuiltinRole(
        "marketing",
        _("Marketing"),
        Scope.INSTITUTION,
        frozenset({"customer.view", "customer.tag.manage", "product.view", "org.view"}),
    ),
    BuiltinRole(
        "service_agent",
        _("Service agent"),
        Scope.INSTITUTION,
        frozenset(
            {
                "customer.view",
                "pii.grant.request",
                "privacy.consent.record",
                "privacy.request.view",
                "product.view",
            }
        ),
    ),
    BuiltinRole(
        "auditor",
        _("Auditor"),
        Scope.INSTITUTION,
        frozenset(
            {
                "audit.view",
                "audit.export",
                "customer.view",
                "pii.grant.report",
                "product.view",
                "user.view",
                "role.view",
                "org.view",
            }
        ),
        mfa_required=True,
    ),
    BuiltinRole(
        "system_admin",
        _("System administrator"),
        Scope.INSTITUTION,
        frozenset(
            {
                "user.view",
                "user.manage",
                "role.view",
                "role.manage",
                "role.approve",
                "org.view",
                "org.manage",
                "settings.manage",
                "customer.field.manage",
                "security.alert.view",
                "api.token.use",
            }
        ),
        mfa_required=True,
    ),
)

BUILTIN_BY_CODE = {role.code: role for role in BUILTIN_ROLES}


def builtin_name(code: str, fallback: str) -> str:
    """A built-in role's name in the current language; a custom role's stored name."""
    role = BUILTIN_BY_CODE.get(code)
    return str(role.name) if role else fallback


def sync_builtin_roles(**_: Any) -> None:
    from fincrm.users.models import Role, RolePermission

    with transaction.atomic(), translation.override("en"):
        for spec in BUILTIN_ROLES:
            role, _created = Role.objects.update_or_create(
                code=spec.code,
                defaults={
                    "name": str(spec.name),
                    "scope": spec.scope.value,
                    "is_builtin": True,
                    "mfa_required": spec.mfa_required,
                },
            )
            current = set(role.permission_rows.values_list("permission", flat=True))
            if current != spec.permissions:
                role.permission_rows.all().delete()
                RolePermission.objects.bulk_create(
                    RolePermission(role=role, permission=name) for name in sorted(spec.permissions)
                )

"""The permission registry and the built-in roles keep the segregation-of-duties rules."""

from __future__ import annotations

import pytest

from fincrm.platform import permissions
from fincrm.platform.actor import Scope
from fincrm.users.models import Role
from fincrm.users.roles import BUILTIN_BY_CODE, BUILTIN_ROLES

EXPECTED_ROLES = {
    "account_manager",
    "team_lead",
    "branch_manager",
    "risk_officer",
    "compliance_officer",
    "operations",
    "marketing",
    "service_agent",
    "auditor",
    "system_admin",
}


def test_the_ten_builtin_roles_exist() -> None:
    assert {role.code for role in BUILTIN_ROLES} == EXPECTED_ROLES


@pytest.mark.parametrize("role", BUILTIN_ROLES, ids=lambda role: role.code)
def test_builtin_roles_only_use_declared_permissions(role) -> None:  # type: ignore[no-untyped-def]
    assert all(permissions.exists(name) for name in role.permissions)


def test_system_administrator_reaches_no_customer_data() -> None:
    admin = BUILTIN_BY_CODE["system_admin"]
    assert permissions.reaching_customer_data(admin.permissions) == set()
    assert "user.manage" in admin.permissions
    assert "role.manage" in admin.permissions


@pytest.mark.parametrize(
    "code", ["system_admin", "branch_manager", "risk_officer", "compliance_officer", "auditor"]
)
def test_privileged_roles_require_mfa(code: str) -> None:
    role = BUILTIN_BY_CODE[code]
    assert role.mfa_required or permissions.any_privileged(role.permissions)


@pytest.mark.parametrize("code", ["account_manager", "team_lead", "operations", "marketing", "service_agent"])
def test_other_roles_have_mfa_optional(code: str) -> None:
    role = BUILTIN_BY_CODE[code]
    assert not role.mfa_required
    assert not permissions.any_privileged(role.permissions)


def test_scopes_of_the_front_line() -> None:
    assert BUILTIN_BY_CODE["account_manager"].scope == Scope.OWN
    assert BUILTIN_BY_CODE["team_lead"].scope == Scope.TEAM
    assert BUILTIN_BY_CODE["branch_manager"].scope == Scope.SUBTREE


@pytest.mark.django_db
def test_builtin_roles_are_synced_into_the_database() -> None:
    stored = {
        role.code: set(role.permission_rows.values_list("permission", flat=True))
        for role in Role.objects.filter(is_builtin=True)
    }
    assert stored == {role.code: set(role.permissions) for role in BUILTIN_ROLES}


def test_a_permission_cannot_be_declared_twice_with_another_meaning() -> None:
    spec = permissions.get("customer.view")
    with pytest.raises(ValueError, match=r"customer\.view"):
        permissions.register(
            permissions.PermissionSpec(spec.name, spec.label, spec.group, customer_data=False)
        )

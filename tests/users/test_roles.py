"""Custom roles: create, clone, change; built-in roles never change; customer-data reach is held."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent
from fincrm.platform import permissions as permission_registry
from fincrm.platform.actor import Scope
from fincrm.platform.errors import Conflict, Forbidden, ServiceError
from fincrm.users.models import AccessChangeRequest, Role, RolePermission
from fincrm.users.selectors.roles import permission_table
from fincrm.users.services.roles import SCOPE_ORDER, is_widening, role_clone, role_create, role_update
from tests.users.admin_support import actor, custom_role

pytestmark = pytest.mark.django_db


def perms(role: Role) -> list[str]:
    return sorted(RolePermission.objects.filter(role=role).values_list("permission", flat=True))


def test_create_role_with_known_permissions(world: object) -> None:
    role = role_create(
        actor=actor("system_admin_a"),
        code="desk_clerk",
        name="Desk clerk",
        scope="branch",
        permissions=["org.view", "customer.view"],
    )
    assert (role.is_builtin, role.scope, role.mfa_required) == (False, "branch", False)
    assert perms(role) == ["customer.view", "org.view"]
    event = AuditEvent.objects.get(action="role.created")
    assert event.after == {
        "code": "desk_clerk",
        "name": "Desk clerk",
        "description": "",
        "scope": "branch",
        "permissions": ["customer.view", "org.view"],
        "mfa_required": False,
    }


def test_create_role_rejects_unknown_permission_and_bad_code(world: object) -> None:
    with pytest.raises(ServiceError) as caught:
        role_create(
            actor=actor("system_admin_a"),
            code="Bad Code",
            name="",
            scope="galaxy",
            permissions=["customer.view", "customer.teleport"],
        )
    assert set(caught.value.fields) == {"code", "name", "scope", "permissions"}
    assert caught.value.fields["permissions"] == ["Unknown permission: customer.teleport."]
    assert not Role.objects.filter(is_builtin=False).exists()


def test_create_role_duplicate_code(world: object) -> None:
    with pytest.raises(ServiceError) as caught:
        role_create(actor=actor("system_admin_a"), code="auditor", name="Other", scope="own")
    assert caught.value.fields == {"code": ["A role with this code already exists."]}


def test_privileged_permission_forces_mfa(world: object) -> None:
    role = role_create(
        actor=actor("system_admin_a"),
        code="exporter",
        name="Exporter",
        scope="own",
        permissions=["customer.export"],
    )
    assert role.mfa_required is True


def test_only_role_managers_create_roles(world: object) -> None:
    with pytest.raises(Forbidden):
        role_create(actor=actor("auditor_a"), code="x1", name="X", scope="own")
    assert not Role.objects.filter(code="x1").exists()


def test_builtin_roles_cannot_be_changed(world: object) -> None:
    builtin = Role.objects.get(code="system_admin")
    before = perms(builtin)
    with pytest.raises(Conflict) as caught:
        role_update(
            actor=actor("system_admin_a"),
            role_id=builtin.pk,
            name="Hacked",
            scope="institution",
            permissions=[*before, "customer.view"],
        )
    assert caught.value.code == "builtin_role"
    builtin.refresh_from_db()
    assert builtin.name == "System administrator"
    assert perms(builtin) == before
    assert not AccessChangeRequest.objects.exists()


def test_clone_a_builtin_role(world: object) -> None:
    source = Role.objects.get(code="branch_manager")
    clone = role_clone(actor=actor("system_admin_a"), role_id=source.pk, code="bm_lite", name="BM lite")
    assert (clone.is_builtin, clone.scope, clone.mfa_required) == (False, "subtree", True)
    assert perms(clone) == perms(source)
    event = AuditEvent.objects.get(action="role.cloned")
    assert event.after["source_code"] == "branch_manager"
    assert event.after["code"] == "bm_lite"
    with pytest.raises(ServiceError):
        role_clone(actor=actor("system_admin_a"), role_id=source.pk, code="bm_lite", name="Again")


def test_removing_permissions_and_narrowing_apply_at_once(world: object) -> None:
    role = custom_role(scope="subtree", permissions=("customer.view", "customer.edit", "org.view"))
    change = role_update(
        actor=actor("system_admin_a"),
        role_id=role.pk,
        name="Desk",
        scope="team",
        permissions=["customer.view"],
    )
    assert change.request is None
    role.refresh_from_db()
    assert (role.scope, perms(role)) == ("team", ["customer.view"])


def test_non_customer_permissions_apply_at_once(world: object) -> None:
    role = custom_role(scope="own", permissions=("org.view",))
    change = role_update(
        actor=actor("system_admin_a"),
        role_id=role.pk,
        name="Desk",
        scope="institution",
        permissions=["org.view", "user.view"],
    )
    assert change.request is None
    role.refresh_from_db()
    assert (role.scope, perms(role)) == ("institution", ["org.view", "user.view"])


def test_mixed_edit_applies_the_safe_part_and_holds_the_rest(world: object) -> None:
    role = custom_role(scope="team", permissions=("customer.view", "customer.edit", "org.view"))
    change = role_update(
        actor=actor("system_admin_a"),
        role_id=role.pk,
        name="Desk renamed",
        scope="subtree",
        permissions=["customer.view", "customer.export", "user.view", "org.view"],
        reason="regional desk",
    )
    role.refresh_from_db()
    # Applied now: the rename, dropping customer.edit, adding user.view (no customer data).
    assert role.name == "Desk renamed"
    assert role.scope == "team"
    assert perms(role) == ["customer.view", "org.view", "user.view"]
    # Held: the customer-data permission and the wider scope.
    assert change.request is not None
    request = AccessChangeRequest.objects.get()
    assert (request.kind, request.status) == ("role_grant", "pending")
    assert (request.add_permissions, request.new_scope, request.reason) == (
        ["customer.export"],
        "subtree",
        "regional desk",
    )
    assert AuditEvent.objects.filter(action="role.updated").count() == 1
    assert AuditEvent.objects.get(action="access_request.created").after["add_permissions"] == [
        "customer.export"
    ]


def test_widening_a_role_without_customer_data_is_not_held_but_with_it_is(world: object) -> None:
    role = custom_role(scope="team", permissions=("customer.view",))
    change = role_update(
        actor=actor("system_admin_a"),
        role_id=role.pk,
        name="Desk",
        scope="branch",
        permissions=["customer.view"],
    )
    role.refresh_from_db()
    assert role.scope == "team"
    assert change.request is not None
    assert change.request.new_scope == "branch"
    assert change.request.add_permissions == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SCOPE_ORDER), st.sampled_from(SCOPE_ORDER))
def test_only_a_strictly_narrower_scope_is_not_widening(world: object, old: Scope, new: Scope) -> None:
    expected = SCOPE_ORDER.index(new) > SCOPE_ORDER.index(old)
    assert is_widening(old.value, new.value) is expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz._", min_size=1, max_size=20), max_size=4))
def test_any_unknown_permission_name_is_a_field_error(world: object, names: list[str]) -> None:
    unknown = sorted({name for name in names if not permission_registry.exists(name)})
    admin = actor("system_admin_a")
    if not unknown:
        role_create(actor=admin, code="probe", name="Probe", scope="own", permissions=names).delete()
        return
    with pytest.raises(ServiceError) as caught:
        role_create(actor=admin, code="probe", name="Probe", scope="own", permissions=names)
    assert caught.value.fields["permissions"] == [f"Unknown permission: {', '.join(unknown)}."]


def test_permission_table_groups_and_marks_customer_data(world: object) -> None:
    groups = {group.name: group.rows for group in permission_table({"customer.view"})}
    customers = {row.name: row for row in groups["Customers"]}
    assert customers["customer.view"].granted is True
    assert customers["customer.view"].customer_data is True
    users = {row.name: row for row in groups["Users and access"]}
    assert users["user.view"].customer_data is False
    assert users["user.view"].granted is False

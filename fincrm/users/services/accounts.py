"""Administration of staff users: create, change, deactivate, reactivate, assign and take away roles.

Rules (ARCHITECTURE.md, "Privileged administration"): assigning a role that reaches customer
data is held for a second administrator (services/approvals.py); nobody changes their own roles;
a role change, deactivation, org-unit change or team change ends the user's sessions and
API tokens at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext as _

from fincrm.audit.services import audit_record
from fincrm.org.models import OrgUnit, Team
from fincrm.platform import permissions as permission_registry
from fincrm.platform import transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, ServiceError
from fincrm.users.models import (
    AccessChangeRequest,
    ApiToken,
    Role,
    RoleAssignment,
    RolePermission,
    TeamMembership,
    User,
    username_validator,
)
from fincrm.users.selectors.accounts import access_user
from fincrm.users.selectors.roles import access_role


def user_snapshot(user: User) -> dict[str, Any]:
    """Plain fields for audit before/after (never the password hash)."""
    return {
        "username": user.username,
        "full_name": user.full_name,
        "email": user.email,
        "org_unit_id": user.org_unit_id,
        "team_ids": sorted(TeamMembership.objects.filter(user_id=user.pk).values_list("team_id", flat=True)),
        "is_active": user.is_active,
    }


def _end_sessions_and_tokens(user_id: int, reason: str) -> None:
    """End every browser session of the user and revoke their API tokens, now."""
    from fincrm.users.services.sessions import sessions_end_all_for_user

    sessions_end_all_for_user(user_id=user_id)
    ApiToken.objects.filter(owner_id=user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:200]
    )


def _refuse_self(actor: Actor, user_id: int, message: str) -> None:
    if actor.user_id is not None and actor.user_id == user_id:
        raise ServiceError(message, code="self_change")


def _clean_profile(
    *, actor: Actor, action: str, full_name: str, email: str, org_unit_id: int | None, team_ids: Iterable[int]
) -> tuple[str, str, OrgUnit, list[int]]:
    errors: dict[str, list[str]] = {}
    full_name = full_name.strip()
    email = email.strip()
    if not full_name:
        errors["full_name"] = [_("Enter the user's full name.")]
    elif len(full_name) > 100:
        errors["full_name"] = [_("Use at most 100 characters.")]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address.")]
    unit = OrgUnit.objects.visible_to(actor, action).filter(pk=org_unit_id, is_active=True).first()
    if unit is None:
        errors["org_unit"] = [_("Choose an org unit within your scope.")]
    wanted = sorted(set(team_ids))
    reachable = set(
        Team.objects.visible_to(actor, action)
        .filter(pk__in=wanted, is_active=True)
        .values_list("pk", flat=True)
    )
    if set(wanted) - reachable:
        errors["teams"] = [_("Choose teams within your scope.")]
    if errors:
        raise ServiceError(_("Please correct the marked fields."), fields=errors)
    assert unit is not None
    return full_name, email, unit, wanted


def _set_teams(user: User, team_ids: list[int]) -> bool:
    current = set(TeamMembership.objects.filter(user_id=user.pk).values_list("team_id", flat=True))
    wanted = set(team_ids)
    if current == wanted:
        return False
    TeamMembership.objects.filter(user_id=user.pk).exclude(team_id__in=wanted).delete()
    TeamMembership.objects.bulk_create(
        TeamMembership(user=user, team_id=team_id) for team_id in wanted - current
    )
    return True


@transaction.atomic
def user_create(
    *,
    actor: Actor,
    username: str,
    full_name: str,
    email: str = "",
    org_unit_id: int | None,
    team_ids: Iterable[int] = (),
    password: str,
    must_change_password: bool = True,
) -> User:
    """Create a staff user. The initial password must be changed at first sign-in; only the
    operator (the demo loader, a migration from another system) may hand out a final one."""
    require_permission(actor, "user.manage")
    must_change_password = must_change_password or not actor.is_operator
    username = username.strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        username_validator(username)
    except ValidationError as error:
        errors["username"] = [str(message) for message in error.messages]
    else:
        if User.objects.filter(username=username).exists():
            errors["username"] = [_("This username is already taken.")]
    try:
        full_name, email, unit, teams = _clean_profile(
            actor=actor,
            action="user.manage",
            full_name=full_name,
            email=email,
            org_unit_id=org_unit_id,
            team_ids=team_ids,
        )
    except ServiceError as error:
        errors.update(error.fields)
        full_name, email, unit, teams = full_name, email, None, []
    candidate = User(username=username, full_name=full_name, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as error:
        errors["password"] = [str(message) for message in error.messages]
    if errors:
        raise ServiceError(_("Please correct the marked fields."), fields=errors)
    assert unit is not None
    user = User(
        username=username,
        full_name=full_name,
        email=email,
        org_unit=unit,
        must_change_password=must_change_password,
    )
    user.set_password(password)
    user.save()
    _set_teams(user, teams)
    audit_record(actor, "user.created", object_type="user", object_id=str(user.pk), after=user_snapshot(user))
    return user


@transaction.atomic
def user_update(
    *,
    actor: Actor,
    user_id: int,
    full_name: str,
    email: str = "",
    org_unit_id: int | None,
    team_ids: Iterable[int] = (),
) -> User:
    user = access_user(actor, user_id, "user.manage", for_update=True)
    full_name, email, unit, teams = _clean_profile(
        actor=actor,
        action="user.manage",
        full_name=full_name,
        email=email,
        org_unit_id=org_unit_id,
        team_ids=team_ids,
    )
    current_teams = sorted(TeamMembership.objects.filter(user_id=user.pk).values_list("team_id", flat=True))
    reach_changes = unit.pk != user.org_unit_id or teams != current_teams
    if reach_changes:
        # Moving oneself would change one's own reach: that is another administrator's decision.
        _refuse_self(
            actor, user.pk, _("You cannot change your own org unit or teams; ask another administrator.")
        )
    before = user_snapshot(user)
    user.full_name = full_name
    user.email = email
    user.org_unit = unit
    user.save(update_fields=["full_name", "email", "org_unit", "updated_at"])
    _set_teams(user, teams)
    after = user_snapshot(user)
    if after != before:
        audit_record(
            actor, "user.updated", object_type="user", object_id=str(user.pk), before=before, after=after
        )
    if reach_changes:
        _end_sessions_and_tokens(user.pk, "org unit or teams changed")
    return user


@transaction.atomic
def user_deactivate(*, actor: Actor, user_id: int, reason: str = "") -> User:
    user = access_user(actor, user_id, "user.manage", for_update=True)
    _refuse_self(actor, user.pk, _("You cannot deactivate your own account."))
    if not user.is_active:
        raise Conflict(_("This user is already deactivated."))
    before = user_snapshot(user)
    user.is_active = False
    user.save(update_fields=["is_active", "updated_at"])
    audit_record(
        actor,
        "user.deactivated",
        object_type="user",
        object_id=str(user.pk),
        before=before,
        after=user_snapshot(user),
        reason=reason,
    )
    _end_sessions_and_tokens(user.pk, "user deactivated")
    return user


@transaction.atomic
def user_reactivate(*, actor: Actor, user_id: int, reason: str = "") -> User:
    user = access_user(actor, user_id, "user.manage", for_update=True)
    _refuse_self(actor, user.pk, _("You cannot reactivate your own account."))
    if user.is_active:
        raise Conflict(_("This user is already active."))
    before = user_snapshot(user)
    user.is_active = True
    user.save(update_fields=["is_active", "updated_at"])
    audit_record(
        actor,
        "user.reactivated",
        object_type="user",
        object_id=str(user.pk),
        before=before,
        after=user_snapshot(user),
        reason=reason,
    )
    return user


def role_permission_set(role: Role) -> set[str]:
    return set(RolePermission.objects.filter(role_id=role.pk).values_list("permission", flat=True))


def assignment_audit(user: User, role: Role) -> dict[str, Any]:
    return {"user_id": user.pk, "username": user.username, "role_id": role.pk, "role_code": role.code}


def apply_assignment(
    *,
    actor: Actor,
    user: User,
    role: Role,
    granted_by_id: int | None,
    approved_by_id: int | None,
    reason: str,
) -> RoleAssignment:
    """Give the role now (the approval, if one was needed, has been given). Ends sessions and tokens."""
    assignment, _created = RoleAssignment.objects.get_or_create(
        user=user, role=role, defaults={"granted_by_id": granted_by_id, "approved_by_id": approved_by_id}
    )
    audit_record(
        actor,
        "user.role.assigned",
        object_type="user",
        object_id=str(user.pk),
        after=assignment_audit(user, role) | {"approved_by_id": approved_by_id},
        reason=reason,
    )
    _end_sessions_and_tokens(user.pk, "roles changed")
    return assignment


@transaction.atomic
def user_role_assign(
    *, actor: Actor, user_id: int, role_id: int, reason: str = ""
) -> RoleAssignment | AccessChangeRequest:
    """Assign a role; one reaching customer data becomes a pending request for a second administrator."""
    user = access_user(actor, user_id, "role.manage", for_update=True)
    role = access_role(actor, role_id, "role.manage")
    _refuse_self(actor, user.pk, _("You cannot change your own roles; ask another administrator."))
    if RoleAssignment.objects.filter(user_id=user.pk, role_id=role.pk).exists():
        raise Conflict(_("The user already holds this role."))
    pending = AccessChangeRequest.objects.filter(
        kind=AccessChangeRequest.Kind.ASSIGNMENT,
        role_id=role.pk,
        target_user_id=user.pk,
        status=AccessChangeRequest.Status.PENDING,
    )
    if pending.exists():
        raise Conflict(_("A request to assign this role to this user is already waiting for approval."))
    # The operator (command line) acts with the server's own authority, e.g. to bootstrap the first
    # administrators; its grants apply at once and are audited as cli:<os user>.
    if permission_registry.reaching_customer_data(role_permission_set(role)) and not actor.is_operator:
        if actor.user_id is None:
            raise ServiceError(_("A grant that reaches customer data must be requested by a staff user."))
        request = AccessChangeRequest.objects.create(
            kind=AccessChangeRequest.Kind.ASSIGNMENT,
            role=role,
            target_user=user,
            reason=reason,
            requested_by_id=actor.user_id,
        )
        audit_record(
            actor,
            "access_request.created",
            object_type="access_request",
            object_id=str(request.pk),
            after={"kind": request.kind, **assignment_audit(user, role)},
            reason=reason,
        )
        return request
    return apply_assignment(
        actor=actor, user=user, role=role, granted_by_id=actor.user_id, approved_by_id=None, reason=reason
    )


@transaction.atomic
def user_role_unassign(*, actor: Actor, user_id: int, role_id: int, reason: str = "") -> None:
    """Taking a role away narrows access, so it applies at once."""
    user = access_user(actor, user_id, "role.manage", for_update=True)
    role = access_role(actor, role_id, "role.manage")
    _refuse_self(actor, user.pk, _("You cannot change your own roles; ask another administrator."))
    deleted, _rows = RoleAssignment.objects.filter(user_id=user.pk, role_id=role.pk).delete()
    if not deleted:
        raise Conflict(_("The user does not hold this role."))
    audit_record(
        actor,
        "user.role.unassigned",
        object_type="user",
        object_id=str(user.pk),
        before=assignment_audit(user, role),
        reason=reason,
    )
    _end_sessions_and_tokens(user.pk, "roles changed")

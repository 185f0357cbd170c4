"""Writes to the org tree and teams: validate, check permission and scope, write, audit."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import CharField, F, Max, Value
from django.db.models.functions import Concat, Length, Substr
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.org.models import PATH_SEPARATOR, OrgUnit, Team
from fincrm.org.selectors import access_org_unit, access_team
from fincrm.platform import transaction
from fincrm.platform.access import record_denied, require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, Forbidden, ServiceError

MANAGE = "org.manage"

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
NAME_MAX_LENGTH = 100
PATH_MAX_LENGTH = OrgUnit._meta.get_field("path").max_length or 255
# Room a new unit's own "<pk>/" segment may take when checking a parent's path before insert.
_PK_SEGMENT_RESERVE = 20

Kind = OrgUnit.Kind

# The kinds a unit of each kind may sit under; the institution is the root and has no parent.
ALLOWED_PARENT_KINDS: dict[str, frozenset[str]] = {
    Kind.INSTITUTION: frozenset(),
    Kind.BRANCH: frozenset({Kind.INSTITUTION, Kind.BRANCH}),
    Kind.SUB_BRANCH: frozenset({Kind.BRANCH, Kind.SUB_BRANCH}),
    Kind.DEPARTMENT: frozenset({Kind.INSTITUTION, Kind.BRANCH}),
}


# ---------------------------------------------------------------- validation helpers


def clean_code(value: object, *, field: str = "code") -> str:
    code = str(value or "").strip()
    if not code:
        raise ServiceError.field(field, _("Enter a code."), code="required")
    if not CODE_PATTERN.fullmatch(code):
        raise ServiceError.field(
            field,
            _("Use 1 to 32 letters, digits, dots, hyphens or underscores, starting with a letter or digit."),
        )
    return code


def clean_name(value: object, *, field: str = "name") -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise ServiceError.field(field, _("Enter a name."), code="required")
    if len(name) > NAME_MAX_LENGTH:
        raise ServiceError.field(field, _("Use at most %(limit)d characters.") % {"limit": NAME_MAX_LENGTH})
    return name


def _require_unique_unit_code(code: str, *, exclude_pk: int | None = None) -> None:
    taken = OrgUnit.objects.filter(code__iexact=code)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ServiceError.field("code", _("Another org unit already uses this code."), code="duplicate")


def _require_unique_team_code(code: str, *, exclude_pk: int | None = None) -> None:
    taken = Team.objects.filter(code__iexact=code)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ServiceError.field("code", _("Another team already uses this code."), code="duplicate")


def kind_rule_error(kind: str, parent_kind: str) -> Promise | None:
    """Why a unit of ``kind`` may not sit under a unit of ``parent_kind``, or None when it may."""
    if parent_kind in ALLOWED_PARENT_KINDS[kind]:
        return None
    if kind == Kind.INSTITUTION:
        return _("The institution is the root of the tree and has no parent.")
    if kind == Kind.BRANCH:
        return _("A branch must sit under the institution or another branch.")
    if kind == Kind.SUB_BRANCH:
        return _("A sub-branch must sit under a branch or another sub-branch.")
    return _("A department must sit under the institution or a branch.")


def _clean_kind(value: object) -> str:
    kind = str(value or "")
    if kind not in Kind.values:
        raise ServiceError.field("kind", _("Choose a kind of unit from the list."), code="invalid_choice")
    return kind


def unit_snapshot(unit: OrgUnit) -> dict[str, Any]:
    return {
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "parent_id": unit.parent_id,
        "path": unit.path,
        "depth": unit.depth,
        "is_active": unit.is_active,
    }


def team_snapshot(team: Team) -> dict[str, Any]:
    return {
        "code": team.code,
        "name": team.name,
        "org_unit_id": team.org_unit_id,
        "is_active": team.is_active,
    }


# ---------------------------------------------------------------- org units


def _insert_unit(*, parent: OrgUnit | None, code: str, name: str, kind: str) -> OrgUnit:
    unit = OrgUnit.objects.create(code=code, name=name, kind=kind, parent=parent, path="", depth=0)
    unit.path = (parent.path if parent is not None else PATH_SEPARATOR) + f"{unit.pk}{PATH_SEPARATOR}"
    unit.depth = parent.depth + 1 if parent is not None else 0
    OrgUnit.objects.filter(pk=unit.pk).update(path=unit.path, depth=unit.depth)
    return unit


@transaction.atomic
def institution_bootstrap(*, actor: Actor, code: str, name: str) -> OrgUnit:
    """Create the institution, the root of the tree. Only the command line (or a system job) may."""
    if not actor.is_operator:
        record_denied(actor, MANAGE, object_type="org_unit")
        raise Forbidden(MANAGE)
    clean_code_value = clean_code(code)
    clean_name_value = clean_name(name)
    if OrgUnit.objects.filter(kind=Kind.INSTITUTION).exists():
        raise Conflict(_("The institution already exists; there is exactly one."), code="institution_exists")
    _require_unique_unit_code(clean_code_value)
    unit = _insert_unit(parent=None, code=clean_code_value, name=clean_name_value, kind=Kind.INSTITUTION)
    audit_record(
        actor, "org.unit.created", object_type="org_unit", object_id=str(unit.pk), after=unit_snapshot(unit)
    )
    return unit


@transaction.atomic
def org_unit_create(*, actor: Actor, parent_id: int | None, code: str, name: str, kind: str) -> OrgUnit:
    kind = _clean_kind(kind)
    if parent_id is None:
        if kind != Kind.INSTITUTION:
            require_permission(actor, MANAGE)
            raise ServiceError.field("parent_id", _("Choose the unit this one belongs to."), code="required")
        return institution_bootstrap(actor=actor, code=code, name=name)

    require_permission(actor, MANAGE)
    parent = access_org_unit(actor, parent_id, MANAGE, for_update=True)
    clean_code_value = clean_code(code)
    clean_name_value = clean_name(name)
    problem = kind_rule_error(kind, parent.kind)
    if problem is not None:
        raise ServiceError.field("parent_id", problem, code="kind_rule")
    if not parent.is_active:
        raise ServiceError.field(
            "parent_id", _("The chosen parent unit is inactive."), code="inactive_parent"
        )
    if len(parent.path) + _PK_SEGMENT_RESERVE > PATH_MAX_LENGTH:
        raise ServiceError.field("parent_id", _("The tree is too deep under this unit."), code="too_deep")
    _require_unique_unit_code(clean_code_value)

    unit = _insert_unit(parent=parent, code=clean_code_value, name=clean_name_value, kind=kind)
    audit_record(
        actor, "org.unit.created", object_type="org_unit", object_id=str(unit.pk), after=unit_snapshot(unit)
    )
    return unit


@transaction.atomic
def org_unit_update(
    *,
    actor: Actor,
    unit_id: int,
    name: str | None = None,
    code: str | None = None,
    is_active: bool | None = None,
) -> OrgUnit:
    """Change a unit's name, code or active flag; None leaves a field as it is."""
    unit = access_org_unit(actor, unit_id, MANAGE, for_update=True)
    before = unit_snapshot(unit)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = clean_name(name)
    if code is not None:
        changes["code"] = clean_code(code)
        if changes["code"].lower() != unit.code.lower():
            _require_unique_unit_code(changes["code"], exclude_pk=unit.pk)
    if is_active is not None and is_active != unit.is_active:
        if is_active:
            if unit.parent is not None and not unit.parent.is_active:
                raise ServiceError.field(
                    "is_active", _("Activate the parent unit first."), code="inactive_parent"
                )
        else:
            _require_deactivatable(unit)
        changes["is_active"] = is_active
    changes = {field: value for field, value in changes.items() if getattr(unit, field) != value}
    if not changes:
        return unit

    for field, value in changes.items():
        setattr(unit, field, value)
    unit.save(update_fields=[*changes, "updated_at"])
    audit_record(
        actor,
        "org.unit.updated",
        object_type="org_unit",
        object_id=str(unit.pk),
        before=before,
        after=unit_snapshot(unit),
    )
    return unit


def _require_deactivatable(unit: OrgUnit) -> None:
    if unit.children.filter(is_active=True).exists():
        raise ServiceError.field(
            "is_active", _("Deactivate or move this unit's active sub-units first."), code="active_children"
        )
    # The users app's reverse relation; the org app imports no users code.
    if unit.users.filter(is_active=True).exists():
        raise ServiceError.field(
            "is_active", _("Move or deactivate this unit's active users first."), code="active_users"
        )
    if unit.teams.filter(is_active=True).exists():
        raise ServiceError.field(
            "is_active", _("Deactivate this unit's active teams first."), code="active_teams"
        )


@transaction.atomic
def org_unit_move(*, actor: Actor, unit_id: int, new_parent_id: int) -> OrgUnit:
    """Put a unit (with its whole subtree) under another parent."""
    unit = access_org_unit(actor, unit_id, MANAGE, for_update=True)
    new_parent = access_org_unit(actor, new_parent_id, MANAGE, for_update=True)
    if unit.parent_id is None:
        raise ServiceError.field(
            "new_parent_id", _("The institution is the root and cannot be moved."), code="root"
        )
    if new_parent.path.startswith(unit.path):
        raise ServiceError.field(
            "new_parent_id", _("A unit cannot be moved under itself or one of its sub-units."), code="cycle"
        )
    problem = kind_rule_error(unit.kind, new_parent.kind)
    if problem is not None:
        raise ServiceError.field("new_parent_id", problem, code="kind_rule")
    if unit.is_active and not new_parent.is_active:
        raise ServiceError.field(
            "new_parent_id",
            _("An active unit cannot be moved under an inactive one."),
            code="inactive_parent",
        )
    if new_parent.pk == unit.parent_id:
        return unit

    old_path = unit.path
    new_path = f"{new_parent.path}{unit.pk}{PATH_SEPARATOR}"
    depth_shift = new_parent.depth + 1 - unit.depth
    subtree = OrgUnit.objects.filter(path__startswith=old_path)
    longest_path = subtree.aggregate(longest=Max(Length("path")))["longest"] or len(old_path)
    if longest_path - len(old_path) + len(new_path) > PATH_MAX_LENGTH:
        raise ServiceError.field(
            "new_parent_id", _("The tree would be too deep under this unit."), code="too_deep"
        )

    before = unit_snapshot(unit)
    # One set-based UPDATE re-roots every path in the subtree: new prefix + the part after the old prefix.
    subtree.update(
        path=Concat(
            Value(new_path),
            Substr("path", Length(Value(old_path)) + 1),
            output_field=CharField(),
        ),
        depth=F("depth") + depth_shift,
        updated_at=timezone.now(),
    )
    OrgUnit.objects.filter(pk=unit.pk).update(parent=new_parent)
    unit.refresh_from_db()
    after = unit_snapshot(unit)
    audit_record(
        actor,
        "org.unit.moved",
        object_type="org_unit",
        object_id=str(unit.pk),
        before=before,
        after=after,
    )
    return unit


# ---------------------------------------------------------------- teams


@transaction.atomic
def team_create(*, actor: Actor, org_unit_id: int, code: str, name: str) -> Team:
    require_permission(actor, MANAGE)
    unit = access_org_unit(actor, org_unit_id, MANAGE, for_update=True)
    clean_code_value = clean_code(code)
    clean_name_value = clean_name(name)
    if not unit.is_active:
        raise ServiceError.field("org_unit_id", _("The chosen org unit is inactive."), code="inactive_unit")
    _require_unique_team_code(clean_code_value)
    team = Team.objects.create(code=clean_code_value, name=clean_name_value, org_unit=unit)
    audit_record(
        actor, "org.team.created", object_type="team", object_id=str(team.pk), after=team_snapshot(team)
    )
    return team


@transaction.atomic
def team_update(
    *,
    actor: Actor,
    team_id: int,
    name: str | None = None,
    code: str | None = None,
    org_unit_id: int | None = None,
    is_active: bool | None = None,
) -> Team:
    """Change a team's name, code, org unit or active flag; None leaves a field as it is."""
    team = access_team(actor, team_id, MANAGE, for_update=True)
    before = team_snapshot(team)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = clean_name(name)
    if code is not None:
        changes["code"] = clean_code(code)
        if changes["code"].lower() != team.code.lower():
            _require_unique_team_code(changes["code"], exclude_pk=team.pk)
    if org_unit_id is not None and org_unit_id != team.org_unit_id:
        unit = access_org_unit(actor, org_unit_id, MANAGE, for_update=True)
        if not unit.is_active:
            raise ServiceError.field(
                "org_unit_id", _("The chosen org unit is inactive."), code="inactive_unit"
            )
        changes["org_unit_id"] = unit.pk
    if is_active is not None:
        if is_active and "org_unit_id" not in changes and not team.org_unit.is_active:
            raise ServiceError.field(
                "is_active", _("Activate the team's org unit first."), code="inactive_unit"
            )
        changes["is_active"] = is_active
    changes = {field: value for field, value in changes.items() if getattr(team, field) != value}
    if not changes:
        return team

    for field, value in changes.items():
        setattr(team, field, value)
    team.save(update_fields=[*changes, "updated_at"])
    if "org_unit_id" in changes:
        team.refresh_from_db()
    audit_record(
        actor,
        "org.team.updated",
        object_type="team",
        object_id=str(team.pk),
        before=before,
        after=team_snapshot(team),
    )
    return team

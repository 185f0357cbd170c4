"""Reads of the org tree and teams, always scoped with ``visible_to``."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from fincrm.org.models import PATH_SEPARATOR, OrgUnit, Team
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor


def path_key(path: str) -> tuple[int, ...]:
    """Sort key that puts every unit right after its parent, whatever the database collation.

    Ordering by the path string is depth-first only under a byte-wise collation; a locale
    collation that ignores "/" would split subtrees, so the tree is ordered by these keys.
    """
    return tuple(int(part) for part in path.split(PATH_SEPARATOR) if part)


def org_unit_list(*, actor: Actor, action: str = "org.view") -> QuerySet[OrgUnit]:
    return OrgUnit.objects.visible_to(actor, action).order_by("path")


@dataclass(frozen=True)
class TreeRow:
    unit: OrgUnit
    level: int  # indentation relative to the shallowest unit the actor sees


def org_tree(*, actor: Actor, action: str = "org.view") -> list[TreeRow]:
    """The units the actor sees, depth-first (each after its parent), with an indentation level."""
    units = sorted(org_unit_list(actor=actor, action=action), key=lambda u: path_key(u.path))
    if not units:
        return []
    top = min(unit.depth for unit in units)
    return [TreeRow(unit, unit.depth - top) for unit in units]


def access_org_unit(actor: Actor, unit_id: object, action: str, *, for_update: bool = False) -> OrgUnit:
    queryset = OrgUnit.objects.visible_to(actor, action)
    if for_update:
        queryset = queryset.select_for_update()
    return access_object(queryset, unit_id, actor=actor, action=action, object_type="org_unit")


def org_unit_children(*, actor: Actor, unit: OrgUnit) -> list[OrgUnit]:
    """The unit's direct children that the actor sees."""
    children = org_unit_list(actor=actor).filter(parent_id=unit.pk)
    return sorted(children, key=lambda u: path_key(u.path))


def team_list(*, actor: Actor, org_unit_id: int | None = None, action: str = "org.view") -> QuerySet[Team]:
    teams = Team.objects.visible_to(actor, action).select_related("org_unit").order_by("code")
    if org_unit_id is not None:
        teams = teams.filter(org_unit_id=org_unit_id)
    return teams


def access_team(actor: Actor, team_id: object, action: str, *, for_update: bool = False) -> Team:
    queryset = Team.objects.visible_to(actor, action).select_related("org_unit")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    return access_object(queryset, team_id, actor=actor, action=action, object_type="team")

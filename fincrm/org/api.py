"""The org API: org units (the tree) and teams. Parse, call a selector or service, serialize."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import AuthenticationError
from ninja.pagination import paginate
from ninja.responses import Status

from fincrm.org import selectors, services
from fincrm.org.models import OrgUnit, Team
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.pagination import CursorPagination

router = Router(tags=["org"])

VIEW = "org.view"


class OrgUnitOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    path: str
    depth: int
    is_active: bool


class OrgUnitCreateIn(Schema):
    parent_id: int
    code: str
    name: str
    kind: str


class OrgUnitUpdateIn(Schema):
    code: str | None = None
    name: str | None = None
    is_active: bool | None = None


class OrgUnitMoveIn(Schema):
    new_parent_id: int


class TeamOut(Schema):
    id: int
    code: str
    name: str
    org_unit_id: int
    is_active: bool


class TeamCreateIn(Schema):
    org_unit_id: int
    code: str
    name: str


class TeamUpdateIn(Schema):
    code: str | None = None
    name: str | None = None
    org_unit_id: int | None = None
    is_active: bool | None = None


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


# ---------------------------------------------------------------- org units


@router.get("/org-units", response=list[OrgUnitOut])
@paginate(CursorPagination, ordering=("depth", "id"))
def list_org_units(request: HttpRequest) -> QuerySet[OrgUnit]:
    """The units the caller sees, by depth then id: every unit comes after its parent, whatever
    the database collation (``path`` gives the full position in the tree)."""
    actor = _actor(request)
    require_permission(actor, VIEW)
    return selectors.org_unit_list(actor=actor)


@router.get("/org-units/{unit_id}", response=OrgUnitOut)
def get_org_unit(request: HttpRequest, unit_id: int) -> OrgUnit:
    return selectors.access_org_unit(_actor(request), unit_id, VIEW)


@router.post("/org-units", response={201: OrgUnitOut})
def create_org_unit(request: HttpRequest, payload: OrgUnitCreateIn) -> Status[OrgUnit]:
    return Status(201, services.org_unit_create(actor=_actor(request), **payload.dict()))


@router.patch("/org-units/{unit_id}", response=OrgUnitOut)
def update_org_unit(request: HttpRequest, unit_id: int, payload: OrgUnitUpdateIn) -> OrgUnit:
    return services.org_unit_update(
        actor=_actor(request), unit_id=unit_id, **payload.dict(exclude_unset=True)
    )


@router.post("/org-units/{unit_id}/move", response=OrgUnitOut)
def move_org_unit(request: HttpRequest, unit_id: int, payload: OrgUnitMoveIn) -> OrgUnit:
    return services.org_unit_move(actor=_actor(request), unit_id=unit_id, new_parent_id=payload.new_parent_id)


# ---------------------------------------------------------------- teams


@router.get("/teams", response=list[TeamOut])
@paginate(CursorPagination, ordering=("code", "id"))
def list_teams(request: HttpRequest, org_unit_id: int | None = None) -> QuerySet[Team]:
    actor = _actor(request)
    require_permission(actor, VIEW)
    return selectors.team_list(actor=actor, org_unit_id=org_unit_id)


@router.get("/teams/{team_id}", response=TeamOut)
def get_team(request: HttpRequest, team_id: int) -> Team:
    return selectors.access_team(_actor(request), team_id, VIEW)


@router.post("/teams", response={201: TeamOut})
def create_team(request: HttpRequest, payload: TeamCreateIn) -> Status[Team]:
    return Status(201, services.team_create(actor=_actor(request), **payload.dict()))


@router.patch("/teams/{team_id}", response=TeamOut)
def update_team(request: HttpRequest, team_id: int, payload: TeamUpdateIn) -> Team:
    return services.team_update(actor=_actor(request), team_id=team_id, **payload.dict(exclude_unset=True))

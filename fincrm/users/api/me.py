"""GET /api/v1/me: who the caller is and what they may do now."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from fincrm.platform.api import ErrorOut
from fincrm.users.roles import builtin_name
from fincrm.users.selectors.tokens import caller_profile

router = Router(tags=["me"])


class OrgUnitRef(Schema):
    id: int
    name: str


class TeamRef(Schema):
    id: int
    code: str
    name: str


class RoleRef(Schema):
    code: str
    name: str


class PermissionGrant(Schema):
    permission: str
    scopes: list[str]


class MfaState(Schema):
    enrolled: bool
    required: bool


class TokenInfo(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime


class MeOut(Schema):
    id: int
    username: str
    full_name: str
    org_unit: OrgUnitRef
    teams: list[TeamRef]
    roles: list[RoleRef]
    permissions: list[PermissionGrant]
    mfa: MfaState
    token: TokenInfo | None


@router.get("/me", response={200: MeOut, 401: ErrorOut}, summary="The caller")
def me(request: HttpRequest) -> MeOut:
    profile = caller_profile(actor=request.actor)  # type: ignore[attr-defined]
    user, token = profile.user, profile.token
    return MeOut(
        id=user.pk,
        username=user.username,
        full_name=user.full_name,
        org_unit=OrgUnitRef(id=user.org_unit_id, name=user.org_unit.name),
        teams=[TeamRef(id=team.pk, code=team.code, name=team.name) for team in profile.teams],
        roles=[RoleRef(code=role.code, name=builtin_name(role.code, role.name)) for role in profile.roles],
        permissions=[
            PermissionGrant(permission=name, scopes=scopes) for name, scopes in profile.grants.items()
        ],
        mfa=MfaState(enrolled=profile.mfa_enrolled, required=profile.mfa_required),
        token=(
            TokenInfo(
                id=token.pk,
                name=token.name,
                prefix=token.prefix,
                scopes=token.scopes,
                expires_at=token.expires_at,
            )
            if token is not None
            else None
        ),
    )

"""Reading API tokens: a user's own, and the one a bearer presents."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from fincrm.org.models import OrgUnit, Team
from fincrm.platform.access import access_object, record_denied
from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound
from fincrm.platform.permissions import all_permissions
from fincrm.platform.prepared import execute_prepared
from fincrm.platform.rows import load_instance, select_columns, sql_text, table, width
from fincrm.users.actors import access_columns, grants_for_user, user_with_unit, user_with_unit_columns
from fincrm.users.models import ApiToken, MfaDevice, Role, User
from fincrm.users.services.mfa import user_requires_mfa


def own_token_list(*, actor: Actor) -> QuerySet[ApiToken]:
    """The actor's own tokens, newest first (revoked and expired ones included)."""
    if actor.user_id is None:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(owner_id=actor.user_id).order_by("-id")


def _tokens_reachable(actor: Actor, action: str) -> QuerySet[ApiToken]:
    """Tokens the actor may act on: their own, or those of users they manage for ``action``."""
    if actor.is_operator:
        return ApiToken.objects.all()
    managed = User.objects.visible_to(actor, action).filter(pk=OuterRef("owner_id"))
    own = Q(owner_id=actor.user_id) if actor.user_id is not None else Q(pk__in=[])
    return ApiToken.objects.filter(own | Q(Exists(managed)))


def access_api_token(actor: Actor, token_id: object, *, for_update: bool = False) -> ApiToken:
    """A token the actor owns or manages (user.manage over its owner); NotFound otherwise."""
    tokens = _tokens_reachable(actor, "user.manage")
    if for_update:
        tokens = tokens.select_for_update()
    return access_object(tokens, token_id, actor=actor, action="api.token.revoke", object_type="api_token")


_BEARER_STATEMENT = """
SELECT {token_columns}, {user_columns}, {access}
FROM {tokens} k JOIN {users} u ON u.id = k.owner_id JOIN {units} o ON o.id = u.org_unit_id
WHERE k.prefix = %(prefix)s"""


@lru_cache(maxsize=4)
def _bearer_sql(vendor: str) -> str:
    """The token, its owner, the owner's unit and the owner's grants and teams: one statement,
    written once (the ORM would build and compile it anew on every API call, ~3 ms of CPU)."""
    del vendor  # the cache key: quoting and the joining function differ per database
    return sql_text(
        _BEARER_STATEMENT,
        token_columns=select_columns(ApiToken, "k", connection),
        user_columns=user_with_unit_columns(connection),
        access=access_columns("k.owner_id", connection),
        tokens=table(ApiToken, connection),
        users=table(User, connection),
        units=table(OrgUnit, connection),
    )


def token_for_prefix(prefix: str) -> ApiToken | None:
    """The token a bearer names by its prefix, with its owner (and the owner's unit) and the
    owner's grants and teams, in one statement; authentication checks the rest."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, "fincrm_bearer", _bearer_sql(connection.vendor), {"prefix": prefix})
        row = cursor.fetchone()
    if row is None:
        return None
    token = load_instance(ApiToken, row, 0, connection)
    token.owner = user_with_unit(row, width(ApiToken), connection)
    # Set as the ORM sets annotations; token_access reads them.
    grants, teams = row[-2:]
    token.__dict__.update(owner_grants=grants, owner_teams=teams)
    return token


def current_permissions(user_id: int) -> set[str]:
    """The permissions a user holds through their roles now."""
    return {name for name, scopes in grants_for_user(user_id).items() if scopes}


def grantable_scopes(actor: Actor, owner_id: int) -> list[str]:
    """The permissions a token for ``owner_id`` made by ``actor`` may carry, sorted.

    Known permissions the owner holds now; when the owner makes their own token, also only
    what the actor holds (a token making a token cannot widen itself).
    """
    held = current_permissions(owner_id)
    if not actor.is_operator and actor.user_id == owner_id:
        held &= set(actor.permissions)
    return [spec.name for spec in all_permissions() if spec.name in held]


@dataclass(frozen=True)
class CallerProfile:
    """Who an API caller is: the user, what they may do now, and the token they use, if any."""

    user: User
    teams: list[Team]
    roles: list[Role]
    grants: dict[str, list[str]]
    mfa_enrolled: bool
    mfa_required: bool
    token: ApiToken | None


def caller_profile(*, actor: Actor) -> CallerProfile:
    if actor.user_id is None:
        raise NotFound("user", "")
    user = User.objects.select_related("org_unit").get(pk=actor.user_id)
    token = ApiToken.objects.get(pk=actor.token_id) if actor.token_id is not None else None
    return CallerProfile(
        user=user,
        teams=list(Team.objects.filter(memberships__user_id=user.pk, is_active=True).order_by("code")),
        roles=list(Role.objects.filter(assignments__user_id=user.pk).order_by("code")),
        grants={
            name: sorted(scope.value for scope in actor.grants[name]) for name in sorted(actor.permissions)
        },
        mfa_enrolled=MfaDevice.objects.filter(user_id=user.pk, confirmed_at__isnull=False).exists(),
        mfa_required=user_requires_mfa(user_id=user.pk),
        token=token,
    )


def user_id_for_username(*, actor: Actor, username: str) -> int:
    """The id of a user the actor may see (for user.view), by username; NotFound otherwise."""
    found = (
        User.objects.visible_to(actor, "user.view")
        .filter(username=username)
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        record_denied(actor, "user.view", object_type="user", object_id=username)
        raise NotFound("user", username)
    return int(found)

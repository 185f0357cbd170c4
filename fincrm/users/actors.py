"""Building the Actor for a user or an API token from their current roles.

A user's grants and teams are read in one statement (``access_of_user``); a bearer token's in
the same statement as the token itself (``access_columns`` in the token's statement,
fincrm.users.selectors.tokens.token_for_prefix), so signing in with a token is one query that
sees revocation, deactivation and role changes as they are at that moment (nothing is cached).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper

from fincrm.org.models import OrgUnit, Team
from fincrm.platform.actor import Actor, ActorKind, Scope
from fincrm.platform.rows import load_instance, select_columns, sql_text, table, width
from fincrm.users.models import ApiToken, Role, RoleAssignment, RolePermission, TeamMembership, User

# Separators of the joined grants ("permission:scope,permission:scope") and teams ("1,2") that
# _ACCESS_COLUMNS writes: permission names are dotted identifiers and scopes are Scope values, so
# neither holds them.
_ITEM = ","
_PAIR = ":"


def grants_for_user(user_id: int) -> dict[str, frozenset[Scope]]:
    """Permission -> the union of the scopes of every role of the user that grants it."""
    grants: defaultdict[str, set[Scope]] = defaultdict(set)
    rows = RolePermission.objects.filter(role__assignments__user_id=user_id).values_list(
        "permission", "role__scope"
    )
    for permission, scope in rows:
        grants[permission].add(Scope(scope))
    return {permission: frozenset(scopes) for permission, scopes in grants.items()}


def access_of_user(user_id: int) -> tuple[dict[str, frozenset[Scope]], frozenset[int]]:
    """The user's grants (as ``grants_for_user``) and active teams, in one statement written once
    (``access_columns``: the ORM would build and compile it anew on every request)."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql_text("SELECT {access}", access=access_columns("%s", connection)), [user_id, user_id]
        )
        joined_grants, joined_teams = cursor.fetchone()
    return _joined_access(joined_grants, joined_teams)


# The grants ("permission:scope,…") and the active teams ("1,2") of the user {user_id}.
_ACCESS_COLUMNS = """
 (SELECT {joined}(p.permission || ':' || r.scope, ',') FROM {permissions} p
   JOIN {roles} r ON r.id = p.role_id JOIN {assignments} a ON a.role_id = r.id
   WHERE a.user_id = {user_id}),
 (SELECT {joined}(CAST(m.team_id AS TEXT), ',') FROM {memberships} m
   JOIN {teams} t ON t.id = m.team_id WHERE m.user_id = {user_id} AND t.is_active)"""


def access_columns(user_id: str, connection: BaseDatabaseWrapper) -> str:
    """Two SELECT-list columns of a hand-written statement: the grants and the active teams of the
    user whose id is the SQL ``user_id`` (a column, or a parameter's ``%s``), each joined as text
    (read back by ``_joined_access``)."""
    return sql_text(
        _ACCESS_COLUMNS,
        user_id=user_id,
        joined="STRING_AGG" if connection.vendor == "postgresql" else "GROUP_CONCAT",
        permissions=table(RolePermission, connection),
        roles=table(Role, connection),
        assignments=table(RoleAssignment, connection),
        memberships=table(TeamMembership, connection),
        teams=table(Team, connection),
    )


def _joined_access(
    joined_grants: str | None, joined_teams: str | None
) -> tuple[dict[str, frozenset[Scope]], frozenset[int]]:
    """Grants and teams as ``access_columns`` joins them (NULL when there are none)."""
    grants: defaultdict[str, set[Scope]] = defaultdict(set)
    for item in (joined_grants or "").split(_ITEM):
        permission, separator, scope = item.rpartition(_PAIR)
        if separator and permission:
            grants[permission].add(Scope(scope))
    teams = frozenset(int(item) for item in (joined_teams or "").split(_ITEM) if item)
    return {permission: frozenset(scopes) for permission, scopes in grants.items()}, teams


def user_with_unit_columns(connection: BaseDatabaseWrapper) -> str:
    """SELECT-list columns of a user (alias ``u``) and their unit (alias ``o``), for a
    hand-written statement joining ``{users} u JOIN {units} o ON o.id = u.org_unit_id``."""
    return f"{select_columns(User, 'u', connection)}, {select_columns(OrgUnit, 'o', connection)}"


def user_with_unit(row: Sequence[Any], start: int, connection: BaseDatabaseWrapper) -> User:
    """The user, their unit loaded, from ``user_with_unit_columns`` beginning at ``row[start]``."""
    user = load_instance(User, row, start, connection)
    user.org_unit = load_instance(OrgUnit, row, start + width(User), connection)
    return user


def token_access(token: ApiToken) -> tuple[dict[str, frozenset[Scope]], frozenset[int]] | None:
    """The owner's grants and teams read with the token (``access_columns``), else None."""
    if not hasattr(token, "owner_grants"):
        return None
    return _joined_access(getattr(token, "owner_grants", None), getattr(token, "owner_teams", None))


def _narrow(grants: dict[str, frozenset[Scope]], allowed: Iterable[str]) -> dict[str, frozenset[Scope]]:
    allowed_set = set(allowed)
    return {permission: scopes for permission, scopes in grants.items() if permission in allowed_set}


def actor_for_user(user: User, *, token: ApiToken | None = None) -> Actor:
    access = token_access(token) if token is not None else None
    grants, team_ids = access if access is not None else access_of_user(user.pk)
    if token is not None:
        # A token acts with its scopes intersected with its owner's roles as they are now.
        grants = _narrow(grants, token.scopes)
    return Actor(
        kind=ActorKind.TOKEN if token is not None else ActorKind.USER,
        label=f"token:{token.prefix}" if token is not None else f"user:{user.username}",
        user_id=user.pk,
        username=user.username,
        org_unit_id=user.org_unit_id,
        org_unit_path=user.org_unit.path,
        team_ids=team_ids,
        grants=grants,
        token_id=token.pk if token is not None else None,
    )

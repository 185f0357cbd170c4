"""Building the Actor for a user or an API token from their current roles.

A user's grants and teams are read in one statement (``access_of_user``); a bearer token's in
the same statement as the token itself (``with_access`` on the token query,
fincrm.users.selectors.tokens.token_for_prefix), so signing in with a token is one query that
sees revocation, deactivation and role changes as they are at that moment (nothing is cached).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Aggregate, CharField, OuterRef, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Cast, Concat

from fincrm.platform.actor import Actor, ActorKind, Scope
from fincrm.users.models import ApiToken, RolePermission, TeamMembership, User

# Separators of the joined grants ("permission:scope,permission:scope") and teams ("1,2"):
# permission names are dotted identifiers and scopes are Scope values, so neither holds them.
_ITEM = ","
_PAIR = ":"


class _JoinedText(Aggregate):
    """The group's values joined by a comma: STRING_AGG on PostgreSQL, GROUP_CONCAT on SQLite."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ',')"
    output_field = TextField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return super().as_sql(compiler, connection, function="GROUP_CONCAT", **extra_context)


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
    """The user's grants (as ``grants_for_user``) and active teams, in one statement."""
    grant_rows = RolePermission.objects.filter(role__assignments__user_id=user_id).values_list(
        "permission", "role__scope"
    )
    team_rows = (
        TeamMembership.objects.filter(user_id=user_id, team__is_active=True)
        .annotate(team_text=Cast("team_id", CharField()), team_mark=Value("", output_field=CharField()))
        .values_list("team_text", "team_mark")
    )
    grants: defaultdict[str, set[Scope]] = defaultdict(set)
    teams: set[int] = set()
    for name, scope in grant_rows.union(team_rows, all=True):
        if scope:
            grants[name].add(Scope(scope))
        else:  # a team row: its scope column is empty
            teams.add(int(name))
    return {permission: frozenset(scopes) for permission, scopes in grants.items()}, frozenset(teams)


def with_access(tokens: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
    """Tokens annotated with their owner's grants and active teams, joined as text (read back by
    ``token_access``): the token, its owner and their access in one statement."""
    grants = (
        RolePermission.objects.filter(role__assignments__user_id=OuterRef("owner_id"))
        .order_by()
        .values("role__assignments__user_id")
        .annotate(
            joined=_JoinedText(Concat("permission", Value(_PAIR), "role__scope", output_field=TextField()))
        )
        .values("joined")
    )
    teams = (
        TeamMembership.objects.filter(user_id=OuterRef("owner_id"), team__is_active=True)
        .order_by()
        .values("user_id")
        .annotate(joined=_JoinedText(Cast("team_id", TextField())))
        .values("joined")
    )
    return tokens.annotate(
        owner_grants=Subquery(grants, output_field=TextField()),
        owner_teams=Subquery(teams, output_field=TextField()),
    )


def token_access(token: ApiToken) -> tuple[dict[str, frozenset[Scope]], frozenset[int]] | None:
    """The owner's grants and teams a ``with_access`` query read with the token, else None."""
    if not hasattr(token, "owner_grants"):
        return None
    joined_grants: str = getattr(token, "owner_grants", None) or ""
    joined_teams: str = getattr(token, "owner_teams", None) or ""
    grants: defaultdict[str, set[Scope]] = defaultdict(set)
    for item in joined_grants.split(_ITEM):
        permission, separator, scope = item.rpartition(_PAIR)
        if separator and permission:
            grants[permission].add(Scope(scope))
    teams = frozenset(int(item) for item in joined_teams.split(_ITEM) if item)
    return {permission: frozenset(scopes) for permission, scopes in grants.items()}, teams


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

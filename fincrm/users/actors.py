"""Building the Actor for a user or an API token from their current roles."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from fincrm.platform.actor import Actor, ActorKind, Scope
from fincrm.users.models import ApiToken, RolePermission, TeamMembership, User


def grants_for_user(user_id: int) -> dict[str, frozenset[Scope]]:
    """Permission -> the union of the scopes of every role of the user that grants it."""
    grants: defaultdict[str, set[Scope]] = defaultdict(set)
    rows = RolePermission.objects.filter(role__assignments__user_id=user_id).values_list(
        "permission", "role__scope"
    )
    for permission, scope in rows:
        grants[permission].add(Scope(scope))
    return {permission: frozenset(scopes) for permission, scopes in grants.items()}


def _narrow(grants: dict[str, frozenset[Scope]], allowed: Iterable[str]) -> dict[str, frozenset[Scope]]:
    allowed_set = set(allowed)
    return {permission: scopes for permission, scopes in grants.items() if permission in allowed_set}


def actor_for_user(user: User, *, token: ApiToken | None = None) -> Actor:
    grants = grants_for_user(user.pk)
    if token is not None:
        # A token acts with its scopes intersected with its owner's roles as they are now.
        grants = _narrow(grants, token.scopes)
    team_ids = frozenset(
        TeamMembership.objects.filter(user_id=user.pk, team__is_active=True).values_list("team_id", flat=True)
    )
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

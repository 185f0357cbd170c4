"""The authorization matrix: for every page and endpoint, anonymous / no permission /
in scope / out of scope, for every built-in role (in the spirit of NetBox's ViewTestCases).

Declare a Case per page or endpoint and let ``matrix()`` generate the parameters:

    CASES = [Case("user detail", "get", "/admin/users/{pk}/", "user.view", target=user_target)]

    @pytest.mark.parametrize(("case", "role", "variant"), matrix(CASES))
    def test_authorization(case, role, variant, world, client):
        check(case, role, variant, world, client)

Expectations follow ARCHITECTURE.md: anonymous pages redirect to sign-in and anonymous API
calls answer 401; a collection without the permission answers 403; an object without the
permission or outside the scope answers 404. Every denial leaves the database unchanged
(no row, no audit event) and records an ``access.denied`` security event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from fincrm.audit.models import SecurityEvent
from fincrm.platform.actor import Scope
from fincrm.users.models import User
from fincrm.users.roles import BUILTIN_ROLES, BuiltinRole
from tests.support.auth import sign_in
from tests.support.world import World

IN_SCOPE = "in_scope"
OUT_OF_SCOPE = "out_of_scope"
NO_PERMISSION = "no_permission"
ANONYMOUS = "anonymous"

# Rows that every request may write (sign-in bookkeeping, sessions, security events).
_VOLATILE = {"audit.securityevent", "users.loginattempt", "users.usersession", "sessions.session"}

Target = Callable[[World, User, str], int]


def user_target(world: World, actor: User, variant: str) -> int:
    """A staff user: the actor itself for own scope, a peer beside it in scope, one in branch B outside."""
    if variant == OUT_OF_SCOPE:
        return World.user("peer_b").pk
    return World.user("peer_a").pk


def self_target(world: World, actor: User, variant: str) -> int:
    return World.user("peer_b").pk if variant == OUT_OF_SCOPE else actor.pk


def unit_target(world: World, actor: User, variant: str) -> int:
    return world.sub_b1 if variant == OUT_OF_SCOPE else world.sub_a1


def customer_target(world: World, actor: User, variant: str) -> int:
    """A customer: in sub-branch A1 (managed by account_manager_a, covered by team A1) or in B1.

    Use with ``own_scope_reaches_target=True``: account_manager_a manages the in-scope customer."""
    return world.customer_b if variant == OUT_OF_SCOPE else world.customer_a


def team_target(world: World, actor: User, variant: str) -> int:
    return world.team_b1 if variant == OUT_OF_SCOPE else world.team_a1


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # "{pk}" is replaced by the target's id
    permission: str
    api: bool = False
    target: Target | None = None  # None: a collection or form that names no object
    data: dict[str, Any] | Callable[[World, int | None], dict[str, Any]] | None = None
    ok: tuple[int, ...] = (200,)
    # Roles whose own scope cannot reach the target (e.g. own-scope roles on a peer) see it out of scope.
    own_scope_reaches_target: bool = False
    extra_roles: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return self.name


def _role_scope(role: BuiltinRole, permission: str) -> Scope | None:
    return role.scope if permission in role.permissions else None


def matrix(cases: list[Case]) -> list[Any]:
    return list(_matrix(cases))


def _matrix(cases: list[Case]) -> Iterator[Any]:
    for case in cases:
        yield pytest.param(case, None, ANONYMOUS, id=f"{case.name}-anonymous")
        for role in BUILTIN_ROLES:
            scope = _role_scope(role, case.permission)
            if scope is None:
                yield pytest.param(
                    case, role.code, NO_PERMISSION, id=f"{case.name}-{role.code}-no_permission"
                )
                continue
            if case.target is not None and scope == Scope.OWN and not case.own_scope_reaches_target:
                yield pytest.param(case, role.code, OUT_OF_SCOPE, id=f"{case.name}-{role.code}-own_scope")
                continue
            yield pytest.param(case, role.code, IN_SCOPE, id=f"{case.name}-{role.code}-in_scope")
            if case.target is not None and scope != Scope.INSTITUTION:
                yield pytest.param(case, role.code, OUT_OF_SCOPE, id=f"{case.name}-{role.code}-out_of_scope")


def fingerprint() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every fincrm table but the volatile ones: equal before and after = nothing changed."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in _VOLATILE or not (
            model.__module__.startswith("fincrm.") or label.startswith("sessions.")
        ):
            continue
        snapshot[label] = list(model.objects.order_by("pk").values_list())
    return snapshot


def _request(client: Client, case: Case, world: World, target_id: int | None) -> Any:
    path = case.path.format(pk=target_id) if target_id is not None else case.path
    data = case.data(world, target_id) if callable(case.data) else case.data
    method = getattr(client, case.method)
    if case.api and case.method != "get":
        return method(path, data=data or {}, content_type="application/json")
    return method(path, data=data or {})


def check(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    if variant == ANONYMOUS:
        target_id = case.target(world, World.user("peer_a"), IN_SCOPE) if case.target else None
        before = fingerprint()
        response = _request(client, case, world, target_id)
        if case.api:
            assert response.status_code == 401, response.content
        else:
            assert response.status_code == 302, response.content
            assert "/signin/" in response["Location"]
        assert fingerprint() == before
        return

    assert role is not None
    actor = World.user(f"{role}_a")
    sign_in(client, actor)
    target_variant = IN_SCOPE if variant in (IN_SCOPE, NO_PERMISSION) else OUT_OF_SCOPE
    if variant == OUT_OF_SCOPE and case.target is not None:
        spec = next(spec for spec in BUILTIN_ROLES if spec.code == role)
        if spec.scope == Scope.OWN and not case.own_scope_reaches_target:
            target_variant = IN_SCOPE  # a peer in the same team is already outside own scope
    target_id = case.target(world, actor, target_variant) if case.target else None

    if variant == IN_SCOPE:
        response = _request(client, case, world, target_id)
        assert response.status_code in case.ok, (response.status_code, response.content[:500])
        return

    denied_before = SecurityEvent.objects.filter(kind="access.denied", user_id=actor.pk).count()
    before = fingerprint()
    response = _request(client, case, world, target_id)
    expected = 404 if case.target is not None else 403
    assert response.status_code == expected, (response.status_code, response.content[:500])
    assert fingerprint() == before, "a denied call changed the database"
    denied_after = SecurityEvent.objects.filter(kind="access.denied", user_id=actor.pk).count()
    assert denied_after == denied_before + 1, "a denied call recorded no access.denied security event"

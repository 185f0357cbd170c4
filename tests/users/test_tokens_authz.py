"""The authorization matrix for the token endpoints and pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from fincrm.users.models import ApiToken, User
from tests.support.authz import IN_SCOPE, OUT_OF_SCOPE, Case, check, matrix
from tests.support.world import World

pytestmark = pytest.mark.django_db


def peer_token(world: World, actor: User, variant: str) -> int:
    """A token of another user: in the actor's branch (in scope) or in branch B (out of scope)."""
    owner = World.user("peer_b" if variant == OUT_OF_SCOPE else "peer_a")
    token = ApiToken.objects.create(
        owner=owner,
        name="peer's",
        prefix=f"pt{owner.pk:06d}",
        key_hash="0" * 64,
        scopes=[],
        created_by="test",
        expires_at=timezone.now() + timedelta(days=5),
    )
    return token.pk


CASES = [
    Case(
        "api token create", "post", "/api/v1/tokens", "api.token.use", api=True, data={"name": "x"}, ok=(201,)
    ),
    Case("api token revoke", "delete", "/api/v1/tokens/{pk}", "user.manage", api=True, target=peer_token),
    Case("token create page", "get", "/account/tokens/new/", "api.token.use"),
    Case(
        "token create post",
        "post",
        "/account/tokens/new/",
        "api.token.use",
        data={"name": "x", "scopes": ["org.view"], "expires_days": "5"},
    ),
    Case(
        "token revoke page",
        "post",
        "/account/tokens/{pk}/revoke/",
        "user.manage",
        target=peer_token,
        ok=(302,),
    ),
]


@pytest.mark.parametrize(("case", "role", "variant"), list(matrix(CASES)))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    cache.clear()
    check(case, role, variant, world, client)
    if variant == IN_SCOPE and case.target is not None:
        assert ApiToken.objects.filter(revoked_at__isnull=False).count() == 1


def test_matrix_covers_the_expected_roles() -> None:
    variants = {(case.name, role, variant) for case, role, variant in (p.values for p in matrix(CASES))}
    assert ("api token revoke", "system_admin", IN_SCOPE) in variants
    assert ("api token create", "operations", IN_SCOPE) in variants

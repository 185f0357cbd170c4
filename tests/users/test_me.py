"""GET /api/v1/me: who the caller is, what they may do now, and the token they use."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from fincrm.platform.actor import Actor
from fincrm.users.models import MfaDevice
from fincrm.users.roles import BUILTIN_BY_CODE
from fincrm.users.services.tokens import api_token_create
from tests.support.auth import sign_in
from tests.support.authz import ANONYMOUS, IN_SCOPE, Case, check
from tests.support.world import World

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters() -> None:
    cache.clear()


def test_me_for_a_session(client: Client, world: World) -> None:
    user = World.user("branch_manager_a")
    sign_in(client, user)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "username": "branch_manager_a",
        "full_name": "Branch Manager A",
        "org_unit": {"id": world.sub_a1, "name": "Sub-branch A1"},
        "teams": [{"id": world.team_a1, "code": "T-A1", "name": "Team A1"}],
        "roles": [{"code": "branch_manager", "name": "Branch manager"}],
        "permissions": [
            {"permission": name, "scopes": ["subtree"]}
            for name in sorted(BUILTIN_BY_CODE["branch_manager"].permissions)
        ],
        "mfa": {"enrolled": False, "required": True},
        "token": None,
    }


def test_me_shows_enrolled_mfa(client: Client, world: World) -> None:
    user = World.user("auditor_a")
    MfaDevice.objects.create(user=user, secret="JBSWY3DPEHPK3PXP", confirmed_at=timezone.now())
    sign_in(client, user)
    assert client.get("/api/v1/me").json()["mfa"] == {"enrolled": True, "required": True}


def test_me_for_a_token_shows_the_token_and_narrowed_permissions(client: Client, world: World) -> None:
    owner = World.user("system_admin_a")
    token, plaintext = api_token_create(
        actor=Actor.cli(),
        owner_id=owner.pk,
        name="directory sync",
        scopes=["org.view", "user.view"],
        expires_days=3,
    )
    data = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}").json()
    assert data["username"] == "system_admin_a"
    assert data["roles"] == [{"code": "system_admin", "name": "System administrator"}]
    assert data["permissions"] == [
        {"permission": "org.view", "scopes": ["institution"]},
        {"permission": "user.view", "scopes": ["institution"]},
    ]
    assert data["token"] == {
        "id": token.pk,
        "name": "directory sync",
        "prefix": token.prefix,
        "scopes": ["org.view", "user.view"],
        "expires_at": token.expires_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


ME = Case("me", "get", "/api/v1/me", "", api=True)
MY_TOKENS = Case("token list", "get", "/api/v1/tokens", "", api=True)
TOKEN_PAGE = Case("token list page", "get", "/account/tokens/", "")
EVERYONE = [
    "peer",
    "account_manager",
    "team_lead",
    "branch_manager",
    "risk_officer",
    "compliance_officer",
    "operations",
    "marketing",
    "service_agent",
    "auditor",
    "system_admin",
]


@pytest.mark.parametrize("case", [ME, MY_TOKENS, TOKEN_PAGE], ids=str)
@pytest.mark.parametrize("role", [None, *EVERYONE])
def test_everyone_signed_in_sees_their_own(
    case: Case, role: str | None, world: World, client: Client
) -> None:
    """These need no permission: each caller sees only their own account and tokens."""
    check(case, role, ANONYMOUS if role is None else IN_SCOPE, world, client)

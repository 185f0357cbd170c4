"""Fixtures shared by the administration tests (users, roles, approvals)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from fincrm.platform.actor import Actor
from fincrm.users.actors import actor_for_user
from fincrm.users.models import AccessChangeRequest, ApiToken, Role, RolePermission, User, UserSession
from tests.support.auth import sign_in
from tests.support.world import World


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def custom_role(
    code: str = "desk", *, scope: str = "own", permissions: tuple[str, ...] = ("org.view",)
) -> Role:
    role = Role.objects.create(code=code, name=code.title(), scope=scope)
    RolePermission.objects.bulk_create(RolePermission(role=role, permission=name) for name in permissions)
    return role


def live_session(user: User) -> Client:
    """A signed-in browser whose session has made one request (so its UserSession row exists)."""
    client = sign_in(Client(), user)
    client.get("/")
    assert UserSession.objects.filter(user=user).exists()
    return client


def live_token(user: User) -> ApiToken:
    return ApiToken.objects.create(
        owner=user,
        name="feed",
        prefix=f"p{user.pk}x{ApiToken.objects.count()}",
        key_hash="0" * 64,
        scopes=["user.view"],
        created_by=user.username,
        expires_at=timezone.now() + timedelta(days=30),
    )


def sessions_of(user: User) -> tuple[int, int]:
    """(UserSession rows, Django session rows) of the user."""
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    django_rows = sum(
        1 for session in Session.objects.all() if session.get_decoded().get("_auth_user_id") == str(user.pk)
    )
    return len(keys), django_rows


def pending_request(
    *, requester: str, role: Role, target: str | None = None, add_permissions: tuple[str, ...] = ()
) -> AccessChangeRequest:
    return AccessChangeRequest.objects.create(
        kind=AccessChangeRequest.Kind.ASSIGNMENT if target else AccessChangeRequest.Kind.ROLE_GRANT,
        role=role,
        target_user=World.user(target) if target else None,
        add_permissions=list(add_permissions),
        requested_by=World.user(requester),
    )

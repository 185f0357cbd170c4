"""Reading a user's own browser sessions and sign-in facts."""

from __future__ import annotations

from django.db.models import QuerySet

from fincrm.platform.actor import Actor
from fincrm.users.models import MfaDevice, RecoveryCode, Role, User, UserSession
from fincrm.users.services.sessions import own_user_id


def own_session_list(*, actor: Actor) -> QuerySet[UserSession]:
    """The actor's own sessions, latest activity first (nobody lists another user's here)."""
    if actor.user_id is None:
        return UserSession.objects.none()
    return UserSession.objects.filter(user_id=actor.user_id).order_by("-last_activity_at", "-pk")


def own_account(*, actor: Actor) -> User:
    return User.objects.select_related("org_unit").get(pk=own_user_id(actor))


def own_roles(*, actor: Actor) -> QuerySet[Role]:
    return Role.objects.filter(assignments__user_id=own_user_id(actor)).order_by("code")


def mfa_device_confirmed(*, user_id: int) -> bool:
    return MfaDevice.objects.filter(user_id=user_id, confirmed_at__isnull=False).exists()


def recovery_codes_left(*, user_id: int) -> int:
    return RecoveryCode.objects.filter(user_id=user_id, used_at__isnull=True).count()

"""Reading staff users, always within the caller's scope (out of scope = not found)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from fincrm.org.models import OrgUnit, Team
from fincrm.platform.access import access_object, require_permission
from fincrm.platform.actor import Actor
from fincrm.users.models import AccessChangeRequest, Role, RoleAssignment, TeamMembership, User, UserSession


@dataclass(frozen=True)
class UserFilter:
    org_unit_id: int | None = None
    role_id: int | None = None
    is_active: bool | None = None
    search: str = ""


def user_list(
    *, actor: Actor, filters: UserFilter | None = None, action: str = "user.view"
) -> QuerySet[User]:
    require_permission(actor, action)
    filters = filters or UserFilter()
    users = User.objects.visible_to(actor, action).select_related("org_unit")
    if filters.org_unit_id is not None:
        users = users.filter(org_unit_id=filters.org_unit_id)
    if filters.role_id is not None:
        users = users.filter(
            Exists(RoleAssignment.objects.filter(user_id=OuterRef("pk"), role_id=filters.role_id))
        )
    if filters.is_active is not None:
        users = users.filter(is_active=filters.is_active)
    term = filters.search.strip()
    if term:
        users = users.filter(Q(username__icontains=term) | Q(full_name__icontains=term))
    return users.order_by("username")


def access_user(actor: Actor, user_id: object, action: str, *, for_update: bool = False) -> User:
    """The user if the actor reaches them for ``action``; NotFound (and a recorded denial) otherwise."""
    users = User.objects.visible_to(actor, action).select_related("org_unit")
    if for_update:
        users = users.select_for_update(of=("self",))
    return access_object(users, object_id=user_id, actor=actor, action=action, object_type="user")


def user_get(*, actor: Actor, user_id: object) -> User:
    """One user with roles and teams loaded, for the detail page and the API."""
    user = access_user(actor, user_id, "user.view")
    return user_with_relations(user)


def user_with_relations(user: User) -> User:
    user_qs = (
        User.objects.filter(pk=user.pk)
        .select_related("org_unit")
        .prefetch_related(
            Prefetch("roles", queryset=Role.objects.order_by("code")),
            Prefetch("teams", queryset=Team.objects.order_by("code")),
        )
    )
    return user_qs.get()


def user_session_count(*, user_id: int) -> int:
    return UserSession.objects.filter(user_id=user_id).count()


def team_member_list(*, actor: Actor, team_id: int) -> QuerySet[User]:
    """Members of a team whom the actor may see (user.view); the team page checks the team itself."""
    members = TeamMembership.objects.filter(user_id=OuterRef("pk"), team_id=team_id)
    return (
        User.objects.visible_to(actor, "user.view")
        .filter(Exists(members))
        .select_related("org_unit")
        .order_by("username")
    )


def org_units_for(*, actor: Actor, action: str) -> QuerySet[OrgUnit]:
    """Org units a user may be placed in (or filtered by) under ``action``'s scope."""
    return OrgUnit.objects.visible_to(actor, action).filter(is_active=True).order_by("path")


def teams_for(*, actor: Actor, action: str) -> QuerySet[Team]:
    return (
        Team.objects.visible_to(actor, action)
        .filter(is_active=True)
        .select_related("org_unit")
        .order_by("code")
    )


def pending_approval_count(*, actor: Actor) -> int:
    """Pending requests this actor could decide (not their own, not about themselves)."""
    if not actor.can("role.approve"):
        return 0
    pending = AccessChangeRequest.objects.filter(status=AccessChangeRequest.Status.PENDING)
    if actor.user_id is not None:
        holds_role = Exists(RoleAssignment.objects.filter(role_id=OuterRef("role_id"), user_id=actor.user_id))
        pending = pending.exclude(requested_by_id=actor.user_id).exclude(target_user_id=actor.user_id)
        pending = pending.exclude(Q(kind=AccessChangeRequest.Kind.ROLE_GRANT) & Q(holds_role))
    return pending.count()


def user_reachable(*, actor: Actor, user_id: int, action: str) -> bool:
    """Whether the actor may act on the user under ``action`` (to show or hide buttons)."""
    return User.objects.visible_to(actor, action).filter(pk=user_id).exists()


def user_pending_requests(*, actor: Actor, user_id: int) -> QuerySet[AccessChangeRequest]:
    """Pending role assignments for the user, for administrators who see requests."""
    if not (actor.can("role.approve") or actor.can("role.manage")):
        return AccessChangeRequest.objects.none()
    return AccessChangeRequest.objects.filter(
        target_user_id=user_id, status=AccessChangeRequest.Status.PENDING
    ).select_related("role", "requested_by")

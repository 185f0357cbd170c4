"""Who is in a team: the users app knows, and org imports no users code (import contract),
so the users app registers its selector here when it starts and the team page asks for it.

    register_team_member_provider(team_member_list)   # in the users app's AppConfig.ready()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from fincrm.platform.actor import Actor


class TeamMemberProvider(Protocol):
    def __call__(self, *, actor: Actor, team_id: int) -> Iterable[Any]: ...


_provider: TeamMemberProvider | None = None


def register_team_member_provider(provider: TeamMemberProvider | None) -> None:
    global _provider
    _provider = provider


def team_members(*, actor: Actor, team_id: int) -> list[Any] | None:
    """The members the actor may see, or None when no app provides members (the page omits them)."""
    if _provider is None:
        return None
    return list(_provider(actor=actor, team_id=team_id))

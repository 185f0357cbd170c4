"""Who is acting: a signed-in user, an API token, the command line, or a system job.

Actors are built by the users app (which knows roles); everything else only reads them.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Scope(StrEnum):
    """Data scopes, narrowest first (ARCHITECTURE.md, "Data scopes")."""

    OWN = "own"
    TEAM = "team"
    BRANCH = "branch"
    SUBTREE = "subtree"
    INSTITUTION = "institution"


class ActorKind(StrEnum):
    ANONYMOUS = "anonymous"
    USER = "user"
    TOKEN = "token"  # noqa: S105 - an actor kind, not a secret
    CLI = "cli"
    SYSTEM = "system"


_EMPTY: Mapping[str, frozenset[Scope]] = MappingProxyType({})


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    label: str
    user_id: int | None = None
    username: str = ""
    org_unit_id: int | None = None
    org_unit_path: str = ""
    team_ids: frozenset[int] = frozenset()
    grants: Mapping[str, frozenset[Scope]] = field(default_factory=lambda: _EMPTY)
    token_id: int | None = None

    @property
    def is_operator(self) -> bool:
        """The command line and system jobs run with the server's own authority."""
        return self.kind in (ActorKind.CLI, ActorKind.SYSTEM)

    @property
    def is_authenticated(self) -> bool:
        return self.kind != ActorKind.ANONYMOUS

    def can(self, permission: str) -> bool:
        return self.is_operator or bool(self.grants.get(permission))

    def scopes_for(self, permission: str) -> frozenset[Scope]:
        if self.is_operator:
            return frozenset({Scope.INSTITUTION})
        return self.grants.get(permission, frozenset())

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(name for name, scopes in self.grants.items() if scopes)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(kind=ActorKind.ANONYMOUS, label="anonymous")

    @classmethod
    def cli(cls) -> Actor:
        try:
            os_user = getpass.getuser()
        except (KeyError, OSError):
            os_user = "unknown"
        return cls(kind=ActorKind.CLI, label=f"cli:{os_user}")

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(kind=ActorKind.SYSTEM, label=f"system:{job}")

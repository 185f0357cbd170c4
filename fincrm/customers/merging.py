"""How a merge reaches rows in other apps: each app registers a mover that re-points its rows from
the absorbed customer to the survivor (one set-based UPDATE per table) and returns the row count.

    merging.register_mover("portfolio.account", move_accounts)

The merge service calls every mover inside its transaction.
"""

from __future__ import annotations

from collections.abc import Callable

Mover = Callable[[int, int], int]  # (survivor_id, absorbed_id) -> rows moved

_movers: dict[str, Mover] = {}


def register_mover(label: str, mover: Mover) -> None:
    existing = _movers.get(label)
    if existing is not None and existing is not mover:
        raise ValueError(f"a mover named {label!r} is already registered")
    _movers[label] = mover


def movers() -> dict[str, Mover]:
    return dict(_movers)

"""fincrm's transaction block: ``django.db.transaction.atomic`` plus pre-commit callbacks.

Services write with ``@transaction.atomic`` from this module (``from fincrm.platform import
transaction``). It behaves exactly like Django's (decorator or context manager, ``using``,
``savepoint``, ``durable``) and adds one thing Django lacks: when the *outermost fincrm block*
on a connection exits without an exception, the registered pre-commit callbacks run inside the
still-open transaction, just before it commits. The audit app uses this to chain and insert the
events a whole service call buffered, taking the chain lock only for that moment (ARCHITECTURE.md,
"Audit"). A failing callback rolls the transaction back like any other exception.

"Outermost fincrm block" counts only blocks of this module: a Django ``atomic`` around it (a test
case, a management command) does not change when the callbacks run, it only decides when the
work really commits. platform imports no app; apps register here when they start:

    transaction.register_pre_commit(flush)        # flush(using, storage) -> None

``storage(using)`` is a dict that lives exactly as long as the current outermost fincrm block
(None outside one): an app keeps what it buffered there, and it is dropped with the block.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ContextDecorator
from types import TracebackType
from typing import Any, TypeVar, overload

from django.db import DEFAULT_DB_ALIAS, connections
from django.db import transaction as django_transaction
from django.db.transaction import on_commit

__all__ = ["atomic", "in_block", "on_commit", "register_pre_commit", "storage"]

PreCommit = Callable[[str, dict[str, Any]], None]
_callbacks: list[PreCommit] = []

FuncT = TypeVar("FuncT", bound=Callable[..., Any])


class _BlockState:
    __slots__ = ("depth", "storage")

    def __init__(self) -> None:
        self.depth = 0
        self.storage: dict[str, Any] = {}


def register_pre_commit(callback: PreCommit) -> None:
    """Run ``callback(using, storage)`` before every outermost fincrm block commits (once per callback)."""
    if callback not in _callbacks:
        _callbacks.append(callback)


def _state(using: str | None) -> _BlockState | None:
    # Connections are per thread, so is the state kept on them.
    state: _BlockState | None = vars(connections[using or DEFAULT_DB_ALIAS]).get("fincrm_block")
    return state


def in_block(using: str | None = None) -> bool:
    """Inside a fincrm atomic block on this connection (in this thread)?"""
    state = _state(using)
    return state is not None and state.depth > 0


def storage(using: str | None = None) -> dict[str, Any] | None:
    state = _state(using)
    return state.storage if state is not None and state.depth > 0 else None


class Atomic(ContextDecorator):
    """One instance may be entered recursively and from several threads (as a decorator it is
    shared), so everything that changes lives on the connection, never on the instance."""

    def __init__(self, using: str | None, savepoint: bool, durable: bool) -> None:
        self.using = using
        self.savepoint = savepoint
        self.durable = durable

    def __enter__(self) -> None:
        connection = connections[self.using or DEFAULT_DB_ALIAS]
        inner = django_transaction.Atomic(self.using, self.savepoint, self.durable)
        inner.__enter__()
        slots = vars(connection)
        slots.setdefault("fincrm_atomics", []).append(inner)
        state = slots.get("fincrm_block")
        if state is None or state.depth == 0:
            state = slots["fincrm_block"] = _BlockState()
        state.depth += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        using = self.using or DEFAULT_DB_ALIAS
        connection = connections[using]
        slots = vars(connection)
        inner: django_transaction.Atomic = slots["fincrm_atomics"].pop()
        state: _BlockState = slots["fincrm_block"]
        state.depth -= 1
        if state.depth == 0:
            slots["fincrm_block"] = None
            if exc_type is None and not connection.needs_rollback:
                try:
                    for callback in list(_callbacks):
                        callback(using, state.storage)
                except BaseException as error:
                    inner.__exit__(type(error), error, error.__traceback__)
                    raise
        inner.__exit__(exc_type, exc_value, traceback)
        return None


@overload
def atomic(using: FuncT) -> FuncT: ...


@overload
def atomic(using: str | None = None, savepoint: bool = True, durable: bool = False) -> Atomic: ...


def atomic(using: Any = None, savepoint: bool = True, durable: bool = False) -> Any:
    """``django.db.transaction.atomic`` with pre-commit callbacks at the outermost fincrm block."""
    if callable(using):
        return Atomic(DEFAULT_DB_ALIAS, savepoint, durable)(using)
    return Atomic(using, savepoint, durable)

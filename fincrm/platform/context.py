"""Per-request facts (request id, client address, user agent) that audit events record."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_ip: str = ""
    user_agent: str = ""
    # Writes that must survive the request's own transactions rolling back (security events
    # about a refused action): run once the request is done. None outside a request.
    deferred: list[Callable[[], object]] | None = field(default=None, compare=False)

    def defer_or_run(self, write: Callable[[], object]) -> None:
        if self.deferred is None:
            write()
        else:
            self.deferred.append(write)

    def run_deferred(self) -> None:
        while self.deferred:
            self.deferred.pop(0)()


_OUTSIDE = RequestContext()
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("fincrm_request_context")


def current() -> RequestContext:
    return _current.get(_OUTSIDE)


@contextmanager
def operation(*, request_id: str = "", client_ip: str = "", user_agent: str = "") -> Iterator[RequestContext]:
    """One unit of work (a web request, a command, a job): its security events are written when it
    is done, so an event about a refused action survives that action's transaction rolling back."""
    context = RequestContext(request_id or uuid.uuid4().hex, client_ip, user_agent, deferred=[])
    with bound(context):
        try:
            yield context
        finally:
            context.run_deferred()


@contextmanager
def bound(context: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)

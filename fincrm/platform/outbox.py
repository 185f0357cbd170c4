"""The transactional outbox (docs/adr/0003-jobs-and-outbox.md).

A service publishes a domain event in the same transaction as its change::

    outbox.publish("customer.updated", customer_id=customer.pk)

so the event exists exactly when the change does. Handlers register in their app's ``jobs.py``::

    @outbox.handles("customer.updated", name="analytics.rescore")
    def rescore(delivery: outbox.Delivery) -> None:
        ...  # delivery.ids["customer_id"], delivery.idempotency_key

The job ``platform.outbox.dispatch`` (run by the scheduler every few seconds) delivers every event
to every handler of its topic **at least once**. A transactional handler (the default) runs in its
own transaction together with inserting its ``OutboxDelivery`` row, unique per (event, handler):
its database effect and its done-mark commit together, so a crash before the commit undoes both
and the re-delivery applies the effect once; a second dispatcher racing it fails on the unique row
and is rolled back. A handler that calls another system (``transactional=False``) runs outside any
transaction and must pass ``delivery.idempotency_key`` (``"<event id>:<handler>"``) along, so the
receiver can drop a repeat.

Payloads carry ids only, never clear personal data: values are checked by
``fincrm.platform.jobs.check_ids`` (ints, booleans, None, id-like strings of at most 64 characters
without spaces that do not look like a mobile, resident ID or card number, and lists of those);
anything else raises ValueError.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from fincrm.platform import context, transaction
from fincrm.platform.jobs import check_ids, describe_error, exponential_backoff, periodic
from fincrm.platform.models import OutboxDelivery, OutboxEvent

__all__ = ["Delivery", "dispatch", "handlers", "handles", "publish"]

logger = logging.getLogger("fincrm.outbox")
FuncT = TypeVar("FuncT", bound=Callable[..., Any])
_TOPIC = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class Delivery:
    event_id: int
    topic: str
    ids: dict[str, Any]
    created_at: datetime
    handler: str

    @property
    def idempotency_key(self) -> str:
        return f"{self.event_id}:{self.handler}"


@dataclass(frozen=True)
class HandlerSpec:
    topic: str
    name: str
    function: Callable[[Delivery], Any]
    transactional: bool = True


handlers: dict[str, dict[str, HandlerSpec]] = {}


def handles(topic: str, *, name: str, transactional: bool = True) -> Callable[[FuncT], FuncT]:
    """Register ``function(delivery)`` as the handler ``name`` of ``topic``."""
    if not _TOPIC.match(topic) or not _TOPIC.match(name):
        raise ValueError("topics and handler names are dotted lower-case words, e.g. 'customer.updated'")

    def register(function: FuncT) -> FuncT:
        existing = handlers.get(topic, {}).get(name)
        if existing is not None and existing.function.__qualname__ != function.__qualname__:
            raise ValueError(f"{topic!r} already has a handler named {name!r}")
        handlers.setdefault(topic, {})[name] = HandlerSpec(topic, name, function, transactional)
        return function

    return register


def publish(topic: str, **ids: Any) -> OutboxEvent:
    """Write a domain event inside the caller's transaction. Values must be ids (see module doc)."""
    if not _TOPIC.match(topic):
        raise ValueError(f"topic {topic!r} must be dotted lower-case words, e.g. 'customer.updated'")
    return OutboxEvent.objects.create(topic=topic, payload=check_ids(ids))


@dataclass
class DispatchResult:
    delivered: int = 0
    failed: int = 0
    events_done: list[int] = field(default_factory=list)


def _deliver(spec: HandlerSpec, event: OutboxEvent) -> bool:
    """Deliver one event to one handler; False when another dispatcher delivered it first."""
    delivery = Delivery(event.pk, event.topic, dict(event.payload), event.created_at, spec.name)
    if not spec.transactional:
        spec.function(delivery)
    try:
        with transaction.atomic():
            if spec.transactional:
                spec.function(delivery)
            OutboxDelivery.objects.create(event=event, handler=spec.name, done_at=timezone.now())
    except IntegrityError:
        if OutboxDelivery.objects.filter(event=event, handler=spec.name).exists():
            return False  # a racing dispatcher committed first: our effect was rolled back
        raise
    return True


def dispatch(*, batch: int = 500, now: datetime | None = None) -> DispatchResult:
    """Deliver undispatched events (oldest first) to their handlers; a failing handler is retried
    with backoff on a later run, the other handlers of the event are not held up."""
    moment = now or timezone.now()
    result = DispatchResult()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=moment)
    events = list(OutboxEvent.objects.filter(dispatched_at__isnull=True).filter(due).order_by("id")[:batch])
    for event in events:
        done = set(OutboxDelivery.objects.filter(event=event).values_list("handler", flat=True))
        error: str | None = None
        for spec in handlers.get(event.topic, {}).values():
            if spec.name in done:
                continue
            try:
                with context.operation(request_id=f"outbox-{event.pk}"):
                    delivered = _deliver(spec, event)
                result.delivered += delivered
            except Exception as failure:
                error = f"{spec.name}: {describe_error(failure)}"[:500]
                result.failed += 1
                logger.warning("outbox event %s #%s: handler failed: %s", event.topic, event.pk, error)
        if error is None:
            OutboxEvent.objects.filter(pk=event.pk).update(dispatched_at=timezone.now())
            result.events_done.append(event.pk)
        else:
            attempts = event.attempts + 1
            OutboxEvent.objects.filter(pk=event.pk).update(
                attempts=attempts,
                next_attempt_at=moment + timedelta(seconds=exponential_backoff(attempts)),
                last_error=error,
            )
    return result


@periodic(
    "platform.outbox.dispatch",
    every=int(settings.FINCRM_OUTBOX_DISPATCH_SECONDS),
    atomic=False,
)
def dispatch_job() -> None:
    dispatch()

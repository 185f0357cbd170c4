"""The transactional outbox: at-least-once delivery, exactly-once database effect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fincrm.platform import jobs, outbox, transaction
from fincrm.platform.models import Job, OutboxDelivery, OutboxEvent

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
seen: list[tuple[str, int, str]] = []
crash_next: list[bool] = []
fail_next: list[bool] = []


@outbox.handles("tests.order.placed", name="tests.count")
def count(delivery: outbox.Delivery) -> None:
    # The handler's database effect: an event of another topic, tied to the source event.
    outbox.publish("tests.order.counted", source_id=delivery.event_id)
    if crash_next:
        crash_next.pop()
        raise RuntimeError("the process died after the effect, before the commit")
    seen.append(("count", delivery.event_id, delivery.idempotency_key))


@outbox.handles("tests.order.placed", name="tests.notify", transactional=False)
def notify(delivery: outbox.Delivery) -> None:
    if fail_next:
        fail_next.pop()
        raise ConnectionError("the other system is down")
    seen.append(("notify", delivery.event_id, delivery.idempotency_key))


@pytest.fixture(autouse=True)
def _reset() -> None:
    seen.clear()
    crash_next.clear()
    fail_next.clear()


def counted() -> list[int]:
    return list(
        OutboxEvent.objects.filter(topic="tests.order.counted").values_list("payload__source_id", flat=True)
    )


@transaction.atomic
def place_order(order_id: int, *, fail: bool = False) -> OutboxEvent:
    event = outbox.publish("tests.order.placed", order_id=order_id)
    if fail:
        raise RuntimeError("the order service fails after publishing")
    return event


def test_an_event_published_by_a_service_that_rolls_back_never_exists() -> None:
    with pytest.raises(RuntimeError):
        place_order(1, fail=True)
    assert OutboxEvent.objects.count() == 0


def test_every_handler_gets_the_event_once_with_its_idempotency_key() -> None:
    event = place_order(7)
    assert event.payload == {"order_id": 7}
    result = outbox.dispatch(now=T0)
    assert (result.delivered, result.failed, result.events_done) == (2, 0, [event.pk])
    assert sorted(seen) == [
        ("count", event.pk, f"{event.pk}:tests.count"),
        ("notify", event.pk, f"{event.pk}:tests.notify"),
    ]
    assert counted() == [event.pk]
    assert sorted(OutboxDelivery.objects.filter(event=event).values_list("handler", flat=True)) == [
        "tests.count",
        "tests.notify",
    ]
    event.refresh_from_db()
    assert event.dispatched_at is not None
    seen.clear()
    # The counted event has no handler: it is simply marked dispatched.
    assert outbox.dispatch(now=T0).delivered == 0
    assert seen == []


def test_a_crash_before_the_handlers_commit_undoes_its_effect_and_redelivery_applies_it_once() -> None:
    event = place_order(8)
    crash_next.append(True)
    result = outbox.dispatch(now=T0)
    assert (result.delivered, result.failed) == (1, 1)  # notify delivered, count crashed
    assert counted() == []  # the effect was rolled back with the handler's transaction
    assert list(OutboxDelivery.objects.values_list("handler", flat=True)) == ["tests.notify"]
    event.refresh_from_db()
    assert (event.dispatched_at, event.attempts, event.next_attempt_at) == (
        None,
        1,
        T0 + timedelta(seconds=10),
    )
    assert event.last_error.startswith("tests.count: builtins.RuntimeError at test_outbox.py:")
    assert outbox.dispatch(now=T0 + timedelta(seconds=9)).delivered == 0  # waits for its retry
    result = outbox.dispatch(now=T0 + timedelta(seconds=10))
    assert (result.delivered, result.failed, result.events_done) == (1, 0, [event.pk])
    assert counted() == [event.pk]
    assert [who for who, *_ in seen] == ["notify", "count"]  # notify was not repeated


def test_an_external_handler_that_fails_is_retried_with_the_same_idempotency_key() -> None:
    event = place_order(9)
    fail_next.append(True)
    outbox.dispatch(now=T0)
    outbox.dispatch(now=T0 + timedelta(minutes=1))
    assert seen == [
        ("count", event.pk, f"{event.pk}:tests.count"),
        ("notify", event.pk, f"{event.pk}:tests.notify"),
    ]
    assert counted() == [event.pk]


def test_a_delivery_already_done_is_not_repeated() -> None:
    event = place_order(10)
    # A dispatcher committed this handler's delivery, then died before marking the event dispatched.
    OutboxDelivery.objects.create(event=event, handler="tests.count", done_at=T0)
    outbox.dispatch(now=T0)
    assert counted() == []
    assert [who for who, *_ in seen] == ["notify"]


def test_the_dispatch_job_runs_on_the_worker_from_the_schedule() -> None:
    event = place_order(11)
    assert jobs.run_scheduler(once=True, now=T0, names=["platform.outbox.dispatch"]) == 1
    assert jobs.run_worker(once=True, now=T0) == 1
    assert Job.objects.get(task="platform.outbox.dispatch").status == "done"
    assert counted() == [event.pk]


@pytest.mark.parametrize(
    "value",
    ["call me on 13800138000", "a" * 65, "13800138000", "11010519491231002X", "5500000000000004", 1.5],
)
def test_payloads_carry_ids_never_personal_data(value: Any) -> None:
    with pytest.raises(ValueError, match="payload\\['order_id'\\]"):
        outbox.publish("tests.order.placed", order_id=value)
    assert OutboxEvent.objects.count() == 0


def test_topics_and_handler_names_are_dotted() -> None:
    with pytest.raises(ValueError, match="must be dotted"):
        outbox.publish("Order Placed", order_id=1)
    with pytest.raises(ValueError, match="dotted lower-case"):
        outbox.handles("tests.order.placed", name="nodots")
    with pytest.raises(ValueError, match="already has a handler"):
        outbox.handles("tests.order.placed", name="tests.count")(lambda delivery: None)

"""The job interface on the database backend (docs/adr/0003-jobs-and-outbox.md)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from fincrm.platform import jobs, transaction
from fincrm.platform.models import Job, OutboxEvent, Schedule

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
calls: list[int] = []


@jobs.job("tests.record", max_attempts=3)
def record(*, marker: int, note: str = "") -> None:
    # The job's database effect: an outbox row (any table would do).
    OutboxEvent.objects.create(topic="tests.recorded", payload={"marker": marker})
    calls.append(marker)


@jobs.job("tests.explode", max_attempts=3)
def explode(*, marker: int) -> None:
    OutboxEvent.objects.create(topic="tests.recorded", payload={"marker": marker})
    raise RuntimeError("customer 13800138000 is unhappy")  # a message that must not be stored


@jobs.periodic("tests.tick", every=60)
def tick() -> None:
    calls.append(-1)


def effects() -> list[int]:
    return list(OutboxEvent.objects.filter(topic="tests.recorded").values_list("payload__marker", flat=True))


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    calls.clear()


@transaction.atomic
def failing_service() -> None:
    jobs.enqueue("tests.record", marker=1)
    raise RuntimeError("the service fails after enqueueing")


@transaction.atomic
def good_service() -> Job:
    return jobs.enqueue("tests.record", marker=2, now=T0)


def test_a_job_enqueued_by_a_service_that_rolls_back_never_exists() -> None:
    with pytest.raises(RuntimeError):
        failing_service()
    assert Job.objects.count() == 0
    assert jobs.run_worker(once=True, now=T0) == 0


def test_a_committed_job_runs_once_and_is_marked_done() -> None:
    queued = good_service()
    assert (queued.task, queued.payload, queued.status, queued.run_after) == (
        "tests.record",
        {"marker": 2},
        "queued",
        T0,
    )
    assert jobs.run_worker(once=True, now=T0) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.attempts, queued.locked_by, queued.last_error) == ("done", 1, "", "")
    assert queued.finished_at is not None
    assert effects() == [2]
    assert jobs.run_worker(once=True, now=T0 + timedelta(hours=1)) == 0
    assert calls == [2]


def test_a_job_waits_for_its_run_after() -> None:
    jobs.enqueue("tests.record", marker=3, run_after=T0 + timedelta(minutes=5))
    assert jobs.run_worker(once=True, now=T0) == 0
    assert jobs.run_worker(once=True, now=T0 + timedelta(minutes=5)) == 1
    assert effects() == [3]


def test_a_failing_job_is_retried_with_backoff_then_dead_and_its_effect_never_stays() -> None:
    failing = jobs.enqueue("tests.explode", marker=9, now=T0)
    assert jobs.run_one(now=T0) is not None
    failing.refresh_from_db()
    assert (failing.status, failing.attempts, failing.run_after) == ("failed", 1, T0 + timedelta(seconds=10))
    assert failing.last_error.startswith("builtins.RuntimeError at test_jobs.py:")
    assert "13800138000" not in failing.last_error
    assert jobs.run_worker(once=True, now=T0 + timedelta(seconds=9)) == 0
    jobs.run_one(now=T0 + timedelta(seconds=10))
    failing.refresh_from_db()
    assert (failing.status, failing.attempts, failing.run_after) == ("failed", 2, T0 + timedelta(seconds=30))
    jobs.run_one(now=T0 + timedelta(seconds=30))
    failing.refresh_from_db()
    assert (failing.status, failing.attempts, failing.locked_by) == ("dead", 3, "")
    assert failing.finished_at is not None
    assert jobs.run_worker(once=True, now=T0 + timedelta(days=1)) == 0
    assert effects() == []


def test_the_backoff_doubles_and_is_capped_at_an_hour() -> None:
    assert [jobs.exponential_backoff(n) for n in (1, 2, 3, 4, 20)] == [10, 20, 40, 80, 3600]


def test_a_job_whose_worker_died_is_reclaimed_after_the_lock_timeout(settings: Any) -> None:
    settings.FINCRM_JOB_LOCK_TIMEOUT_SECONDS = 300
    queued = jobs.enqueue("tests.record", marker=4, now=T0)
    claimed = jobs._claim("dead-worker", T0)  # claimed and committed, then the worker died
    assert claimed is not None
    assert claimed.pk == queued.pk
    assert jobs.run_worker(once=True, now=T0 + timedelta(seconds=299)) == 0
    assert jobs.run_worker(once=True, now=T0 + timedelta(seconds=301)) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == ("done", 2)
    assert effects() == [4]


def test_a_worker_whose_lock_was_taken_over_undoes_its_run() -> None:
    queued = jobs.enqueue("tests.record", marker=5, now=T0)
    slow = jobs._claim("slow-worker", T0)
    assert slow is not None
    # The slow worker's lock went stale and another worker ran the job.
    assert jobs.run_worker(once=True, now=T0 + timedelta(hours=1)) == 1
    assert jobs._execute(slow, "slow-worker", T0) is False
    queued.refresh_from_db()
    assert queued.status == "done"
    assert effects() == [5]


def test_a_job_killed_as_often_as_it_may_run_is_dead() -> None:
    queued = jobs.enqueue("tests.record", marker=6, now=T0)
    for hour in range(3):
        assert jobs._claim("crashing", T0 + timedelta(hours=hour)) is not None
    assert jobs.run_worker(once=True, now=T0 + timedelta(hours=4)) == 0
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == ("dead", 3)
    assert effects() == []


def test_a_job_unknown_to_the_worker_is_dead_at_once() -> None:
    stray = Job.objects.create(task="gone.away", payload={}, run_after=T0)
    jobs.run_one(now=T0)
    stray.refresh_from_db()
    assert (stray.status, stray.last_error.split(" at ")[0]) == ("dead", "builtins.LookupError")


def test_a_dedupe_key_keeps_one_pending_job() -> None:
    first = jobs.enqueue("tests.record", marker=7, dedupe_key="k1")
    again = jobs.enqueue("tests.record", marker=8, dedupe_key="k1")
    assert again.pk == first.pk
    assert Job.objects.count() == 1
    jobs.run_worker(once=True)
    later = jobs.enqueue("tests.record", marker=8, dedupe_key="k1")
    assert later.pk != first.pk


def test_run_worker_stops_after_the_asked_number_of_jobs() -> None:
    for marker in range(3):
        jobs.enqueue("tests.record", marker=marker, now=T0)
    assert jobs.run_worker(stop_after=2, now=T0) == 2
    assert sorted(effects()) == [0, 1]


# ------------------------------------------------------------------ payloads carry ids only


def test_a_payload_is_checked_against_the_jobs_parameters() -> None:
    with pytest.raises(ValueError, match="unexpected keyword argument 'customer_id'"):
        jobs.enqueue("tests.record", marker=1, customer_id=3)
    with pytest.raises(ValueError, match="missing a required argument: 'marker'"):
        jobs.enqueue("tests.record")
    with pytest.raises(ValueError, match=r"no job named 'tests\.nothing'"):
        jobs.enqueue("tests.nothing")
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    "value",
    [
        "Zhang San lives at 1 Nanjing Road",  # free text
        "x" * 65,  # too long for an id
        "13800138000",  # a mobile
        "+8613800138000",
        "11010519491231002X",  # a resident ID number
        "4111111111111111",  # a card number (Luhn)
        3.5,
        {"nested": 1},
        [[1]],
        list(range(1001)),
    ],
)
def test_values_that_are_not_ids_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="payload\\['note'\\]"):
        jobs.enqueue("tests.record", marker=1, note=value)
    assert Job.objects.count() == 0


def test_ids_are_accepted() -> None:
    queued = jobs.enqueue("tests.record", marker=12345678901234, note="C-2025-000017")
    assert queued.payload == {"marker": 12345678901234, "note": "C-2025-000017"}


@given(st.text(min_size=1, max_size=40).filter(lambda text: any(char.isspace() for char in text)))
def test_any_text_with_a_space_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="looks like free text"):
        jobs.check_ids({"note": text})


@given(st.integers(), st.booleans(), st.none(), st.uuids())
def test_ints_booleans_none_and_uuids_are_ids(number: int, flag: bool, nothing: None, key: Any) -> None:
    assert jobs.check_ids({"a": number, "b": flag, "c": nothing, "d": key}) == {
        "a": number,
        "b": flag,
        "c": None,
        "d": str(key),
    }


def test_job_names_are_dotted() -> None:
    with pytest.raises(ValueError, match="must be dotted"):
        jobs.job("NoDots")
    with pytest.raises(ValueError, match="exactly one of"):
        jobs.periodic("tests.both", every=5, at=time(1, 0))


# ------------------------------------------------------------------ periodic jobs


def test_the_scheduler_enqueues_each_due_time_once_even_when_two_schedulers_run() -> None:
    assert jobs.run_scheduler(once=True, now=T0, names=["tests.tick"]) == 1
    assert jobs.run_scheduler(once=True, now=T0, names=["tests.tick"]) == 0  # the second scheduler
    ticks = Job.objects.filter(task="tests.tick")
    assert list(ticks.values_list("dedupe_key", flat=True)) == [f"tests.tick@{T0.isoformat()}"]
    schedule = Schedule.objects.get(task="tests.tick")
    assert (schedule.last_run_at, schedule.next_run_at) == (T0, T0 + timedelta(seconds=60))
    assert jobs.run_scheduler(once=True, now=T0 + timedelta(seconds=59), names=["tests.tick"]) == 0
    # Missed due times are skipped, not caught up: one run at +130 s, the next due at +180 s.
    assert jobs.run_scheduler(once=True, now=T0 + timedelta(seconds=130), names=["tests.tick"]) == 1
    schedule.refresh_from_db()
    assert (schedule.last_run_at, schedule.next_run_at) == (
        T0 + timedelta(seconds=60),
        T0 + timedelta(seconds=180),
    )
    assert ticks.count() == 2
    assert jobs.run_worker(once=True, now=T0 + timedelta(seconds=130)) == 2
    assert calls == [-1, -1]


def test_a_daily_schedule_is_due_at_its_local_time(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    spec = jobs.PeriodicSpec("tests.daily", at=time(2, 30))
    # 08:00 UTC is 16:00 in Shanghai: the next 02:30 Shanghai is 18:30 UTC the same day.
    assert spec.first(T0) == datetime(2025, 3, 1, 18, 30, tzinfo=UTC)
    assert spec.following(
        datetime(2025, 3, 1, 18, 30, tzinfo=UTC), datetime(2025, 3, 1, 18, 30, 1, tzinfo=UTC)
    ) == (datetime(2025, 3, 2, 18, 30, tzinfo=UTC))


def test_the_built_in_periodic_jobs_are_registered() -> None:
    assert jobs.schedules["platform.outbox.dispatch"].every == 5
    assert jobs.schedules["audit.head_export"].every == 3600
    assert jobs.schedules["audit.verify"].at == time(2, 30)


def test_now_helper_defaults_to_the_clock() -> None:
    before = timezone.now()
    assert jobs._now(None) >= before

"""fincrm's one job interface, with the database backend built in (docs/adr/0003-jobs-and-outbox.md).

Apps declare jobs in their own ``jobs.py`` (auto-loaded at start-up)::

    @job("customers.rescore", max_attempts=5)
    def rescore(*, customer_id: int) -> None: ...

    @periodic("audit.verify", every=3600)
    def verify() -> None: ...

and services enqueue them inside their own transaction, so a service that rolls back leaves no job::

    jobs.enqueue("customers.rescore", customer_id=customer.pk)

Payloads carry ids only (ints, short id-like strings, booleans, None, lists of those): they are
checked against the job's keyword parameters and refused (ValueError) when a value looks like
clear personal data or free text (``check_ids``).

``run_worker`` claims a due job (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, an IMMEDIATE
transaction on SQLite), marks it running and commits; then runs the function inside
``fincrm.platform.transaction.atomic`` together with the done-mark, so the job's database effect
and its done-mark commit together. A worker that dies mid-job leaves a running job whose lock goes
stale after ``FINCRM_JOB_LOCK_TIMEOUT_SECONDS``; another worker re-claims it and, since the dead
worker's transaction rolled back, the effect happens once. A job declared ``atomic=False`` manages
its own transactions (the outbox dispatcher) and must be idempotent.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connections
from django.db.models import Q
from django.utils import timezone

from fincrm.platform import context, transaction
from fincrm.platform.models import Job, Schedule

__all__ = [
    "JobSpec",
    "check_ids",
    "enqueue",
    "job",
    "periodic",
    "registry",
    "run_one",
    "run_scheduler",
    "run_worker",
]

logger = logging.getLogger("fincrm.jobs")
FuncT = TypeVar("FuncT", bound=Callable[..., Any])

MAX_ID_LENGTH = 64
MAX_LIST_LENGTH = 1000
_ID_TEXT = re.compile(r"[A-Za-z0-9_.:@/+=#-]*")
# Clear personal identifiers that are never ids: a mainland mobile, a resident ID number, a card number.
_MOBILE = re.compile(r"(\+?86)?1[3-9]\d{9}")
_RESIDENT_ID = re.compile(r"\d{17}[\dXx]|\d{15}")
_DIGITS = re.compile(r"\d{13,19}")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _check_text(where: str, value: str) -> None:
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{where}: a string longer than {MAX_ID_LENGTH} characters is not an id")
    # fullmatch: a trailing newline would slip past `$`.
    if not _ID_TEXT.fullmatch(value):
        raise ValueError(f"{where}: looks like free text, not an id (letters, digits and _.:@/+=#- only)")
    if (
        _MOBILE.fullmatch(value)
        or _RESIDENT_ID.fullmatch(value)
        or (_DIGITS.fullmatch(value) and _luhn_ok(value))
    ):
        raise ValueError(f"{where}: looks like a personal identifier; pass the record's id instead")


def _check_value(where: str, value: Any, *, nested: bool = False) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        _check_text(where, value)
        return value
    if isinstance(value, list | tuple | set | frozenset) and not nested:
        if len(value) > MAX_LIST_LENGTH:
            raise ValueError(f"{where}: more than {MAX_LIST_LENGTH} ids; enqueue batches instead")
        return [_check_value(where, item, nested=True) for item in value]
    raise ValueError(
        f"{where}: {type(value).__name__} is not an id (ints, short id strings, booleans, None, lists)"
    )


def check_ids(payload: dict[str, Any]) -> dict[str, Any]:
    """Return ``payload`` as JSON-ready ids, or raise ValueError for anything that is not an id."""
    checked: dict[str, Any] = {}
    for key, value in payload.items():
        if not re.match(r"^[a-z_][a-z0-9_]{0,63}$", key):
            raise ValueError(f"payload key {key!r} is not a keyword name")
        checked[key] = _check_value(f"payload[{key!r}]", value)
    return checked


Backoff = Callable[[int], float]


def exponential_backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: 10 s, 20 s, 40 s … capped at one hour."""
    return float(min(10 * 2 ** max(attempts - 1, 0), 3600))


@dataclass(frozen=True)
class JobSpec:
    name: str
    function: Callable[..., Any]
    max_attempts: int = 5
    backoff: Backoff = exponential_backoff
    atomic: bool = True

    def bind(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Check a payload against the job's declared keyword parameters and the ids-only rule."""
        checked = check_ids(payload)
        try:
            inspect.signature(self.function).bind(**checked)
        except TypeError as error:
            raise ValueError(f"job {self.name}: {error}") from None
        return checked


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    every: int | None = None
    at: time | None = None

    def following(self, due: datetime, now: datetime) -> datetime:
        """The first due time after ``now`` (missed runs are skipped, not caught up)."""
        if self.every is not None:
            step = timedelta(seconds=self.every)
            missed = int((now - due) / step) + 1 if now >= due else 1
            return due + missed * step
        assert self.at is not None
        zone = ZoneInfo(settings.TIME_ZONE)
        local = now.astimezone(zone)
        candidate = datetime.combine(local.date(), self.at, tzinfo=zone)
        if candidate <= local:
            candidate = datetime.combine(local.date() + timedelta(days=1), self.at, tzinfo=zone)
        return candidate

    def first(self, now: datetime) -> datetime:
        return now if self.every is not None else self.following(now, now)


registry: dict[str, JobSpec] = {}
schedules: dict[str, PeriodicSpec] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def job(
    name: str, *, max_attempts: int = 5, backoff: Backoff = exponential_backoff, atomic: bool = True
) -> Callable[[FuncT], FuncT]:
    """Register ``function(**ids)`` as the job ``name`` (dotted: ``<app>.<what>``)."""
    if not _NAME.match(name):
        raise ValueError(f"job name {name!r} must be dotted lower-case words, e.g. 'audit.verify'")

    def register(function: FuncT) -> FuncT:
        existing = registry.get(name)
        if existing is not None and existing.function.__qualname__ != function.__qualname__:
            raise ValueError(f"job {name!r} is already registered")
        registry[name] = JobSpec(name, function, max_attempts, backoff, atomic)
        return function

    return register


def periodic(
    name: str,
    *,
    every: int | None = None,
    at: time | None = None,
    max_attempts: int = 1,
    atomic: bool = True,
) -> Callable[[FuncT], FuncT]:
    """Register a job that takes no arguments and the schedule the scheduler enqueues it on:
    ``every`` seconds, or daily ``at`` a local time."""
    if (every is None) == (at is None):
        raise ValueError("a periodic job needs exactly one of every= or at=")
    if every is not None and every < 1:
        raise ValueError("every= must be at least one second")

    def register(function: FuncT) -> FuncT:
        job(name, max_attempts=max_attempts, atomic=atomic)(function)
        schedules[name] = PeriodicSpec(name, every, at)
        return function

    return register


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def enqueue(
    name: str,
    *,
    run_after: datetime | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
    **payload: Any,
) -> Job:
    """Add a job inside the caller's transaction (it runs only if that transaction commits).

    With ``dedupe_key``, a job with that key still queued, running or waiting to retry is returned
    instead of adding a second one."""
    spec = registry.get(name)
    if spec is None:
        raise ValueError(f"no job named {name!r} is registered")
    checked = spec.bind(payload)
    moment = _now(now)
    fields = {
        "task": name,
        "payload": checked,
        "max_attempts": spec.max_attempts,
        "run_after": run_after or moment,
        "dedupe_key": dedupe_key or "",
    }
    if not dedupe_key:
        return Job.objects.create(**fields)
    pending = Q(status__in=[Job.Status.QUEUED, Job.Status.RUNNING, Job.Status.FAILED])
    existing = Job.objects.filter(pending, dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Job.objects.create(**fields)
    except IntegrityError:
        # Another transaction added it first (PostgreSQL waits for it to commit, then refuses ours).
        found = Job.objects.filter(pending, dedupe_key=dedupe_key).first()
        if found is None:
            raise
        return found


def worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{threading.get_ident() % 100000}"


def _lock_timeout() -> timedelta:
    return timedelta(seconds=settings.FINCRM_JOB_LOCK_TIMEOUT_SECONDS)


def _claim(me: str, now: datetime) -> Job | None:
    """Take one due job (or one whose worker's lock went stale) and commit the claim."""
    due = Q(status__in=[Job.Status.QUEUED, Job.Status.FAILED], run_after__lte=now) | Q(
        status=Job.Status.RUNNING, locked_at__lt=now - _lock_timeout()
    )
    with transaction.atomic():
        claimed = (
            Job.objects.select_for_update(skip_locked=True).filter(due).order_by("run_after", "id").first()
        )
        if claimed is None:
            return None
        if claimed.attempts >= claimed.max_attempts:
            # Its workers died on it as often as it may be tried: give up rather than crash forever.
            Job.objects.filter(pk=claimed.pk).update(
                status=Job.Status.DEAD,
                locked_by="",
                locked_at=None,
                finished_at=now,
                last_error=claimed.last_error or "the worker stopped while running it (lock expired)",
            )
            logger.error("job %s #%s is dead: its workers stopped while running it", claimed.task, claimed.pk)
            return _claim(me, now)
        claimed.attempts += 1
        claimed.status = Job.Status.RUNNING
        claimed.locked_by = me
        claimed.locked_at = now
        claimed.save(update_fields=["attempts", "status", "locked_by", "locked_at"])
        return claimed


class _LockLost(Exception):
    """Our lock went stale and another worker took the job over: undo our run."""


def describe_error(error: BaseException) -> str:
    """The exception's class and innermost frames, never its message (which may quote data)."""
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    where = " <- ".join(f"{os.path.basename(frame.filename)}:{frame.lineno}" for frame in reversed(frames))
    return f"{type(error).__module__}.{type(error).__qualname__} at {where}"[:500]


def _execute(claimed: Job, me: str, now: datetime) -> bool:
    """Run one claimed job; True if it is done."""
    spec = registry.get(claimed.task)
    try:
        with context.operation(request_id=f"job-{claimed.pk}"):
            if spec is None:
                raise LookupError(f"no job named {claimed.task!r} is registered in this worker")
            if spec.atomic:
                with transaction.atomic():
                    spec.function(**claimed.payload)
                    if not _mark_done(claimed, me):
                        raise _LockLost
            else:
                spec.function(**claimed.payload)
                with transaction.atomic():
                    _mark_done(claimed, me)
        return True
    except _LockLost:
        logger.warning(
            "job %s #%s was taken over by another worker; our run was undone", claimed.task, claimed.pk
        )
        return False
    except Exception as error:
        description = describe_error(error)
        logger.warning(
            "job %s #%s failed (attempt %s): %s", claimed.task, claimed.pk, claimed.attempts, description
        )
        _mark_failed(claimed, me, description, spec, now)
        return False


def _mark_done(claimed: Job, me: str) -> bool:
    updated = Job.objects.filter(pk=claimed.pk, status=Job.Status.RUNNING, locked_by=me).update(
        status=Job.Status.DONE, locked_by="", locked_at=None, finished_at=timezone.now()
    )
    return updated == 1


def _mark_failed(claimed: Job, me: str, description: str, spec: JobSpec | None, now: datetime) -> None:
    with transaction.atomic():
        mine = Job.objects.filter(pk=claimed.pk, status=Job.Status.RUNNING, locked_by=me)
        if claimed.attempts >= claimed.max_attempts or spec is None:
            mine.update(
                status=Job.Status.DEAD,
                locked_by="",
                locked_at=None,
                finished_at=timezone.now(),
                last_error=description,
            )
            logger.error("job %s #%s is dead after %s attempts", claimed.task, claimed.pk, claimed.attempts)
        else:
            delay = timedelta(seconds=spec.backoff(claimed.attempts))
            mine.update(
                status=Job.Status.FAILED,
                locked_by="",
                locked_at=None,
                run_after=now + delay,
                last_error=description,
            )


def run_one(*, now: datetime | None = None, worker: str | None = None) -> Job | None:
    """Claim and run one due job; returns it (refreshed) or None when nothing is due."""
    me = worker or worker_id()
    moment = _now(now)
    claimed = _claim(me, moment)
    if claimed is None:
        return None
    _execute(claimed, me, moment)
    claimed.refresh_from_db()
    return claimed


def run_worker(
    *,
    once: bool = False,
    batch: int = 100,
    stop_after: int | None = None,
    stop: threading.Event | None = None,
    now: datetime | None = None,
    poll_seconds: float | None = None,
) -> int:
    """Run due jobs until stopped; returns how many ran.

    ``once``: run what is due now (at most ``batch``), then return. ``stop_after``: return after
    that many jobs. ``stop``: an event set by a signal handler; the current job finishes first."""
    me = worker_id()
    stop = stop or threading.Event()
    poll = poll_seconds if poll_seconds is not None else settings.FINCRM_JOB_POLL_SECONDS
    ran = 0
    try:
        while not stop.is_set():
            ran_now = 0
            while not stop.is_set() and ran_now < batch:
                if stop_after is not None and ran >= stop_after:
                    return ran
                claimed = _claim(me, _now(now))
                if claimed is None:
                    break
                _execute(claimed, me, _now(now))
                ran += 1
                ran_now += 1
            if once or (stop_after is not None and ran >= stop_after):
                return ran
            if ran_now == 0:
                stop.wait(poll)
    finally:
        if threading.current_thread() is not threading.main_thread():
            connections.close_all()
    return ran


def _sync_schedules(now: datetime) -> None:
    for spec in schedules.values():
        Schedule.objects.get_or_create(
            task=spec.name,
            defaults={"every_seconds": spec.every, "daily_at": spec.at, "next_run_at": spec.first(now)},
        )


def run_scheduler(
    *,
    once: bool = False,
    stop: threading.Event | None = None,
    now: datetime | None = None,
    poll_seconds: float = 1.0,
    names: Iterable[str] | None = None,
) -> int:
    """Enqueue every due periodic job once per due time (the dedupe key is name + due time, and the
    schedule row is advanced in the same transaction), then wait for the next; returns how many
    were enqueued."""
    stop = stop or threading.Event()
    wanted = set(names) if names is not None else None
    enqueued = 0
    while not stop.is_set():
        moment = _now(now)
        with transaction.atomic():
            _sync_schedules(moment)
        for spec in list(schedules.values()):
            if wanted is not None and spec.name not in wanted:
                continue
            with transaction.atomic():
                row = (
                    Schedule.objects.select_for_update(skip_locked=True)
                    .filter(task=spec.name, next_run_at__lte=moment)
                    .first()
                )
                if row is None:
                    continue
                due = row.next_run_at
                enqueue(spec.name, dedupe_key=f"{spec.name}@{due.isoformat()}", now=moment)
                row.last_run_at = due
                row.next_run_at = spec.following(due, moment)
                row.every_seconds, row.daily_at = spec.every, spec.at
                row.save(update_fields=["last_run_at", "next_run_at", "every_seconds", "daily_at"])
                enqueued += 1
        if once:
            break
        stop.wait(poll_seconds)
    return enqueued


# The outbox's dispatcher is a platform job: load it with the job registry.
from fincrm.platform import outbox as _outbox  # noqa: E402, F401

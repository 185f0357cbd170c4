"""Read events (``customer.viewed``) appended in batches by a writer thread, off the request path.

Opening a 360 must record who opened which customer "without slowing the page" (ARCHITECTURE.md,
"Audit"). Writing each event at once costs a transaction of its own under the chain lock
(begin, lock the head, insert, move the head, commit with a WAL flush) per view, and makes every
web worker queue on the chain head. ``audit_record_soon`` builds the event at once (who, when,
from where: the request's context, the time of the read) and hands it to a per-process writer
that appends everything waiting in one ``fincrm.platform.transaction.atomic`` block: the same
chaining, locking and insert as ``audit_record_many`` (one lock, one multi-row INSERT, one head
update, one commit for the whole batch). The chain stays as tamper-evident as ever: batched
events are hashed and linked exactly like any others, in the order they were recorded.

The bound:

* An event is written at most ``FINCRM_AUDIT_READ_EVENT_DELAY`` seconds (default 0.25) after it
  was recorded, in batches of at most ``BATCH`` events; a batch commits whole or not at all.
* A worker that stops normally (gunicorn's graceful stop, max-requests recycling, a timeout's
  abort, the interpreter exiting) writes what is waiting first (``atexit``).
* A failed write keeps the events, logs an error naming how many wait, and retries with a
  growing pause (at most ``RETRY_MAX_SECONDS``). Nothing is dropped: past ``MAX_PENDING``
  waiting events, recording writes synchronously again (and logs, like before, if that fails).
* A process killed outright (SIGKILL, out of memory, power loss) loses the events it had not
  yet written: at most the last ``FINCRM_AUDIT_READ_EVENT_DELAY`` seconds of that process's
  reads (plus any waiting after a failed write, which was logged when it failed). Before this
  writer the same kill lost the one event being written after its response.

``FINCRM_AUDIT_READ_EVENT_DELAY = 0`` writes each event at once, in the caller's thread (the
test run's default, so that a test sees the event in its own transaction).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from fincrm.audit import registry
from fincrm.audit.models import AuditEvent
from fincrm.audit.services import _append, _event
from fincrm.platform import context, transaction
from fincrm.platform.actor import Actor

logger = logging.getLogger("fincrm.audit")

DEFAULT_DELAY_SECONDS = 0.25
BATCH = 500  # events per transaction
MAX_PENDING = 20_000  # past this, record synchronously (back-pressure, never a drop)
RETRY_MAX_SECONDS = 5.0


def delay_seconds() -> float:
    """How long a read event may wait for its batch; 0 writes it at once."""
    value = getattr(settings, "FINCRM_AUDIT_READ_EVENT_DELAY", None)
    if value is None:
        config = getattr(settings, "CONFIG", None)
        return 0.0 if config is not None and config.is_test else DEFAULT_DELAY_SECONDS
    return max(0.0, float(value))


def write_events(events: list[AuditEvent], using: str = DEFAULT_DB_ALIAS) -> None:
    """Chain and insert ``events`` in one transaction (lock, one INSERT, head update, commit)."""
    with transaction.atomic(using=using):
        _append(events)


class BatchWriter:
    """The process's queue of read events and the thread that writes them.

    ``add`` never touches the database (unless the queue is over ``MAX_PENDING``); ``flush``
    writes what waits, in order, one batch per transaction. One flush runs at a time. After a
    fork the child starts with an empty queue: the parent still owns, and writes, its events.
    """

    def __init__(self, *, delay: float | None = None, using: str = DEFAULT_DB_ALIAS) -> None:
        self._delay = delay
        self._using = using
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._flushing = threading.Lock()
        self._events: list[AuditEvent] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._failures = 0

    @property
    def delay(self) -> float:
        return delay_seconds() if self._delay is None else self._delay

    def pending(self) -> int:
        with self._lock:
            return len(self._events)

    def add(self, event: AuditEvent) -> None:
        with self._lock:
            if len(self._events) < MAX_PENDING:
                self._events.append(event)
                self._start()
                # Wake the writer only when it waits for a first event or a full batch: while it
                # gathers a batch it wakes at its deadline anyway, and a wake-up per event (a 360
                # opened) cost the request threads the lock and a thread switch each time.
                if len(self._events) == 1 or len(self._events) >= BATCH:
                    self._ready.notify()
                return
        # The writer is far behind (the database refuses writes?): record at once, in this thread.
        write_events([event], self._using)

    def flush(self) -> int:
        """Write everything waiting now; returns how many events were written. A failure leaves
        the events queued, in order, and raises."""
        written = 0
        with self._flushing:
            while True:
                with self._lock:
                    batch = self._events[:BATCH]
                    del self._events[:BATCH]
                if not batch:
                    return written
                try:
                    write_events(batch, self._using)
                except BaseException:
                    with self._lock:
                        self._events[:0] = batch
                    raise
                written += len(batch)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._flushing = threading.Lock()
        self._events = []
        self._thread = None
        self._stopping = False
        self._failures = 0

    def _start(self) -> None:  # with self._lock held
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="fincrm-audit-reads", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            connections.close_all()  # this thread's own connections

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._events and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                if len(self._events) < BATCH:
                    # Gather what arrives within the delay (a full batch goes at once).
                    deadline = time.monotonic() + self.delay
                    while len(self._events) < BATCH and not self._stopping:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._ready.wait(left)
            try:
                self.flush()
            except Exception:
                self._failures += 1
                logger.exception(
                    "audit read events could not be written (%d waiting, attempt %d); retrying",
                    self.pending(),
                    self._failures,
                )
                connections[self._using].close()
                time.sleep(min(RETRY_MAX_SECONDS, 0.1 * 2**self._failures))
            else:
                self._failures = 0

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (it closes its database connection), then write what waits."""
        with self._lock:
            self._stopping = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            self._thread = None
            self._stopping = False
        self.close()

    def close(self) -> None:
        """Write what waits (at process exit); a failure is logged with the number of events."""
        if not self._events:
            return
        try:
            self.flush()
        except Exception:
            logger.exception("audit read events lost at exit: %d not written", self.pending())


_writer = BatchWriter()
os.register_at_fork(after_in_child=_writer.reset_after_fork)
atexit.register(_writer.close)


def writer() -> BatchWriter:
    return _writer


def audit_record_soon(
    actor: Actor,
    action: str,
    *,
    object_type: str = "",
    object_id: str = "",
    after: Mapping[str, Any] | None = None,
    request: context.RequestContext | None = None,
) -> AuditEvent:
    """Record a read event now (its time, actor and request context) and write it within the
    delay, in a batch; with a delay of 0, write it at once. ``request`` defaults to the current
    request context."""
    registry.get(action)
    event = _event(
        actor,
        action,
        timezone.now(),
        request if request is not None else context.current(),
        {"object_type": object_type, "object_id": object_id, "after": after},
    )
    if _writer.delay <= 0:
        write_events([event])
    else:
        _writer.add(event)
    return event

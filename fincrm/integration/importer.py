"""The import pipeline: read → prepare → stage → check → merge, all or nothing.

``import_run`` runs one uploaded batch (from the page's job, the ``fincrm import`` command or the
API): rows are read from the encrypted upload, prepared (validated, normalized, encrypted) in chunks
— in worker processes on PostgreSQL — and written to a staging table with ``COPY`` outside any
transaction, so the page can follow the progress. The checks then run set-based over the stage, and
the merge writes every real table, the audit events and one outbox event in ONE transaction: a bad
row, a crash or a SIGKILL leaves the database exactly as it was, and running the same file again
changes nothing (keys are matched on customer numbers and blind indexes, never ciphertext).

``load_rows`` is the same core for feeds, inside the caller's transaction.
"""

from __future__ import annotations

import array
import collections
import functools
import logging
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.utils import timezone
from django.utils.translation import gettext as _

from fincrm.audit.services import audit_record, audit_record_many, audit_record_stream
from fincrm.customers.models import AmlRiskRating
from fincrm.customers.services.profile import aml_review_months
from fincrm.integration import readers
from fincrm.integration.entities import ENTITIES
from fincrm.integration.loading import CHECKERS, Merged, RecordSource
from fincrm.integration.models import ImportBatch, ImportIssue
from fincrm.integration.preparing import Context, Issue, Prepared, Preparer
from fincrm.integration.staging import Stage, is_postgresql, stage_tables_drop
from fincrm.org.models import OrgUnit, Team
from fincrm.platform import outbox, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.portfolio import services as portfolio_services
from fincrm.products.models import Product

logger = logging.getLogger("fincrm.integration")

CHUNK_ROWS = 5_000  # rows per preparation task: bounds memory, not the file size
ISSUE_CAP = 10_000  # issues kept per batch (all are counted)
PER_RECORD_AUDIT_LIMIT = 10_000  # above this many changed records, one audit event names 1,000 of them
RECORDS_PER_EVENT = 1_000
PARALLEL_FROM_ROWS = 20_000  # smaller files are prepared in-process
# What AUM is made of (DOMAIN.md): account balances and holdings, not the transactions themselves.
AUM_ENTITIES = frozenset({"accounts", "holdings"})

ENTITY_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "customers": ("customer.create", "customer.edit"),
    "contacts": ("customer.edit",),
    "accounts": ("customer.edit",),
    "holdings": ("customer.edit",),
    "transactions": ("customer.edit",),
    "products": ("product.manage",),
}


class LoadRejected(Exception):
    """Some rows are invalid: nothing was written."""

    def __init__(self, issues: list[Issue], invalid: int) -> None:
        first = "; ".join(f"row {issue[0]} {issue[1]}: {issue[3]}" for issue in issues[:5])
        super().__init__(f"{invalid} invalid rows ({first})")
        self.issues = issues
        self.invalid = invalid


@dataclass
class LoadResult:
    rows: int = 0
    invalid: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0
    customer_ids_touched: set[int] = field(default_factory=set)
    issues: list[Issue] = field(default_factory=list)
    issue_count: int = 0


@dataclass
class ImportOutcome:
    status: str
    rows_total: int = 0
    rows_invalid: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0
    issue_count: int = 0
    seconds: float = 0.0


# ---------------------------------------------------------------- context


def mapping_problems(entity: str, mapping: dict[str, str], header: Sequence[str]) -> list[str]:
    """What is wrong with ``mapping`` for a file with ``header`` (localized), empty when fine."""
    spec = ENTITIES[entity]
    problems = []
    known = spec.by_name
    for name, column in mapping.items():
        if name not in known:
            problems.append(_("%(field)s is not a field of this data.") % {"field": name})
        elif column not in header:
            problems.append(
                _("The file has no column %(column)s (mapped to %(field)s).")
                % {"column": column, "field": name}
            )
    for name in spec.key:
        if name not in mapping:
            problems.append(_("The key field %(field)s must be mapped.") % {"field": name})
    return problems


def _context(actor: Actor, entity: str, mapping: dict[str, str], header: list[str], deletes: bool) -> Context:
    from fincrm.integration.synth_rows import Keys
    from fincrm.security.keyring import keyring
    from fincrm.security.models import DataKey

    data_key_id = keyring.active_key_id(DataKey.Kind.DATA)
    index_key_id, index_key = keyring.index_key()
    keys = Keys(data_key_id, keyring._load(data_key_id).material, index_key_id, index_key)
    context = Context(
        entity=entity,
        mapping=mapping,
        header=header,
        keys=keys,
        today=timezone.localdate(),
        deletes=deletes,
        store_full_card_numbers=portfolio_services.store_full_card_numbers(),
        copy_text=is_postgresql(),
    )
    if entity == "customers" or (entity == "accounts" and "org_unit" in mapping):
        context.org_units = dict(OrgUnit.objects.filter(is_active=True).values_list("code", "pk"))
    if entity == "customers":
        creatable = OrgUnit.objects.visible_to(actor, "customer.create").filter(is_active=True)
        ids = set(creatable.values_list("pk", flat=True))
        context.creatable_units = None if len(ids) == len(context.org_units) else frozenset(ids)
        User = get_user_model()
        context.users = dict(
            User.objects.visible_to(actor, "customer.edit")
            .filter(is_active=True)
            .values_list("username", "pk")
        )
        context.teams = dict(
            Team.objects.visible_to(actor, "customer.edit").filter(is_active=True).values_list("code", "pk")
        )
        context.aml_review_months = {rating: aml_review_months(rating) for rating in AmlRiskRating.values}
        context.risk_validity_months = int(getattr(settings, "FINCRM_RISK_ASSESSMENT_VALID_MONTHS", 12))
    if entity in ("accounts", "holdings"):
        context.products = dict(Product.objects.values_list("code", "pk"))
    return context


def known_customer_row_uids(numbers: Sequence[str]) -> dict[str, str]:
    """Customer number -> row id of the customers among ``numbers`` that exist (PostgreSQL), for
    Context.row_uids."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_number, row_uid::text FROM customers_customer WHERE customer_number = ANY(%s)",
            [list(numbers)],
        )
        return dict(cursor.fetchall())


# ---------------------------------------------------------------- preparation (optionally parallel)

# Per entity: a worker may prepare several files of one feed (see PreparedAhead).
_worker_preparers: dict[str, Preparer] = {}
# A forked worker's copies of the parent's database connections (see _worker_init).
_inherited_connections: list[Any] = []


def _worker_init(contexts: dict[str, Context]) -> None:
    """Workers never touch the database, but a fork copies the parent's open connections, and the
    parent may be inside a transaction (a feed) or hold the stage's advisory lock. The copies stay
    referenced here, so none is ever finalized (closing one would end the parent's session: the
    worker exits with os._exit or SIGTERM, which finalize nothing), and Django forgets them, so
    nothing in the worker can send a statement on the parent's session."""
    for alias_connection in connections.all(initialized_only=True):
        if alias_connection.connection is not None:
            _inherited_connections.append(alias_connection.connection)
            alias_connection.connection = None
    _worker_preparers.clear()
    _worker_preparers.update({entity: Preparer(context) for entity, context in contexts.items()})


def _worker_prepare(entity: str, rows: list[tuple[int, list[object]]] | PackedRows) -> Prepared:
    return (
        _worker_preparers[entity]
        .prepare(rows.unpack() if isinstance(rows, PackedRows) else rows)
        .as_copy_text()
    )


@dataclass
class PackedRows:
    """CSV rows on their way to a worker: their cells in one string, joined with NUL (no CSV cell
    holds one: the reader refuses binary data). Pickled, that is a few objects a chunk instead of
    a list and a string per cell (2 million transactions: ~5 s less CPU)."""

    numbers: bytes  # array("q") of row numbers
    widths: bytes  # array("I") of cells per row
    text: str

    @classmethod
    def of(cls, rows: list[tuple[int, list[object]]]) -> PackedRows:
        numbers = array.array("q", [number for number, _cells in rows])
        widths = array.array("I", [len(cells) for _number, cells in rows])
        text = "\x00".join(cast("list[str]", [cell for _number, cells in rows for cell in cells]))
        return cls(numbers.tobytes(), widths.tobytes(), text)

    def unpack(self) -> list[tuple[int, list[object]]]:
        numbers, widths = array.array("q"), array.array("I")
        numbers.frombytes(self.numbers)
        widths.frombytes(self.widths)
        cells: list[object] = list(self.text.split("\x00"))
        rows, at = [], 0
        for number, width in zip(numbers, widths, strict=True):
            rows.append((number, cells[at : at + width]))
            at += width
        return rows


def _worker_chunks(table: Any) -> Iterator[list[tuple[int, list[object]]] | PackedRows]:
    """Chunks of ``table`` for the workers: a CSV's packed (its cells are text), others' as they are."""
    chunks = _chunks(table)
    if isinstance(table, readers.CsvTable):
        return map(PackedRows.of, chunks)
    return chunks


def _chunks(table: Any) -> Iterator[list[tuple[int, list[object]]]]:
    chunk: list[tuple[int, list[object]]] = []
    for row in table.rows():
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _workers() -> int:
    return max(1, min(int(getattr(settings, "FINCRM_IMPORT_WORKERS", 2)), multiprocessing.cpu_count()))


def _pool(contexts: dict[str, Context]) -> Any:
    """Forked workers preparing rows of ``contexts``' entities (forked from the calling thread, which
    must be the one using the database)."""
    return multiprocessing.get_context("fork").Pool(
        _workers(), initializer=_worker_init, initargs=(contexts,)
    )


@contextmanager
def _prepared(context: Context, table: Any, *, parallel: bool) -> Iterator[Iterator[Prepared]]:
    """Prepared chunks in file order: from a fork pool of workers or in this process. The
    connection stays open (inside the caller's transaction, if any): see _worker_init."""
    if not parallel:
        preparer = Preparer(context)
        prepared = (preparer.prepare(chunk) for chunk in _chunks(table))
        yield (chunk.as_copy_text() for chunk in prepared) if context.copy_text else prepared
        return
    pool = _pool({context.entity: context})
    try:
        yield _in_order(pool, context.entity, _worker_chunks(table))
    finally:
        pool.terminate()
        pool.join()


def _in_order(
    pool: Any, entity: str, chunks: Iterator[list[tuple[int, list[object]]] | PackedRows]
) -> Iterator[Prepared]:
    """The prepared chunks in file order, with at most two chunks per worker read and not yet
    written: ``Pool.imap`` would read the whole file into memory as fast as it can."""
    ahead = 2 * _workers()
    waiting: collections.deque[Any] = collections.deque()
    for chunk in chunks:
        waiting.append(pool.apply_async(_worker_prepare, (entity, chunk)))
        if len(waiting) >= ahead:
            yield waiting.popleft().get()
    while waiting:
        yield waiting.popleft().get()


class Spool:
    """A file's prepared rows as COPY text, waiting in unnamed temporary files (no name on disk,
    gone when closed; the values in them are as sealed as in a stage) until their stage is made.
    One thread writes, another may copy the rows out while they are being written (``into``)."""

    BLOCK = 4 << 20

    def __init__(self) -> None:
        self.rows = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.terms = tempfile.TemporaryFile()  # noqa: SIM115
        self.changed = threading.Condition()
        self.written = 0  # bytes of rows the reader may read
        self.finished = False
        self.error: BaseException | None = None

    def copy(self, data: bytes, *, terms: bool = False) -> None:
        if terms:
            self.terms.write(data)
            return
        self.rows.write(data)
        self.rows.flush()  # the reader reads the file, not this object's buffer
        with self.changed:
            self.written += len(data)
            self.changed.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        """The writer is done (or failed: the reader raises ``error``)."""
        if not self.terms.closed:
            self.terms.flush()
        with self.changed:
            self.finished, self.error = True, error
            self.changed.notify_all()

    def _rows_as_written(self) -> Iterator[bytes]:
        offset = 0
        while True:
            with self.changed:
                while offset == self.written and not self.finished:
                    self.changed.wait()
                written, finished, error = self.written, self.finished, self.error
            if error is not None:
                raise error
            while offset < written:
                block = os.pread(self.rows.fileno(), min(self.BLOCK, written - offset), offset)
                offset += len(block)
                yield block
            if finished:
                return

    def into(self, stage: Stage) -> None:
        """Copy the rows into ``stage`` as they are written, then the terms (the writer's error,
        if it fails meanwhile, is raised here and the COPY abandoned)."""
        stage.copy(self._rows_as_written())
        if self.terms.tell():  # only customers have terms
            self.terms.seek(0)
            stage.copy(iter(functools.partial(self.terms.read, self.BLOCK), b""), terms=True)

    def close(self) -> None:
        self.rows.close()
        self.terms.close()


class PreparedAhead:
    """Large files of one feed prepared in order while the caller merges the files before them.

    A thread reads each file and feeds one pool of worker processes (forked here, by the caller's
    thread); the prepared rows go to a Spool. The caller, at a file's turn, ``stage``s it: copies
    its spool into the stage as the rows come (the rest of the file is still being prepared), then
    checks and merges it while the thread prepares the next file. The preparation (CPU in the
    workers) thus overlaps the merge and the COPY (work in the database). Only the caller's thread
    touches the database: the contexts are read before."""

    def __init__(self, files: Sequence[tuple[Load, Any, Context]]) -> None:
        """``files``: each file's Load, rows (a readers.Table) and Load.context, in merge order."""
        self.files = [(load, table) for load, table, _context in files]
        contexts = {load.entity: context for load, _table, context in files}
        self.spools = {load.entity: Spool() for load, _table in self.files}
        self.stopping = threading.Event()
        self.pool = _pool(contexts)
        self.thread = threading.Thread(target=self._run, name="fincrm-prepare-ahead", daemon=True)
        self.thread.start()

    def __contains__(self, entity: str) -> bool:
        return entity in self.spools

    def _run(self) -> None:
        for position, (load, table) in enumerate(self.files):
            spool = self.spools[load.entity]
            try:
                for prepared in _in_order(self.pool, load.entity, _worker_chunks(table)):
                    if self.stopping.is_set():
                        raise _Stopped
                    load.take(prepared, spool)
            except BaseException as error:  # handed to the caller's thread, raised there
                spool.finish(error)
                for later, _table in self.files[position + 1 :]:
                    self.spools[later.entity].finish(_Stopped())
                return
            spool.finish()

    def stage(self, load: Load) -> None:
        """Stage ``load``'s file as it is prepared (readers.FileRejected if the file was refused)."""
        spool = self.spools[load.entity]
        try:
            load.stage.create()
            spool.into(load.stage)
            load.stage.index()
        finally:
            spool.close()

    def close(self) -> None:
        # The thread first: it stops at its next chunk. A result the pool never sends (its workers
        # terminated) would keep it waiting for ever.
        self.stopping.set()
        self.thread.join()
        self.pool.terminate()
        self.pool.join()
        for spool in self.spools.values():
            spool.close()


class _Stopped(Exception):
    """The caller stopped before this file's turn."""


# ---------------------------------------------------------------- the core


class Load:
    """One entity's rows through stage, checks and merge."""

    def __init__(
        self,
        *,
        actor: Actor,
        entity: str,
        mapping: dict[str, str],
        on_match: str,
        deletes: bool,
        key: str | None = None,
    ) -> None:
        self.actor = actor
        self.entity = entity
        self.mapping = mapping
        self.on_match = on_match
        self.deletes = deletes
        self.stage = Stage(key or uuid.uuid4().hex, entity)
        self.issues: list[Issue] = []
        self.issue_count = 0
        self.rows = 0
        self.invalid_rows: set[int] = set()

    def _keep(self, issues: Sequence[Issue]) -> None:
        self.issue_count += len(issues)
        room = ISSUE_CAP - len(self.issues)
        if room > 0:
            self.issues.extend(issues[:room])

    def context(self, table: Any) -> Context:
        """What preparing ``table``'s rows needs (readers.FileRejected if the mapping does not fit)."""
        problems = mapping_problems(self.entity, self.mapping, table.header)
        if problems:
            raise readers.FileRejected("mapping", " ".join(problems))
        return _context(self.actor, self.entity, self.mapping, list(table.header), self.deletes)

    def stage_rows(
        self,
        table: Any,
        *,
        parallel: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Read, prepare and stage every row (file-level problems raise readers.FileRejected)."""
        context = self.context(table)
        self.stage.create()
        with _prepared(context, table, parallel=parallel) as chunks:
            for prepared in chunks:
                self.take(prepared, self.stage)
                if progress is not None:
                    progress(self.rows)
        self.stage.index()

    def take(self, prepared: Prepared, sink: Stage | Spool) -> None:
        """Write one prepared chunk to ``sink`` and count its rows and issues."""
        if prepared.copy_rows:
            sink.copy(prepared.copy_rows)
            sink.copy(prepared.copy_terms, terms=True)
        else:
            assert isinstance(sink, Stage)
            sink.write(prepared.rows)
            sink.write(prepared.terms, terms=True)
        self.rows += (prepared.staged or len(prepared.rows)) + len(prepared.invalid_rows)
        self.invalid_rows.update(prepared.invalid_rows)
        self._keep(prepared.issues)

    def check(self) -> None:
        checker = CHECKERS[self.entity](
            self.stage,
            actor=self.actor,
            mapping=self.mapping,
            on_match=self.on_match,
            today=timezone.localdate(),
        )
        checker.check()
        self._keep(sorted(checker.issues, key=lambda issue: issue[0]))
        self.invalid_rows.update(issue[0] for issue in checker.issues)
        self.checker = checker

    @property
    def invalid(self) -> int:
        return len(self.invalid_rows)

    def merge(self, *, batch_label: str, events_at_commit: bool = True) -> Merged:
        """Write the valid rows (inside the caller's transaction) with their audit events. The
        events are read from the stage when the transaction commits (``events_at_commit``: the
        stage must be dropped only after that), else now, into memory."""
        merged = self.checker.merge()
        _audit_records(self.actor, self.entity, merged, self.stage, batch_label, events_at_commit)
        return merged

    def drop(self) -> None:
        self.stage.drop()


AUDIT_CODES = {
    ("customer", "insert"): "customer.imported",
    ("customer", "update"): "customer.import_updated",
    ("relationship", "insert"): "relationship.imported",
    ("relationship", "update"): "relationship.imported",
    ("relationship", "delete"): "relationship.imported",
    ("account", "insert"): "account.imported",
    ("account", "update"): "account.imported",
    ("account", "delete"): "account.imported",
    ("holding", "insert"): "holding.imported",
    ("holding", "update"): "holding.imported",
    ("holding", "delete"): "holding.imported",
    ("product", "insert"): "product.imported",
    ("product", "update"): "product.imported",
    ("product", "delete"): "product.imported",
}


def _audit_records(
    actor: Actor, entity: str, merged: Merged, stage: Stage, batch_label: str, at_commit: bool
) -> None:
    """Per-record events, written set-based with the transaction's commit. Past
    PER_RECORD_AUDIT_LIMIT records, one event names RECORDS_PER_EVENT of them (ids and keys), so a
    million-row import writes a thousand events. ``at_commit``: the events are read from the stage
    while the commit writes them, a batch at a time, so memory stays bounded whatever the file size."""
    if entity == "transactions":  # booked facts from a core system: one event per batch
        audit_record(
            actor,
            "transaction.imported",
            object_type="import",
            object_id=batch_label,
            after={"inserted": merged.inserted, "deleted": merged.deleted, "unchanged": merged.unchanged},
        )
        return
    total = merged.inserted + merged.updated + merged.deleted
    for source in merged.sources:
        rows = functools.partial(
            _record_events if total <= PER_RECORD_AUDIT_LIMIT else _grouped_events, source, stage, batch_label
        )
        code = AUDIT_CODES[(source.object_type, source.action)]
        if at_commit:
            audit_record_stream(actor, code, rows)
        else:
            audit_record_many(actor, code, rows())


def _record_events(source: RecordSource, stage: Stage, batch_label: str) -> Iterator[dict[str, Any]]:
    """One event per record."""
    for object_id, key, fields in source.rows(stage):
        yield {
            "object_type": source.object_type,
            "object_id": object_id,
            "after": {"key": key, "fields": fields, "action": source.action, "source": batch_label},
        }


def _grouped_events(source: RecordSource, stage: Stage, batch_label: str) -> Iterator[dict[str, Any]]:
    """One event per RECORDS_PER_EVENT records, naming their ids and keys."""
    for part in source.groups(stage, RECORDS_PER_EVENT):
        yield {
            "object_type": "import",
            "object_id": batch_label,
            "after": {"action": source.action, "object_type": source.object_type, "records": part},
        }


def load_rows(
    *,
    actor: Actor,
    entity: str,
    table: Any,
    mapping: dict[str, str],
    on_match: str,
    deletes: bool = False,
    source: str,
) -> LoadResult:
    """Stage, check and merge ``table`` (a fincrm.integration.readers.Table) inside the caller's
    open transaction (feeds). Raises LoadRejected (nothing written) when a row is invalid,
    readers.FileRejected for the file as a whole."""
    _require(actor, entity)
    load = Load(actor=actor, entity=entity, mapping=mapping, on_match=on_match, deletes=deletes)
    try:
        load.stage_rows(table)
        with entity_turn(entity, until_commit=True):
            load.check()
            if load.invalid:
                raise LoadRejected(load.issues, load.invalid)
            merged = load.merge(batch_label=source, events_at_commit=False)  # the stage goes first
    finally:
        load.drop()
    return LoadResult(
        rows=load.rows,
        inserted=merged.inserted,
        updated=merged.updated,
        unchanged=merged.unchanged,
        skipped=merged.skipped,
        deleted=merged.deleted,
        customer_ids_touched=merged.customer_ids,
    )


@contextmanager
def entity_turn(entity: str, *, until_commit: bool = False) -> Iterator[None]:
    """Imports and feeds of the same entity check and merge in turns (PostgreSQL: a session-level
    advisory lock, released at the end or when the process dies), so two files creating the same
    key cannot both pass the checks and collide half-way: the second sees the first one's rows.
    SQLite has a single writer already."""
    if not is_postgresql():
        yield
        return
    key = f"fincrm.import.{entity}"
    if until_commit:  # inside the caller's transaction (feeds): held until it commits or rolls back
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])


def _require(actor: Actor, entity: str) -> None:
    require_permission(actor, "data.import")
    for permission in ENTITY_PERMISSIONS[entity]:
        require_permission(actor, permission)


# ---------------------------------------------------------------- a batch


def _save(batch: ImportBatch, **fields: Any) -> None:
    fields["heartbeat_at"] = timezone.now()
    for name, value in fields.items():
        setattr(batch, name, value)
    ImportBatch.objects.filter(pk=batch.pk).update(**fields, updated_at=timezone.now())


def _failed(batch: ImportBatch, error: str) -> None:
    _save(batch, status=ImportBatch.Status.FAILED, phase="", finished_at=timezone.now(), error=error)


def _store_issues(batch: ImportBatch, issues: Sequence[Issue]) -> None:
    ImportIssue.objects.filter(batch=batch).delete()
    ImportIssue.objects.bulk_create(
        [
            ImportIssue(
                batch=batch,
                row_number=row_number,
                column=str(column)[:100],
                value=str(value)[:200],
                code=code,
                message=str(message)[:500],
            )
            for row_number, column, value, code, message in issues[:ISSUE_CAP]
        ],
        batch_size=2000,
    )


def import_run(
    batch: ImportBatch,
    *,
    actor: Actor,
    dry_run: bool,
    progress: Callable[[int, int], None] | None = None,
) -> ImportOutcome:
    """Run ``batch`` (see the module docstring); the batch row records status, counts and issues."""
    from fincrm.integration import uploads

    _require(actor, batch.entity)
    started = time.perf_counter()
    _drop_abandoned_stages()
    _save(
        batch,
        status=ImportBatch.Status.RUNNING,
        dry_run=dry_run,
        phase="reading",
        started_at=timezone.now(),
        finished_at=None,
        error="",
        rows_done=0,
    )
    load = Load(
        actor=actor,
        entity=batch.entity,
        mapping=dict(batch.mapping),
        on_match=batch.on_match,
        deletes=False,
        key=batch.pk.hex,
    )
    last = [0.0]
    turn = ExitStack()

    def staged(rows: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 1.0:
            last[0] = now
            _save(batch, rows_done=rows)
        if progress is not None:
            progress(rows, batch.rows_total)

    try:
        options = readers.ReadOptions(
            file_format=batch.file_format, encoding=batch.encoding, delimiter=batch.delimiter
        )
        with uploads.upload_open(batch.upload_path, batch.pk) as stream:
            table = readers.open_table(stream, options)
            parallel = is_postgresql() and batch.file_size > PARALLEL_FROM_ROWS * 100
            load.stage_rows(table, parallel=parallel, progress=staged)
        _save(batch, phase="checking", rows_done=load.rows, rows_total=load.rows)
        turn.enter_context(entity_turn(batch.entity))  # held until the merge has committed
        load.check()
    except readers.FileRejected as rejected:
        turn.close()
        load.drop()
        _store_issues(batch, [(rejected.row, rejected.column, "", rejected.code, rejected.message)])
        _save(
            batch,
            status=ImportBatch.Status.INVALID,
            phase="",
            issue_count=1,
            error=str(rejected.message),
            finished_at=timezone.now(),
        )
        audit_record(
            actor,
            "import.checked",
            object_type="import",
            object_id=str(batch.pk),
            after={"sha256": batch.file_sha256, "status": "invalid", "error": rejected.code},
        )
        return ImportOutcome(status=batch.status, issue_count=1, seconds=time.perf_counter() - started)
    except uploads.UploadDamaged:
        turn.close()
        load.drop()
        logger.warning(
            "import batch %s: its stored file does not decrypt (altered or its key lost)", batch.pk
        )
        _failed(batch, _("The stored file is damaged or was altered; nothing was written. Upload it again."))
        return ImportOutcome(status=batch.status, seconds=time.perf_counter() - started)
    except BaseException:
        turn.close()
        load.drop()
        _failed(batch, _("The import stopped on an internal error; nothing was written."))
        raise
    outcome = ImportOutcome(
        status="", rows_total=load.rows, rows_invalid=load.invalid, issue_count=load.issue_count
    )
    _store_issues(batch, sorted(load.issues, key=lambda issue: issue[0]))
    counts = {"rows_total": load.rows, "rows_invalid": load.invalid, "issue_count": load.issue_count}
    try:
        if dry_run or (load.invalid and batch.mode == ImportBatch.Mode.ALL_OR_NOTHING):
            status = ImportBatch.Status.INVALID if load.invalid else ImportBatch.Status.CHECKED
            _save(batch, status=status, phase="", finished_at=timezone.now(), **counts)
            audit_record(
                actor,
                "import.checked",
                object_type="import",
                object_id=str(batch.pk),
                after={"sha256": batch.file_sha256, "status": status, **counts},
            )
            outcome.status = status
            outcome.seconds = time.perf_counter() - started
            return outcome
        _save(batch, phase="writing", **counts)
        # The stage is dropped after this block: its events are read at commit only when this block
        # is the one that commits.
        at_commit = not transaction.in_block()
        with transaction.atomic():
            merged = load.merge(batch_label=str(batch.pk), events_at_commit=at_commit)
            _after_merge(actor, batch, merged)
            result = {
                "rows_inserted": merged.inserted,
                "rows_updated": merged.updated,
                "rows_unchanged": merged.unchanged,
                "rows_skipped": merged.skipped,
                "rows_deleted": merged.deleted,
            }
            audit_record(
                actor,
                "import.applied",
                object_type="import",
                object_id=str(batch.pk),
                after={"sha256": batch.file_sha256, "entity": batch.entity, **counts, **result},
            )
            outbox.publish("integration.import.applied", batch_id=str(batch.pk))
            ImportBatch.objects.filter(pk=batch.pk).update(
                status=ImportBatch.Status.DONE, phase="", finished_at=timezone.now(), **counts, **result
            )
    except BaseException:
        _failed(batch, _("The import stopped on an internal error; nothing was written."))
        raise
    finally:
        turn.close()
        load.drop()
    batch.refresh_from_db()
    if batch.mode == ImportBatch.Mode.VALID_ROWS and load.invalid:
        _rejects_file(actor, batch, load)
    uploads.upload_delete(batch.upload_path)
    ImportBatch.objects.filter(pk=batch.pk).update(upload_path="")
    outcome.status = ImportBatch.Status.DONE
    outcome.inserted, outcome.updated = merged.inserted, merged.updated
    outcome.unchanged, outcome.skipped, outcome.deleted = merged.unchanged, merged.skipped, merged.deleted
    outcome.seconds = time.perf_counter() - started
    return outcome


def _drop_abandoned_stages() -> None:
    """Stage tables left by imports that died (SIGKILL, power loss) while staging."""
    alive = timezone.now() - timedelta(minutes=10)
    running = ImportBatch.objects.filter(status=ImportBatch.Status.RUNNING, heartbeat_at__gte=alive)
    finished = ImportBatch.objects.exclude(pk__in=running.values("pk")).order_by("-created_at")[:1000]
    stage_tables_drop(finished=[pk.hex for pk in finished.values_list("pk", flat=True)])


def _after_merge(actor: Actor, batch: ImportBatch, merged: Merged) -> None:
    """Derived values follow the data: AUM of the customers whose portfolio changed."""
    if batch.entity in AUM_ENTITIES and merged.customer_ids:
        portfolio_services.aum_refresh(sorted(merged.customer_ids), actor=actor)


def _rejects_file(actor: Actor, batch: ImportBatch, load: Load) -> None:
    """The invalid rows as they were in the file, plus an error column: an encrypted, expiring
    export file for the batch's creator (the rows may hold personal data)."""
    from fincrm.integration.rejects import rejects_file_create

    rejects_file_create(actor=actor, batch=batch, rows=sorted(load.invalid_rows), issues=load.issues)

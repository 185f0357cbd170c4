"""Core-system feeds: incremental files applied in order, exactly once, all or nothing.

A feed is one directory named ``<system>-<sequence>`` (or a zip of it, posted to the API) holding
``manifest.json`` and one CSV per entity (UTF-8, comma, header = field names, first column ``op``:
``U`` upsert, ``D`` delete)::

    {"format": "fincrm-feed/1", "system": "core", "sequence": 42, "business_date": "2026-11-23",
     "files": [{"entity": "customers", "name": "customers.csv", "rows": 100000, "sha256": "…"}]}

The header decides which fields a file carries (a customers file may hold only the key and the
changed fields); an empty cell in a carried column clears that field. Files are applied in the
order of ``ORDER`` whatever the manifest's order. Per system, sequence N is applied only when N-1
was (or when no feed of that system was ever applied); an applied N again is a no-op; a gap is
refused ("waiting for N-1"). Before anything is written, every file's SHA-256 is checked. Then ONE
transaction takes each file in order: reads it, validates it row by row, encrypts and stages it,
compares its row count with the manifest, checks it against the database and merges it. Large files
are prepared ahead by worker processes while the files before them merge (importer.PreparedAhead;
not files whose rows name products of the same feed: they wait for those products). The transaction
then refreshes the AUM of the customers whose accounts or holdings changed and writes the
``FeedRun`` row, one audit event and one outbox event: a bad row or a killed process leaves the
database as it was. A failure is then recorded in a separate
transaction (``FeedRun`` status failed, with the error).

Two appliers of one system never interleave: PostgreSQL takes a transaction-scoped advisory lock
per system; SQLite's IMMEDIATE transactions hold its single writer lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from fincrm.audit.services import audit_record
from fincrm.integration import readers
from fincrm.integration.entities import ENTITIES
from fincrm.integration.importer import (
    AUM_ENTITIES,
    ENTITY_PERMISSIONS,
    PARALLEL_FROM_ROWS,
    Load,
    PreparedAhead,
    entity_turn,
    known_customer_row_uids,
)
from fincrm.integration.models import FeedRun
from fincrm.integration.preparing import Context
from fincrm.platform import outbox, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.portfolio import services as portfolio_services

logger = logging.getLogger("fincrm.feeds")

FORMAT = "fincrm-feed/1"
MANIFEST = "manifest.json"
PERMISSION = "data.feed"
# Dependency order: a file may refer to what an earlier one creates.
ORDER = ("products", "customers", "contacts", "accounts", "holdings", "transactions")
# Customers per file whose row ids are looked up before they are prepared (memory: ~150 bytes each).
KNOWN_ROW_UIDS_UP_TO = 300_000
NEEDS_PRODUCTS = ("accounts", "holdings")  # their rows name product codes
MAX_MANIFEST_BYTES = 64 * 1024
ERROR_ISSUES = 20  # issues quoted in a failed feed's error
BLOCK = 1024 * 1024
# An archive entry bigger than this is checked for its compression ratio (as readers does for XLSX).
RATIO_CHECK_FROM = readers.RATIO_CHECK_FROM
MAX_RATIO = readers.ReadOptions("csv").max_xlsx_ratio

SYSTEM = re.compile(r"[a-z][a-z0-9_]{0,39}")
FEED_NAME = re.compile(r"(?P<system>[a-z][a-z0-9_]{0,39})-(?P<sequence>[1-9][0-9]{0,17})")
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}\.csv")
SHA256 = re.compile(r"[0-9a-f]{64}")
BUSINESS_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

APPLIED = "applied"
ALREADY_APPLIED = "already_applied"
WAITING = "waiting"
FAILED = "failed"


class FeedRejected(ServiceError):
    """The feed cannot be applied as it is; nothing was written."""

    def __init__(self, code: str, message: str, *, status: int = 422) -> None:
        super().__init__(message, code=f"feed_{code}", status=status)
        self.reason = code


# ---------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class FeedFile:
    entity: str
    name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    system: str
    sequence: int
    business_date: date
    files: tuple[FeedFile, ...]
    sha256: str  # of the manifest's bytes

    @property
    def name(self) -> str:
        return f"{self.system}-{self.sequence}"

    @property
    def label(self) -> str:
        return f"{self.system}#{self.sequence}"

    def ordered(self) -> list[FeedFile]:
        return sorted(self.files, key=lambda spec: ORDER.index(spec.entity))


def _bad_manifest(detail: str) -> FeedRejected:
    return FeedRejected(
        "manifest", _("The feed's manifest.json is not valid: %(detail)s") % {"detail": detail}
    )


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def manifest_parse(data: bytes, *, folder_name: str | None = None) -> Manifest:
    """The manifest in ``data``, strictly checked (a FeedRejected names what is wrong)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise _bad_manifest(_("it is larger than %(limit)d bytes.") % {"limit": MAX_MANIFEST_BYTES})
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise _bad_manifest(_("it is not UTF-8 JSON (%(error)s).") % {"error": str(error)[:200]}) from None
    keys = {"format", "system", "sequence", "business_date", "files"}
    if not isinstance(document, dict) or set(document) != keys:
        raise _bad_manifest(
            _("it must be an object with exactly the keys %(keys)s.") % {"keys": ", ".join(sorted(keys))}
        )
    if document["format"] != FORMAT:
        raise _bad_manifest(_("format must be %(format)s.") % {"format": FORMAT})
    system = document["system"]
    if not isinstance(system, str) or not SYSTEM.fullmatch(system):
        raise _bad_manifest(
            _("system must be 1 to 40 lower-case letters, digits or _, starting with a letter.")
        )
    sequence = document["sequence"]
    if not _integer(sequence) or not 1 <= sequence < 10**18:
        raise _bad_manifest(_("sequence must be a whole number from 1."))
    text = document["business_date"]
    try:
        if not isinstance(text, str) or not BUSINESS_DATE.fullmatch(text):
            raise ValueError(text)
        business_date = date.fromisoformat(text)
    except ValueError:
        raise _bad_manifest(_("business_date must be a date written YYYY-MM-DD.")) from None
    listed = document["files"]
    if not isinstance(listed, list) or not 1 <= len(listed) <= len(ORDER):
        raise _bad_manifest(_("files must list 1 to %(count)d files.") % {"count": len(ORDER)})
    files: list[FeedFile] = []
    for index, item in enumerate(listed, start=1):
        files.append(_feed_file(index, item))
    if len({spec.entity for spec in files}) != len(files):
        raise _bad_manifest(_("each entity may have one file only."))
    if len({spec.name for spec in files}) != len(files):
        raise _bad_manifest(_("each file may be listed once only."))
    manifest = Manifest(system, sequence, business_date, tuple(files), hashlib.sha256(data).hexdigest())
    if folder_name is not None and folder_name != manifest.name:
        raise FeedRejected(
            "name",
            _("The feed folder is named %(found)s but its manifest is %(expected)s.")
            % {"found": folder_name[:100], "expected": manifest.name},
        )
    return manifest


def _refuse_constant(name: str) -> None:
    raise ValueError(name)


def _feed_file(index: int, item: object) -> FeedFile:
    keys = {"entity", "name", "rows", "sha256"}
    if not isinstance(item, dict) or set(item) != keys:
        raise _bad_manifest(
            _("file %(index)d must be an object with exactly the keys %(keys)s.")
            % {"index": index, "keys": ", ".join(sorted(keys))}
        )
    entity, name, rows, sha256 = item["entity"], item["name"], item["rows"], item["sha256"]
    if entity not in ORDER:
        raise _bad_manifest(
            _("file %(index)d: entity must be one of %(entities)s.")
            % {"index": index, "entities": ", ".join(ORDER)}
        )
    if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
        raise _bad_manifest(
            _("file %(index)d: name must be a plain file name ending in .csv (letters, digits, . _ -).")
            % {"index": index}
        )
    if not _integer(rows) or rows < 0:
        raise _bad_manifest(_("file %(index)d: rows must be a whole number from 0.") % {"index": index})
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise _bad_manifest(_("file %(index)d: sha256 must be 64 lower-case hex digits.") % {"index": index})
    return FeedFile(str(entity), name, rows, sha256)


# ---------------------------------------------------------------- where a feed's files come from


class FeedSource:
    """A feed's files: a folder (drop folder, command line) or a zip archive (the API)."""

    folder_name: str | None = None

    def manifest_bytes(self) -> bytes:
        raise NotImplementedError

    def open(self, name: str) -> IO[bytes]:
        raise NotImplementedError


class FolderSource(FeedSource):
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder_name = self.folder.name

    def _path(self, name: str) -> Path:
        path = self.folder / name
        if path.is_symlink() or not path.is_file():
            raise FeedRejected("missing", _("The feed has no file %(name)s.") % {"name": name})
        return path

    def manifest_bytes(self) -> bytes:
        with self._path(MANIFEST).open("rb") as handle:
            return handle.read(MAX_MANIFEST_BYTES + 1)

    def open(self, name: str) -> IO[bytes]:
        return self._path(name).open("rb")


class ZipSource(FeedSource):
    """A zip of the feed: its files at the top, or in one folder named ``<system>-<sequence>``.

    Files are read straight from the archive (never extracted); sizes and compression ratios are
    checked first, and zipfile never inflates an entry beyond its declared size."""

    def __init__(self, stream: IO[bytes], *, max_bytes: int) -> None:
        try:
            self.archive = zipfile.ZipFile(stream)
            entries = [entry for entry in self.archive.infolist() if not entry.is_dir()]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
            raise FeedRejected("archive", _("The upload is not a readable zip archive.")) from None
        if not entries or len(entries) > len(ORDER) + 1:
            raise FeedRejected(
                "archive",
                _("The zip must hold manifest.json and at most %(count)d CSV files.") % {"count": len(ORDER)},
            )
        folders = {entry.filename.rpartition("/")[0] for entry in entries}
        if len(folders) != 1 or "/" in next(iter(folders)):
            raise FeedRejected(
                "archive",
                _("The zip's files must sit at its top or in one folder named <system>-<sequence>."),
            )
        folder = next(iter(folders))
        self.prefix = f"{folder}/" if folder else ""
        self.folder_name = folder or None
        total = sum(entry.file_size for entry in entries)
        packed = sum(entry.compress_size for entry in entries)
        bomb = total > max_bytes or any(
            entry.file_size > RATIO_CHECK_FROM
            and (entry.compress_size == 0 or entry.file_size / entry.compress_size > MAX_RATIO)
            for entry in entries
        )
        if bomb or (total > RATIO_CHECK_FROM and (packed == 0 or total / packed > MAX_RATIO)):
            raise FeedRejected(
                "zip_bomb",
                _("The zip unpacks to more than %(limit)d bytes or is compressed suspiciously well.")
                % {"limit": max_bytes},
            )
        self.names = {entry.filename for entry in entries}

    def open(self, name: str) -> IO[bytes]:
        full = self.prefix + name
        if full not in self.names:
            raise FeedRejected("missing", _("The feed has no file %(name)s.") % {"name": name})
        try:
            return self.archive.open(full)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError):
            raise FeedRejected(
                "archive", _("The zip entry %(name)s cannot be read.") % {"name": name}
            ) from None

    def manifest_bytes(self) -> bytes:
        with self.open(MANIFEST) as handle:
            return handle.read(MAX_MANIFEST_BYTES + 1)


def manifest_read(source: FeedSource) -> Manifest:
    return manifest_parse(source.manifest_bytes(), folder_name=source.folder_name)


def feed_verify(source: FeedSource, manifest: Manifest) -> None:
    """Every listed file exists and has the manifest's SHA-256 (read in 1 MiB blocks)."""
    for spec in manifest.files:
        digest = hashlib.sha256()
        try:
            with source.open(spec.name) as handle:
                while block := handle.read(BLOCK):
                    digest.update(block)
        except (zipfile.BadZipFile, OSError, EOFError):
            raise FeedRejected(
                "archive", _("The file %(name)s cannot be read.") % {"name": spec.name}
            ) from None
        if digest.hexdigest() != spec.sha256:
            raise FeedRejected(
                "checksum",
                _("The SHA-256 of %(name)s does not match the manifest: the file is damaged or incomplete.")
                % {"name": spec.name},
            )


# ---------------------------------------------------------------- applying


@dataclass
class FeedOutcome:
    status: str  # applied, already_applied, waiting, failed
    system: str
    sequence: int
    message: str = ""
    run: FeedRun | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase, and "total"

    @property
    def rows(self) -> int:
        return sum(entity.get("rows", 0) for entity in self.counts.values())


def _lock(system: str) -> None:
    """Serialize appliers of one system until the transaction ends."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(f"fincrm.feed:{system}".encode()).digest()[:8], "big", signed=True
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _sequence_state(manifest: Manifest) -> FeedOutcome | None:
    """None when ``manifest`` is next in line; else the outcome that stops it (nothing written)."""
    done = FeedRun.objects.filter(
        system=manifest.system, sequence=manifest.sequence, status=FeedRun.Status.APPLIED
    ).first()
    if done is not None:
        if done.manifest_sha256 != manifest.sha256:
            raise FeedRejected(
                "sequence_reused",
                _("Feed %(feed)s was already applied with a different manifest: a sequence is used once.")
                % {"feed": manifest.label},
                status=409,
            )
        return FeedOutcome(
            ALREADY_APPLIED,
            manifest.system,
            manifest.sequence,
            _("Feed %(feed)s was already applied; nothing was done.") % {"feed": manifest.label},
            run=done,
            counts=dict(done.counts),
        )
    last = FeedRun.objects.filter(system=manifest.system, status=FeedRun.Status.APPLIED).aggregate(
        last=Max("sequence")
    )["last"]
    if last is None or manifest.sequence == last + 1:
        return None
    if manifest.sequence > last + 1:
        return FeedOutcome(
            WAITING,
            manifest.system,
            manifest.sequence,
            _("Feed %(feed)s is waiting for %(system)s#%(missing)d, which has not been applied.")
            % {"feed": manifest.label, "system": manifest.system, "missing": manifest.sequence - 1},
        )
    raise FeedRejected(
        "out_of_order",
        _("Feed %(feed)s comes before the last applied feed %(system)s#%(last)d: too late to apply.")
        % {"feed": manifest.label, "system": manifest.system, "last": last},
    )


def _columns(entity: str, spec: FeedFile, header: list[str]) -> dict[str, str]:
    if not header or header[0] != "op":
        raise FeedRejected(
            "header", _("%(name)s: the first column must be op (U or D).") % {"name": spec.name}
        )
    fields = ENTITIES[entity].by_name
    unknown = [column for column in header[1:] if column not in fields]
    if unknown:
        raise FeedRejected(
            "header",
            _("%(name)s: %(columns)s is not a field of %(entity)s.")
            % {"name": spec.name, "columns": ", ".join(unknown[:5]), "entity": entity},
        )
    return {column: column for column in header[1:]}


def _issues_text(spec: FeedFile, issues: list[Any], invalid: int) -> str:
    lines = [
        _("%(name)s: %(count)d rows are invalid.") % {"name": spec.name, "count": invalid},
    ]
    for row_number, column, value, code, message in sorted(issues, key=lambda issue: issue[0])[:ERROR_ISSUES]:
        lines.append(
            _("row %(row)d, %(column)s [%(code)s]: %(message)s %(value)s")
            % {"row": row_number, "column": column or "-", "code": code, "message": message, "value": value}
        )
    return "\n".join(line.rstrip() for line in lines)


def _file_rejected(spec: FeedFile, rejected: readers.FileRejected) -> FeedRejected:
    return FeedRejected(
        rejected.code, _("%(name)s: %(message)s") % {"name": spec.name, "message": rejected.message}
    )


def _require(actor: Actor, manifest: Manifest) -> None:
    """What the importer asks for each entity, checked once for the whole feed before any work."""
    require_permission(actor, "data.import")
    for spec in manifest.files:
        for permission in ENTITY_PERMISSIONS[spec.entity]:
            require_permission(actor, permission)


def _csv(stream: IO[bytes]) -> Any:
    """A feed file's rows (UTF-8 CSV, comma): readers.FileRejected if it cannot be read as such."""
    return readers.open_table(cast(BinaryIO, stream), readers.ReadOptions("csv"))


def _table(source: FeedSource, spec: FeedFile, files: ExitStack) -> Any | None:
    """The file's rows, open until ``files`` closes; None for an empty file the manifest says is empty."""
    stream = files.enter_context(source.open(spec.name))
    try:
        table = _csv(stream)
    except readers.FileRejected as rejected:
        if rejected.code == "empty" and spec.rows == 0:
            return None
        raise _file_rejected(spec, rejected) from None
    files.callback(table.close)
    return table


def _load(actor: Actor, spec: FeedFile, table: Any) -> Load:
    mapping = _columns(spec.entity, spec, list(table.header))
    return Load(actor=actor, entity=spec.entity, mapping=mapping, on_match="update", deletes=True)


def _stage(load: Load, spec: FeedFile, table: Any, ahead: PreparedAhead | None) -> None:
    """Stage one file (prepared ahead or now); every row-level problem and a row count other than
    the manifest's stop the feed here."""
    try:
        if ahead is not None and spec.entity in ahead:
            ahead.stage(load)
        else:
            load.stage_rows(table, parallel=_parallel(spec))
    except readers.FileRejected as rejected:
        raise _file_rejected(spec, rejected) from None
    if load.rows != spec.rows:
        raise FeedRejected(
            "rows",
            _("%(name)s holds %(found)d rows but the manifest says %(expected)d.")
            % {"name": spec.name, "found": load.rows, "expected": spec.rows},
        )
    if load.invalid:
        raise FeedRejected("invalid_rows", _issues_text(spec, load.issues, load.invalid))


def _customer_numbers(source: FeedSource, spec: FeedFile) -> list[str]:
    """The customer numbers of a customers file, read once more before it is prepared (whatever
    is wrong with the file is reported by the real read)."""
    try:
        with source.open(spec.name) as stream:
            table = _csv(stream)
            try:
                position = list(table.header).index("customer_number")
                return [str(cells[position]) for _row, cells in table.rows() if len(cells) > position]
            finally:
                table.close()
    except (readers.FileRejected, ValueError):
        return []


def _ahead(
    source: FeedSource, manifest: Manifest, tables: dict[str, Any], loads: dict[str, Load], files: ExitStack
) -> PreparedAhead | None:
    """Prepare the large files ahead, except those whose rows name products of this same feed."""
    entities = {spec.entity for spec in manifest.files}
    chosen = [
        spec
        for spec in manifest.ordered()
        if loads.get(spec.entity) is not None
        and _parallel(spec)
        and not (spec.entity in NEEDS_PRODUCTS and "products" in entities)
    ]
    if not chosen:
        return None
    prepared: list[tuple[Load, Any, Context]] = []
    for spec in chosen:
        load, table = loads[spec.entity], tables[spec.entity]
        try:
            context = load.context(table)
        except readers.FileRejected as rejected:
            raise _file_rejected(spec, rejected) from None
        if spec.entity == "customers" and spec.rows <= KNOWN_ROW_UIDS_UP_TO:
            # updated customers' values sealed for their own rows at once: the merge need not
            # decrypt and seal them again one by one (about 7 s of the 100,000-customer nightly feed)
            context.row_uids = known_customer_row_uids(_customer_numbers(source, spec))
        prepared.append((load, table, context))
    ahead = PreparedAhead(prepared)
    files.callback(ahead.close)
    return ahead


def _parallel(spec: FeedFile) -> bool:
    """Prepare in worker processes when it pays (forked, also inside the feed's transaction: the
    workers never use the connection they inherit, see importer._worker_init)."""
    return connection.vendor == "postgresql" and spec.rows >= PARALLEL_FROM_ROWS


def _record_failure(actor: Actor, manifest: Manifest, message: str, seconds: float) -> FeedRun | None:
    """After the feed's transaction rolled back: say so in the feed log, in a transaction of its own."""
    with transaction.atomic():
        _lock(manifest.system)
        run = (
            FeedRun.objects.select_for_update()
            .filter(system=manifest.system, sequence=manifest.sequence)
            .first()
        )
        if run is not None and run.status == FeedRun.Status.APPLIED:
            return run  # applied by someone else meanwhile
        fields = {
            "business_date": manifest.business_date,
            "manifest_sha256": manifest.sha256,
            "status": FeedRun.Status.FAILED,
            "counts": {},
            "error": message[:20_000],
            "applied_at": None,
            "seconds": round(seconds, 3),
            "applied_by_id": actor.user_id,
        }
        if run is None:
            run = FeedRun.objects.create(system=manifest.system, sequence=manifest.sequence, **fields)
        else:
            FeedRun.objects.filter(pk=run.pk).update(**fields)
            run.refresh_from_db()
        audit_record(
            actor,
            "feed.failed",
            object_type="feed",
            object_id=manifest.label,
            after={
                "system": manifest.system,
                "sequence": manifest.sequence,
                "manifest_sha256": manifest.sha256,
            },
        )
    return run


def feed_apply(*, actor: Actor, source: FeedSource) -> FeedOutcome:
    """Apply one feed (see the module docstring). Returns the outcome; raises FeedRejected only when
    the manifest itself cannot be read (then there is no feed to record) or names a used sequence."""
    require_permission(actor, PERMISSION)
    started = time.perf_counter()
    manifest = manifest_read(source)
    timings: dict[str, float] = {}
    loads: dict[str, Load] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 3)
        return now

    try:
        early = _sequence_state(manifest)  # answered before reading the files; checked again under the lock
        if early is not None:
            return early
        _require(actor, manifest)
        mark = time.perf_counter()
        feed_verify(source, manifest)
        mark = lap("verify", mark)
        # The stages are dropped after this block: their events are read at commit only when this
        # block is the one that commits.
        at_commit = not transaction.in_block()
        with ExitStack() as files, transaction.atomic():
            _lock(manifest.system)
            state = _sequence_state(manifest)
            if state is not None:
                return state
            tables = {spec.entity: _table(source, spec, files) for spec in manifest.ordered()}
            for spec in manifest.ordered():
                if tables[spec.entity] is not None:
                    loads[spec.entity] = _load(actor, spec, tables[spec.entity])
            ahead = _ahead(source, manifest, tables, loads, files)
            counts: dict[str, dict[str, int]] = {}
            touched: set[int] = set()
            for spec in manifest.ordered():
                load = loads.get(spec.entity)
                if load is None:
                    counts[spec.entity] = dict.fromkeys(
                        ("rows", "inserted", "updated", "unchanged", "deleted"), 0
                    )
                    continue
                _stage(load, spec, tables[spec.entity], ahead)
                mark = lap(f"stage {spec.entity}", mark)
                with entity_turn(spec.entity, until_commit=True):
                    load.check()
                    if load.invalid:
                        raise FeedRejected("invalid_rows", _issues_text(spec, load.issues, load.invalid))
                    merged = load.merge(batch_label=f"feed {manifest.label}", events_at_commit=at_commit)
                counts[spec.entity] = {
                    "rows": load.rows,
                    "inserted": merged.inserted,
                    "updated": merged.updated,
                    "unchanged": merged.unchanged,
                    "deleted": merged.deleted,
                }
                if spec.entity in AUM_ENTITIES:
                    touched |= {pk for pk in merged.customer_ids if pk is not None}
                mark = lap(spec.entity, mark)
            if touched:
                portfolio_services.aum_refresh(sorted(touched), actor=actor)
            mark = lap("aum", mark)
            seconds = round(time.perf_counter() - started, 3)
            run, _created = FeedRun.objects.update_or_create(
                system=manifest.system,
                sequence=manifest.sequence,
                defaults={
                    "business_date": manifest.business_date,
                    "manifest_sha256": manifest.sha256,
                    "status": FeedRun.Status.APPLIED,
                    "counts": counts,
                    "error": "",
                    "applied_at": timezone.now(),
                    "seconds": seconds,
                    "applied_by_id": actor.user_id,
                },
            )
            audit_record(
                actor,
                "feed.applied",
                object_type="feed",
                object_id=manifest.label,
                after={
                    "system": manifest.system,
                    "sequence": manifest.sequence,
                    "business_date": manifest.business_date.isoformat(),
                    "manifest_sha256": manifest.sha256,
                    "files": {spec.name: spec.sha256 for spec in manifest.files},
                    "counts": counts,
                    "aum_customers": len(touched),
                },
            )
            outbox.publish("integration.feed.applied", feed_run_id=run.pk)
        lap("commit", mark)
    except FeedRejected as rejected:
        if rejected.reason == "sequence_reused":
            raise
        message = str(rejected.message)
        failed = _record_failure(actor, manifest, message, time.perf_counter() - started)
        return FeedOutcome(FAILED, manifest.system, manifest.sequence, message, run=failed, timings=timings)
    except BaseException:
        logger.exception("feed %s stopped on an internal error", manifest.label)
        try:
            _record_failure(
                actor,
                manifest,
                _("The feed stopped on an internal error; nothing was written."),
                time.perf_counter() - started,
            )
        except Exception:  # the first error is the one to raise
            logger.exception("feed %s: recording the failure failed too", manifest.label)
        raise
    finally:
        for load in loads.values():
            load.drop()
    timings["total"] = round(time.perf_counter() - started, 3)
    return FeedOutcome(
        APPLIED,
        manifest.system,
        manifest.sequence,
        _("Feed %(feed)s applied.") % {"feed": manifest.label},
        run=run,
        counts=counts,
        timings=timings,
    )


def feed_apply_folder(*, actor: Actor, folder: Path) -> FeedOutcome:
    return feed_apply(actor=actor, source=FolderSource(folder))


@contextmanager
def zip_source(stream: IO[bytes], *, max_bytes: int) -> Iterator[ZipSource]:
    source = ZipSource(stream, max_bytes=max_bytes)
    try:
        yield source
    finally:
        source.archive.close()


# ---------------------------------------------------------------- the drop folder


def feed_folder() -> Path | None:
    configured = getattr(settings, "FINCRM_FEED_DIR", None)
    return Path(configured) if configured else None


def _complete_feeds(folder: Path) -> list[tuple[str, int, Path]]:
    found = []
    for entry in folder.iterdir():
        match = FEED_NAME.fullmatch(entry.name)
        # Writers put the manifest last: a folder without one is still being written.
        if match and entry.is_dir() and not entry.is_symlink() and (entry / MANIFEST).is_file():
            found.append((match["system"], int(match["sequence"]), entry))
    return sorted(found, key=lambda item: (item[0], item[1]))


def _move(entry: Path, folder: Path, where: str) -> Path:
    target_folder = folder / where
    target_folder.mkdir(exist_ok=True)
    target = target_folder / entry.name
    if target.exists():
        target = target_folder / f"{entry.name}.{timezone.now():%Y%m%dT%H%M%S%f}"
    shutil.move(str(entry), str(target))
    return target


def feeds_poll(*, actor: Actor, folder: Path | None = None) -> list[FeedOutcome]:
    """Apply every complete feed in the drop folder, oldest sequence first per system; move each
    to ``applied/`` or ``failed/`` (a feed waiting for its predecessor stays where it is)."""
    require_permission(actor, PERMISSION)
    folder = folder or feed_folder()
    if folder is None or not folder.is_dir():
        return []
    outcomes: list[FeedOutcome] = []
    blocked: set[str] = set()
    for system, sequence, entry in _complete_feeds(folder):
        if system in blocked:
            continue
        try:
            outcome = feed_apply(actor=actor, source=FolderSource(entry))
        except FeedRejected as rejected:
            outcome = FeedOutcome(FAILED, system, sequence, str(rejected.message))
        if outcome.status in (APPLIED, ALREADY_APPLIED):
            _move(entry, folder, "applied")
        elif outcome.status == FAILED:
            _move(entry, folder, "failed")
            blocked.add(system)
        else:
            blocked.add(system)
        logger.info("feed %s-%s: %s %s", system, sequence, outcome.status, outcome.message)
        outcomes.append(outcome)
    return outcomes


def feed_size_limit() -> int:
    """The largest feed the API accepts, packed and unpacked: 4 times FINCRM_IMPORT_MAX_BYTES."""
    return 4 * int(settings.FINCRM_IMPORT_MAX_BYTES)


def feed_run_list(*, actor: Actor, system: str | None = None) -> Any:
    """The feed log, newest first (``data.feed``)."""
    require_permission(actor, PERMISSION)
    runs = FeedRun.objects.all()
    if system:
        runs = runs.filter(system=system)
    return runs


def access_feed_run(actor: Actor, system: str, sequence: int) -> FeedRun:
    from fincrm.platform.errors import NotFound

    require_permission(actor, PERMISSION)
    run = FeedRun.objects.filter(system=system, sequence=sequence).first()
    if run is None:
        raise NotFound("feed", f"{system}#{sequence}")
    return run

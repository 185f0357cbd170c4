"""Writes of the integration app: imports (batches, their runs and mapping templates) and the
housekeeping of files going out.

An import is a batch: the uploaded file, kept encrypted (fincrm.integration.uploads) until it has
been imported, with how to read it (format, encoding, delimiter, column mapping) and what to do with
rows that match existing records. Its creator checks it (a dry run), then imports it; both run in a
background job (``integration.import.run``) or inline from ``fincrm import``. A batch is only ever
visible to, and usable by, the user who created it. Templates are named mappings every importer may
use; only their creator changes or deletes them.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record, audit_record_many
from fincrm.customers.services.exports import export_associated_data
from fincrm.integration import importer, readers, uploads
from fincrm.integration.entities import ENTITIES
from fincrm.integration.exports import Column, write_csv
from fincrm.integration.models import (
    ExportFile,
    FileEncoding,
    ImportBatch,
    ImportEntity,
    ImportTemplate,
    OnMatch,
)
from fincrm.integration.selectors import (
    IMPORT,
    access_import_batch,
    access_import_template,
    suggest_mapping,
)
from fincrm.platform import jobs, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, Forbidden, ServiceError
from fincrm.security.keyring import keyring

logger = logging.getLogger("fincrm.integration")

RUN_JOB = "integration.import.run"
FORMATS = {"csv": (".csv", ".txt"), "xlsx": (".xlsx",)}
DELIMITERS = {",": _("comma"), ";": _("semicolon"), "\t": _("tab"), "|": _("vertical bar")}
# A batch whose run has not reported progress for this long is taken for dead (its worker died).
STUCK_AFTER = timedelta(minutes=10)
Status = ImportBatch.Status
# What a batch may do next, by its status.
RUNNABLE = frozenset({Status.UPLOADED, Status.CHECKED, Status.INVALID, Status.FAILED})
CANCELLABLE = frozenset({Status.UPLOADED, Status.QUEUED, Status.CHECKED, Status.INVALID, Status.FAILED})
REMAPPABLE = frozenset({Status.UPLOADED, Status.CHECKED, Status.INVALID, Status.FAILED})


# ---------------------------------------------------------------- validation


def _choice(value: object, field: str, choices: Iterable[str], message: Any) -> str:
    text = str(value or "")
    if text not in set(choices):
        raise ServiceError.field(field, message, code="invalid_choice")
    return text


def clean_entity(entity: object) -> str:
    return _choice(entity, "entity", ImportEntity.values, _("Choose what the file holds from the list."))


def clean_reading(file_format: object, encoding: object, delimiter: object) -> tuple[str, str, str]:
    """The file format, encoding and delimiter, each checked against what the readers support."""
    fmt = _choice(file_format, "file_format", FORMATS, _("Choose the file format CSV or XLSX."))
    enc = _choice(
        encoding or "utf-8", "encoding", FileEncoding.values, _("Choose the encoding UTF-8 or GB18030.")
    )
    sep = _choice(
        delimiter or ",",
        "delimiter",
        DELIMITERS,
        _("Choose the delimiter comma, semicolon, tab or vertical bar."),
    )
    return fmt, enc, sep


def clean_mapping(entity: str, mapping: object) -> dict[str, str]:
    """{field: column header}: only the entity's fields, each read from a different, named column."""
    if not isinstance(mapping, Mapping):
        raise ServiceError.field(
            "mapping", _("Give the mapping as field → column header pairs."), code="mapping"
        )
    known = ENTITIES[entity].by_name
    cleaned: dict[str, str] = {}
    seen: dict[str, str] = {}
    for field, column in mapping.items():
        if not isinstance(field, str) or field not in known:
            raise ServiceError.field(
                "mapping",
                _("“%(field)s” is not a field of this kind of data.") % {"field": str(field)[:50]},
                code="mapping",
            )
        header = str(column or "").strip() if isinstance(column, str | int) else None
        if header is None:
            raise ServiceError.field(
                "mapping",
                _("Name the column of the field “%(field)s” as text.") % {"field": field},
                code="mapping",
            )
        if not header:
            continue  # an unmapped field
        if len(header) > 100:
            raise ServiceError.field(
                "mapping",
                _("The column name of “%(field)s” is longer than 100 characters.") % {"field": field},
                code="mapping",
            )
        if header in seen:
            raise ServiceError.field(
                "mapping",
                _("The column “%(column)s” is mapped to both “%(first)s” and “%(second)s”.")
                % {"column": header, "first": seen[header], "second": field},
                code="mapping",
            )
        seen[header] = field
        cleaned[field] = header
    return cleaned


def _file_name(name: object, file_format: str) -> str:
    base = os.path.basename(str(name or "").replace("\\", "/")).strip()
    if not base:
        raise ServiceError.field("file", _("Choose a file to upload."), code="required")
    if len(base) > 200:
        base = base[-200:]
    if not base.lower().endswith(FORMATS[file_format]):
        raise ServiceError.field(
            "file",
            _("The file name must end in %(extensions)s for the format %(format)s.")
            % {"extensions": " / ".join(FORMATS[file_format]), "format": file_format.upper()},
            code="extension",
        )
    return base


def _require_entity_permissions(actor: Actor, entity: str) -> None:
    """Importing a kind of data also needs the permissions that change it (customer.create …)."""
    for permission in importer.ENTITY_PERMISSIONS[entity]:
        require_permission(actor, permission)


def _owner(actor: Actor, owner_id: int | None) -> int:
    """Whose batch or template it is: the acting user, or (command line only) the user named."""
    if actor.is_operator and owner_id is not None:
        return owner_id
    if actor.user_id is None:
        raise Forbidden(IMPORT)
    return actor.user_id


def batch_snapshot(batch: ImportBatch) -> dict[str, Any]:
    """What the audit log keeps of a batch: never the file's content."""
    return {
        "entity": batch.entity,
        "file_name": batch.file_name,
        "file_size": batch.file_size,
        "file_sha256": batch.file_sha256,
        "file_format": batch.file_format,
        "encoding": batch.encoding,
        "mode": batch.mode,
        "on_match": batch.on_match,
        "origin": batch.origin,
        "template": batch.template_id,
        "status": batch.status,
    }


def _reject(error: readers.FileRejected) -> ServiceError:
    where = ""
    if error.row:
        where = gettext(" (row %(row)d)") % {"row": error.row}
    return ServiceError.field("file", f"{error.message}{where}", code=error.code)


def read_header(batch: ImportBatch) -> list[str]:
    """The stored file's header row (raises readers.FileRejected when the file cannot be read)."""
    options = readers.ReadOptions(
        file_format=batch.file_format, encoding=batch.encoding, delimiter=batch.delimiter
    )
    try:
        stream = uploads.upload_open(batch.upload_path, batch.pk)
        try:
            return list(readers.open_table(stream, options).header)
        finally:
            stream.close()
    except (uploads.UploadDamaged, OSError):
        raise readers.FileRejected(
            "damaged", _("The stored file cannot be read any more: upload it again.")
        ) from None


# ---------------------------------------------------------------- batches


def import_batch_create(
    *,
    actor: Actor,
    entity: str,
    file_name: str,
    chunks: Iterable[bytes],
    file_format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    mapping: Mapping[str, str] | None = None,
    on_match: str | None = None,
    mode: str = ImportBatch.Mode.ALL_OR_NOTHING,
    origin: str = ImportBatch.Origin.PAGE,
    template: ImportTemplate | None = None,
    owner_id: int | None = None,
) -> ImportBatch:
    """Store an uploaded file (encrypted) as a new batch, ready to be checked.

    A template gives the reading settings, the mapping and the policy for matching records (the
    arguments are then ignored); without one and without a mapping, each field is read from the
    column named like it (its name or its label). The header is read at once, so a file that cannot
    be read at all is refused here, and no batch is left behind."""
    require_permission(actor, IMPORT)
    owner = _owner(actor, owner_id)
    entity = clean_entity(entity)
    _require_entity_permissions(actor, entity)
    if template is not None:
        if template.entity != entity:
            raise ServiceError.field(
                "template", _("This template is for another kind of data."), code="template_entity"
            )
        file_format, encoding, delimiter = template.file_format, template.encoding, template.delimiter
        mapping, on_match = template.mapping, template.on_match
    fmt, enc, sep = clean_reading(file_format or "csv", encoding, delimiter)
    name = _file_name(file_name, fmt)
    on_match = _choice(on_match or OnMatch.UPDATE, "on_match", OnMatch.values, _("Choose update or skip."))
    mode = _choice(mode, "mode", ImportBatch.Mode.values, _("Choose all or nothing, or the valid rows."))
    origin = _choice(origin, "origin", ImportBatch.Origin.values, _("Unknown origin."))
    cleaned = clean_mapping(entity, mapping or {})

    batch_id = uuid.uuid4()
    try:
        stored = uploads.upload_store(batch_id, chunks, max_bytes=settings.FINCRM_IMPORT_MAX_BYTES)
    except readers.FileRejected as error:
        raise _reject(error) from None
    batch = ImportBatch(
        id=batch_id,
        created_by_id=owner,
        origin=origin,
        entity=entity,
        template=template,
        file_format=fmt,
        encoding=enc,
        delimiter=sep,
        mapping=cleaned,
        on_match=on_match,
        mode=mode,
        file_name=name,
        file_size=stored.size,
        file_sha256=stored.sha256,
        upload_path=stored.path,
        status=Status.UPLOADED,
    )
    try:
        header = read_header(batch)
        if not cleaned:
            batch.mapping = suggest_mapping(entity, header)
        with transaction.atomic():
            batch.save(force_insert=True)
            audit_record(
                actor,
                "import.uploaded",
                object_type="import",
                object_id=str(batch.pk),
                after=batch_snapshot(batch),
            )
    except readers.FileRejected as error:
        uploads.upload_delete(stored.path)
        raise _reject(error) from None
    except BaseException:
        uploads.upload_delete(stored.path)
        raise
    return batch


def import_batch_mapping_set(*, actor: Actor, batch: ImportBatch, mapping: Mapping[str, str]) -> ImportBatch:
    """Change which column feeds which field; the batch must be checked again afterwards."""
    with transaction.atomic():
        locked = access_import_batch(actor, batch.pk, for_update=True)
        if locked.status not in REMAPPABLE or not locked.upload_path:
            raise Conflict(_("The mapping of this import can no longer change."), code="import_state")
        cleaned = clean_mapping(locked.entity, mapping)
        if cleaned == locked.mapping:
            return locked
        before = dict(locked.mapping)
        locked.mapping = cleaned
        locked.status = Status.UPLOADED
        locked.error = ""
        locked.phase = ""
        locked.issues.all().delete()
        _reset_counts(locked)
        locked.save()
        audit_record(
            actor,
            "import.mapping.changed",
            object_type="import",
            object_id=str(locked.pk),
            before={"mapping": before},
            after={"mapping": cleaned},
        )
    return locked


def _reset_counts(batch: ImportBatch) -> None:
    for name in (
        "rows_done",
        "rows_total",
        "rows_invalid",
        "rows_inserted",
        "rows_updated",
        "rows_unchanged",
        "rows_skipped",
        "rows_deleted",
        "issue_count",
    ):
        setattr(batch, name, 0)


def import_batch_queue(*, actor: Actor, batch: ImportBatch, dry_run: bool) -> ImportBatch:
    """Queue a check (dry run) or the import itself as a background job, run as the batch's creator."""
    with transaction.atomic():
        locked = access_import_batch(actor, batch.pk, for_update=True)
        _require_entity_permissions(actor, locked.entity)
        _check_runnable(locked, dry_run=dry_run)
        locked.status = Status.QUEUED
        locked.dry_run = dry_run
        locked.phase = ""
        locked.error = ""
        locked.save(update_fields=["status", "dry_run", "phase", "error", "updated_at"])
        jobs.enqueue(RUN_JOB, batch_id=str(locked.pk), dry_run=dry_run, dedupe_key=f"import:{locked.pk}")
    return locked


def _check_runnable(batch: ImportBatch, *, dry_run: bool, queued_ok: bool = False) -> None:
    allowed = RUNNABLE | {Status.QUEUED} if queued_ok else RUNNABLE
    if batch.status not in allowed or not batch.upload_path:
        if batch.status in (Status.QUEUED, Status.RUNNING):
            raise Conflict(_("This import is already queued or running."), code="import_running")
        raise Conflict(
            _("This import is %(status)s: it cannot run again. Upload the file again to start over.")
            % {"status": batch.get_status_display()},
            code="import_state",
        )


def import_batch_run(
    *,
    actor: Actor,
    batch: ImportBatch,
    dry_run: bool,
    progress: Callable[[int, int], None] | None = None,
) -> importer.ImportOutcome:
    """Run the check or the import now, in this process (the job and ``fincrm import`` call this).

    A run that breaks unexpectedly leaves the batch failed, with nothing written (the importer
    writes in one transaction; it also records ``import.checked`` / ``import.applied``), and the
    error is raised again."""
    with transaction.atomic():
        locked = access_import_batch(actor, batch.pk, for_update=True)
        _check_runnable(locked, dry_run=dry_run, queued_ok=True)
        if locked.status != Status.QUEUED or locked.dry_run != dry_run:
            locked.status = Status.QUEUED
            locked.dry_run = dry_run
            locked.save(update_fields=["status", "dry_run", "updated_at"])
    try:
        outcome = importer.import_run(locked, actor=actor, dry_run=dry_run, progress=progress)
    except Exception as error:
        import_batches_fail([locked.pk], actor, reason=type(error).__name__)
        raise
    return outcome


def import_batches_fail(
    batch_ids: list[uuid.UUID], actor: Actor, *, reason: str, now: datetime | None = None
) -> int:
    """Mark batches failed (nothing was written: the importer's transaction rolled back), delete their
    files and record one ``import.failed`` event each."""
    moment = now or timezone.now()
    with transaction.atomic():
        batches = list(
            ImportBatch.objects.select_for_update().filter(
                pk__in=batch_ids, status__in=[Status.QUEUED, Status.RUNNING]
            )
        )
        if not batches:
            return 0
        for batch in batches:
            path = batch.upload_path
            if path:
                transaction.on_commit(partial(uploads.upload_delete, path))
        ImportBatch.objects.filter(pk__in=[batch.pk for batch in batches]).update(
            status=Status.FAILED,
            error=gettext(
                "The import stopped before it finished; nothing was written. Upload the file again."
            ),
            upload_path="",
            finished_at=moment,
            updated_at=moment,
        )
        audit_record_many(
            actor,
            "import.failed",
            [
                {
                    "object_type": "import_batch",
                    "object_id": str(batch.pk),
                    "after": {"file_sha256": batch.file_sha256, "status": Status.FAILED},
                    "reason": reason,
                }
                for batch in batches
            ],
        )
    for batch in batches:  # the operator's log says which batch failed and why (never its data)
        logger.warning("import batch %s failed: %s", batch.pk, reason)
    return len(batches)


def import_batches_fail_stuck(*, actor: Actor, now: datetime | None = None) -> int:
    """Batches running without a heartbeat for STUCK_AFTER: their worker died. Fail them."""
    moment = now or timezone.now()
    limit = moment - STUCK_AFTER
    stuck = list(
        ImportBatch.objects.filter(status=Status.RUNNING, heartbeat_at__lt=limit).values_list(
            "pk", flat=True
        )[:1000]
    )
    stuck += list(
        ImportBatch.objects.filter(
            status=Status.RUNNING, heartbeat_at__isnull=True, started_at__lt=limit
        ).values_list("pk", flat=True)[:1000]
    )
    if not stuck:
        return 0
    return import_batches_fail(stuck, actor, reason="no heartbeat for 10 minutes", now=moment)


# Batches whose file waits for a check, a fix of the mapping or the import itself.
WAITING = (Status.UPLOADED, Status.CHECKED, Status.INVALID, Status.FAILED)


def import_uploads_expire(*, actor: Actor, now: datetime | None = None) -> int:
    """Files uploaded but never imported are personal data kept for nothing: after
    ``FINCRM_IMPORT_UPLOAD_KEEP_HOURS`` without a change, the batch is cancelled and its file deleted
    (its report stays). Returns how many batches expired."""
    moment = now or timezone.now()
    limit = moment - timedelta(hours=settings.FINCRM_IMPORT_UPLOAD_KEEP_HOURS)
    expired = 0
    while True:
        with transaction.atomic():
            batches = list(
                ImportBatch.objects.select_for_update(skip_locked=True)
                .filter(status__in=WAITING, updated_at__lt=limit)
                .exclude(upload_path="")
                .order_by("updated_at")[:500]
            )
            if not batches:
                return expired
            for batch in batches:
                transaction.on_commit(partial(uploads.upload_delete, batch.upload_path))
            ImportBatch.objects.filter(pk__in=[batch.pk for batch in batches]).update(
                status=Status.CANCELLED,
                error=gettext("The file was deleted after %(hours)s hours without being imported.")
                % {"hours": settings.FINCRM_IMPORT_UPLOAD_KEEP_HOURS},
                upload_path="",
                finished_at=moment,
                updated_at=moment,
            )
            audit_record_many(
                actor,
                "import.expired",
                [
                    {
                        "object_type": "import_batch",
                        "object_id": str(batch.pk),
                        "before": {"status": batch.status},
                        "after": {"file_sha256": batch.file_sha256, "status": Status.CANCELLED},
                        "reason": "upload kept too long without an import",
                    }
                    for batch in batches
                ],
            )
        expired += len(batches)


@transaction.atomic
def import_batch_cancel(*, actor: Actor, batch: ImportBatch) -> ImportBatch:
    """Give up a batch that has not been imported: its file is deleted at once."""
    locked = access_import_batch(actor, batch.pk, for_update=True)
    if locked.status not in CANCELLABLE:
        raise Conflict(
            _("This import is %(status)s: it cannot be cancelled.") % {"status": locked.get_status_display()},
            code="import_state",
        )
    path = locked.upload_path
    locked.status = Status.CANCELLED
    locked.upload_path = ""
    locked.finished_at = timezone.now()
    locked.save(update_fields=["status", "upload_path", "finished_at", "updated_at"])
    if path:
        transaction.on_commit(lambda: uploads.upload_delete(path))
    audit_record(
        actor,
        "import.cancelled",
        object_type="import",
        object_id=str(locked.pk),
        after={"file_sha256": locked.file_sha256, "status": Status.CANCELLED},
    )
    return locked


ISSUE_COLUMNS = (
    ("row", _("Row"), False),
    ("column", _("Column"), False),
    ("value", _("Value"), True),
    ("code", _("Rule"), False),
    ("message", _("Message"), False),
)


@transaction.atomic
def import_issues_csv(*, actor: Actor, batch_id: object) -> tuple[ImportBatch, bytes]:
    """Every issue of a batch as CSV (values already masked; formula-like cells neutralized)."""
    batch = access_import_batch(actor, batch_id)
    rows = (
        (issue.row_number, issue.column, issue.value, issue.code, issue.message)
        for issue in batch.issues.order_by("row_number", "id").iterator(chunk_size=2000)
    )
    columns = [Column(key, str(label), text) for key, label, text in ISSUE_COLUMNS]
    watermark = gettext("fincrm import errors · %(file)s · %(user)s · %(time)s") % {
        "file": batch.file_name,
        "user": actor.username or actor.label,
        "time": timezone.localtime().strftime("%Y-%m-%d %H:%M"),
    }
    content = write_csv(columns, rows, watermark=watermark)
    audit_record(
        actor,
        "import.issues.downloaded",
        object_type="import",
        object_id=str(batch.pk),
        after={"issues": batch.issue_count},
    )
    return batch, content


@transaction.atomic
def import_rejects_download(*, actor: Actor, batch_id: object) -> tuple[ExportFile, bytes]:
    """The rows a "valid rows" import left out, with an error column (creator only, until it expires)."""
    batch = access_import_batch(actor, batch_id)
    export = batch.rejects_file
    if export is None or export.expires_at <= timezone.now():
        raise ServiceError(_("There is no file of rejected rows (any more)."), code="no_rejects", status=404)
    content = keyring.decrypt(export.content, export_associated_data(export.pk))
    ExportFile.objects.filter(pk=export.pk).update(downloads=export.downloads + 1)
    audit_record(
        actor,
        "import.rejects.downloaded",
        object_type="export_file",
        object_id=str(export.pk),
        after={"sha256": export.sha256, "import_batch": str(batch.pk)},
    )
    return export, content


# ---------------------------------------------------------------- templates


def template_snapshot(template: ImportTemplate) -> dict[str, Any]:
    return {
        "name": template.name,
        "entity": template.entity,
        "file_format": template.file_format,
        "encoding": template.encoding,
        "delimiter": template.delimiter,
        "mapping": template.mapping,
        "on_match": template.on_match,
    }


@transaction.atomic
def import_template_save(
    *,
    actor: Actor,
    template: ImportTemplate | None = None,
    name: str,
    entity: str,
    file_format: str,
    encoding: str,
    delimiter: str,
    mapping: Mapping[str, str],
    on_match: str,
) -> ImportTemplate:
    """Create a template (``template=None``) or change one the actor created."""
    require_permission(actor, IMPORT)
    if template is not None:
        template = access_import_template(actor, template.pk, own=True, for_update=True)
    elif actor.user_id is None:
        raise Forbidden(IMPORT)
    clean_name = str(name or "").strip()
    if not clean_name:
        raise ServiceError.field("name", _("This field is required."), code="required")
    if len(clean_name) > 100:
        raise ServiceError.field("name", _("Use at most %(limit)d characters.") % {"limit": 100})
    clash = ImportTemplate.objects.filter(name=clean_name)
    if template is not None:
        clash = clash.exclude(pk=template.pk)
    if clash.exists():
        raise ServiceError.field("name", _("Another template already has this name."), code="duplicate")
    entity = clean_entity(entity)
    fmt, enc, sep = clean_reading(file_format, encoding, delimiter)
    values = {
        "name": clean_name,
        "entity": entity,
        "file_format": fmt,
        "encoding": enc,
        "delimiter": sep,
        "mapping": clean_mapping(entity, mapping),
        "on_match": _choice(
            on_match or OnMatch.UPDATE, "on_match", OnMatch.values, _("Choose update or skip.")
        ),
    }
    before = template_snapshot(template) if template is not None else None
    if template is None:
        assert actor.user_id is not None  # checked above
        template = ImportTemplate(created_by_id=actor.user_id, **values)
    else:
        for key, value in values.items():
            setattr(template, key, value)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:  # a concurrent save took the name
        raise ServiceError.field(
            "name", _("Another template already has this name."), code="duplicate"
        ) from None
    audit_record(
        actor,
        "import.template.saved",
        object_type="import_template",
        object_id=str(template.pk),
        before=before,
        after=template_snapshot(template),
    )
    return template


@transaction.atomic
def import_template_delete(*, actor: Actor, template: ImportTemplate) -> None:
    """Delete a template the actor created (batches made with it keep their own copy of the mapping)."""
    locked = access_import_template(actor, template.pk, own=True, for_update=True)
    before = template_snapshot(locked)
    pk = locked.pk
    locked.delete()
    audit_record(
        actor, "import.template.deleted", object_type="import_template", object_id=str(pk), before=before
    )


# ---------------------------------------------------------------- exports going out


@transaction.atomic
def export_files_purge(*, actor: Actor, now: datetime | None = None) -> int:
    """Delete export files whose link has expired (their content with them); one audit event."""
    moment = now or timezone.now()
    expired = ExportFile.objects.filter(expires_at__lte=moment)
    ids = [str(pk) for pk in expired.values_list("pk", flat=True)[:10_000]]
    if not ids:
        return 0
    deleted, _details = ExportFile.objects.filter(pk__in=ids).delete()
    audit_record(
        actor,
        "export.purged",
        object_type="export_file",
        after={"deleted": deleted, "export_files": ids[:100]},
        reason="link expired",
    )
    return deleted

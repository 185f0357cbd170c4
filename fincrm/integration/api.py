"""The import API: upload a file as a batch, check it, import it, read its status and errors, and
manage mapping templates. Needs ``data.import``; a batch is only its creator's.

``POST /imports`` is ``multipart/form-data`` with the part ``file`` and either the part ``template``
(a template's name) or the part ``options``, a JSON object::

    {"entity": "customers", "file_format": "csv", "encoding": "utf-8", "delimiter": ",",
     "mapping": {"customer_number": "客户号", ...}, "on_match": "update", "mode": "all"}

(every key but ``entity`` optional; without a mapping each field is read from the column named
like it). ``POST /imports/{id}/check`` and ``/run`` queue the work and answer 202 with the
batch and its ``status_url``; poll ``GET /imports/{id}`` until the status is ``checked``,
``invalid``, ``done`` or ``failed``, then page through ``GET /imports/{id}/issues``.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import File, Form, Router, Schema
from ninja.errors import AuthenticationError
from ninja.files import UploadedFile
from ninja.pagination import paginate
from ninja.responses import Status

from fincrm.integration import selectors, services
from fincrm.integration.exports import CONTENT_TYPES
from fincrm.integration.models import ImportBatch, ImportTemplate
from fincrm.platform.actor import Actor
from fincrm.platform.downloads import download
from fincrm.platform.errors import ServiceError
from fincrm.platform.pagination import CursorPagination

router = Router(tags=["imports"])

OPTION_KEYS = {"entity", "file_format", "encoding", "delimiter", "mapping", "on_match", "mode"}


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


class BatchOut(Schema):
    id: uuid.UUID
    status: str
    dry_run: bool
    phase: str
    entity: str
    template: str | None
    file_name: str
    file_format: str
    encoding: str
    delimiter: str
    file_size: int
    file_sha256: str
    mapping: dict[str, str]
    on_match: str
    mode: str
    origin: str
    rows_done: int
    rows_total: int
    rows_invalid: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    rows_skipped: int
    rows_deleted: int
    issue_count: int
    error: str
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    status_url: str
    issues_url: str
    rejects_url: str | None

    @staticmethod
    def resolve_template(batch: ImportBatch) -> str | None:
        return batch.template.name if batch.template_id and batch.template else None

    @staticmethod
    def resolve_status_url(batch: ImportBatch) -> str:
        return reverse("api-1:import-get", kwargs={"batch_id": batch.pk})

    @staticmethod
    def resolve_issues_url(batch: ImportBatch) -> str:
        return reverse("api-1:import-issues", kwargs={"batch_id": batch.pk})

    @staticmethod
    def resolve_rejects_url(batch: ImportBatch) -> str | None:
        if batch.rejects_file_id is None:
            return None
        return reverse("api-1:import-rejects", kwargs={"batch_id": batch.pk})


class IssueOut(Schema):
    id: int
    row_number: int
    column: str
    value: str
    code: str
    message: str


class TemplateIn(Schema):
    name: str
    entity: str
    file_format: str = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    mapping: dict[str, str] = {}
    on_match: str = "update"


class TemplateOut(Schema):
    id: int
    name: str
    entity: str
    file_format: str
    encoding: str
    delimiter: str
    mapping: dict[str, str]
    on_match: str
    created_by: str
    created_at: datetime.datetime
    updated_at: datetime.datetime


def _template_out(template: ImportTemplate) -> dict[str, Any]:
    return {
        "id": template.pk,
        "name": template.name,
        "entity": template.entity,
        "file_format": template.file_format,
        "encoding": template.encoding,
        "delimiter": template.delimiter,
        "mapping": template.mapping,
        "on_match": template.on_match,
        "created_by": template.created_by.username,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


def _options(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        options = json.loads(text)
    except ValueError:
        options = None
    if not isinstance(options, dict):
        raise ServiceError.field("options", _("Give the options as a JSON object."), code="options")
    unknown = sorted(set(options) - OPTION_KEYS)
    if unknown:
        raise ServiceError.field(
            "options",
            _("Unknown option(s): %(keys)s. Known: %(known)s.")
            % {"keys": ", ".join(str(key)[:40] for key in unknown), "known": ", ".join(sorted(OPTION_KEYS))},
            code="options",
        )
    return options


# ---------------------------------------------------------------- batches


@router.post("/imports", response={201: BatchOut}, url_name="import-create")
def create_import(
    request: HttpRequest,
    file: UploadedFile = File(...),  # noqa: B008 - ninja's way of declaring a part
    options: str = Form(""),
    template: str = Form(""),
) -> Status[ImportBatch]:
    """Upload a file as a new batch (stored encrypted until it is imported)."""
    actor = _actor(request)
    settings_ = _options(options)
    chosen = selectors.import_template_by_name(actor, template) if template.strip() else None
    entity = settings_.get("entity") or (chosen.entity if chosen else "")
    batch = services.import_batch_create(
        actor=actor,
        entity=entity,
        file_name=file.name or "",
        chunks=file.chunks(),
        file_format=settings_.get("file_format"),
        encoding=settings_.get("encoding"),
        delimiter=settings_.get("delimiter"),
        mapping=settings_.get("mapping"),
        on_match=settings_.get("on_match"),
        mode=settings_.get("mode") or ImportBatch.Mode.ALL_OR_NOTHING,
        origin=ImportBatch.Origin.API,
        template=chosen,
    )
    return Status(201, batch)


@router.get("/imports", response=list[BatchOut], url_name="import-list")
@paginate(CursorPagination, ordering=("-created_at", "-id"))
def list_imports(request: HttpRequest) -> Any:
    """The caller's own batches, newest first."""
    return selectors.import_batch_list(actor=_actor(request))


@router.get("/imports/{batch_id}", response=BatchOut, url_name="import-get")
def get_import(request: HttpRequest, batch_id: uuid.UUID) -> ImportBatch:
    """A batch's status and counts."""
    return selectors.access_import_batch(_actor(request), batch_id)


def _queue(request: HttpRequest, batch_id: uuid.UUID, *, dry_run: bool) -> Status[ImportBatch]:
    actor = _actor(request)
    batch = selectors.access_import_batch(actor, batch_id)
    queued = services.import_batch_queue(actor=actor, batch=batch, dry_run=dry_run)
    return Status(202, queued)


@router.post("/imports/{batch_id}/check", response={202: BatchOut}, url_name="import-check")
def check_import(request: HttpRequest, batch_id: uuid.UUID) -> Status[ImportBatch]:
    """Queue a dry run: every row is checked, nothing is written."""
    return _queue(request, batch_id, dry_run=True)


@router.post("/imports/{batch_id}/run", response={202: BatchOut}, url_name="import-run")
def run_import(request: HttpRequest, batch_id: uuid.UUID) -> Status[ImportBatch]:
    """Queue the import itself."""
    return _queue(request, batch_id, dry_run=False)


@router.post("/imports/{batch_id}/cancel", response=BatchOut, url_name="import-cancel")
def cancel_import(request: HttpRequest, batch_id: uuid.UUID) -> ImportBatch:
    """Give up a batch that was not imported; its file is deleted."""
    actor = _actor(request)
    batch = selectors.access_import_batch(actor, batch_id)
    return services.import_batch_cancel(actor=actor, batch=batch)


@router.get("/imports/{batch_id}/issues", response=list[IssueOut], url_name="import-issues")
@paginate(CursorPagination, ordering=("row_number", "id"))
def list_issues(request: HttpRequest, batch_id: str) -> Any:
    """The batch's errors in file order (values masked when the field is sensitive)."""
    issues: Any = selectors.import_issue_list(actor=_actor(request), batch_id=batch_id)
    return issues


@router.get("/imports/{batch_id}/rejects", url_name="import-rejects")
def download_rejects(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    """The rows a "valid rows" import left out, with an error column."""
    export, content = services.import_rejects_download(actor=_actor(request), batch_id=batch_id)
    return download(content, content_type=CONTENT_TYPES[export.file_format], filename=export.filename)


# ---------------------------------------------------------------- templates


@router.get("/import-templates", response=list[TemplateOut], url_name="import-template-list")
def list_templates(request: HttpRequest, entity: str | None = None) -> list[dict[str, Any]]:
    return [_template_out(t) for t in selectors.import_template_list(actor=_actor(request), entity=entity)]


@router.get("/import-templates/{template_id}", response=TemplateOut, url_name="import-template-get")
def get_template(request: HttpRequest, template_id: int) -> dict[str, Any]:
    return _template_out(selectors.access_import_template(_actor(request), template_id))


@router.post("/import-templates", response={201: TemplateOut}, url_name="import-template-create")
def create_template(request: HttpRequest, payload: TemplateIn) -> Status[dict[str, Any]]:
    template = services.import_template_save(actor=_actor(request), **payload.dict())
    return Status(201, _template_out(template))


@router.put("/import-templates/{template_id}", response=TemplateOut, url_name="import-template-update")
def update_template(request: HttpRequest, template_id: int, payload: TemplateIn) -> dict[str, Any]:
    actor = _actor(request)
    template = selectors.access_import_template(actor, template_id, own=True)
    return _template_out(services.import_template_save(actor=actor, template=template, **payload.dict()))


@router.delete("/import-templates/{template_id}", response={204: None}, url_name="import-template-delete")
def delete_template(request: HttpRequest, template_id: int) -> Status[None]:
    actor = _actor(request)
    template = selectors.access_import_template(actor, template_id, own=True)
    services.import_template_delete(actor=actor, template=template)
    return Status(204, None)

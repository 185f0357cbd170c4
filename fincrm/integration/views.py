"""Import pages: my imports, a new import, a batch (mapping, check, import, progress, report) and
the mapping templates. Every page needs ``data.import``; a batch is only its creator's."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from fincrm.integration import importer, readers, selectors, services
from fincrm.integration.entities import ENTITIES
from fincrm.integration.exports import CONTENT_TYPES, CSV_CONTENT_TYPE
from fincrm.integration.forms import ImportNewForm, MappingForm, TemplateForm, TemplateNameForm
from fincrm.integration.models import ImportBatch, ImportEntity
from fincrm.platform.actor import Actor
from fincrm.platform.downloads import download
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.views import page, permission_required_page, request_actor

IMPORT = selectors.IMPORT
Status = ImportBatch.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)
POLL_SECONDS = 2


def _page(view: Any) -> Any:
    """Collections and forms: without data.import, the 403 page."""
    return permission_required_page(IMPORT)(view)


def _object_page(view: Any) -> Any:
    """A batch or template: without data.import (or not the creator's), not found."""
    return page(view)


def _error_text(error: ServiceError) -> str:
    if error.fields:
        return " ".join(message for messages_ in error.fields.values() for message in messages_)
    return str(error.message)


# ---------------------------------------------------------------- batches


@_page
@require_http_methods(["GET"])
def batch_list(request: HttpRequest) -> HttpResponse:
    batches = list(selectors.import_batch_list(actor=request_actor(request))[:200])
    return render(request, "integration/batch_list.html", {"batches": batches, "active": ACTIVE})


@_page
@require_http_methods(["GET", "POST"])
def batch_new(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    templates = list(selectors.import_template_list(actor=actor))
    if request.method == "POST":
        form = ImportNewForm(request.POST, request.FILES, templates=templates)
        if form.is_valid():
            data = form.cleaned_data
            try:
                template = (
                    selectors.access_import_template(actor, data["template"]) if data["template"] else None
                )
                upload = data["file"]
                batch = services.import_batch_create(
                    actor=actor,
                    entity=data["entity"],
                    file_name=upload.name,
                    chunks=upload.chunks(),
                    file_format=data["file_format"],
                    encoding=data["encoding"],
                    delimiter=data["delimiter"],
                    mapping=None,
                    on_match=data["on_match"],
                    mode=data["mode"],
                    origin=ImportBatch.Origin.PAGE,
                    template=template,
                )
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("File uploaded. Check the column mapping, then run a check."))
                return redirect("integration:batch-detail", pk=batch.pk)
    else:
        initial = {"entity": request.GET.get("entity", ImportEntity.CUSTOMERS), "file_format": "csv"}
        form = ImportNewForm(initial=initial, templates=templates)
    return render(request, "integration/batch_new.html", {"form": form, "templates": templates})


def _progress(batch: ImportBatch) -> int | None:
    if batch.rows_total:
        return min(100, int(batch.rows_done * 100 / batch.rows_total))
    return None


def _status_context(actor: Actor, batch: ImportBatch) -> dict[str, Any]:
    issues = []
    if batch.issue_count and batch.status not in ACTIVE:
        issues = list(selectors.import_issue_list(actor=actor, batch_id=batch.pk)[: selectors.ISSUES_SHOWN])
    elapsed = None
    if batch.started_at:
        elapsed = int(((batch.finished_at or timezone.now()) - batch.started_at).total_seconds())
    return {
        "batch": batch,
        "is_active": batch.status in ACTIVE,
        "percent": _progress(batch),
        "issues": issues,
        "issues_shown": len(issues),
        "elapsed": elapsed,
        "poll_seconds": POLL_SECONDS,
        "has_rejects": batch.rejects_file_id is not None,
    }


def _detail(
    request: HttpRequest,
    batch: ImportBatch,
    *,
    mapping_form: MappingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    actor = request_actor(request)
    context = _status_context(actor, batch)
    header: list[str] = []
    header_error = ""
    can_remap = batch.status in services.REMAPPABLE and bool(batch.upload_path)
    if can_remap:
        try:
            header = services.read_header(batch)
        except readers.FileRejected as error:
            header_error = str(error.message)
        if mapping_form is None and not header_error:
            mapping_form = MappingForm(entity=batch.entity, header=header, initial_mapping=batch.mapping)
    spec = ENTITIES[batch.entity]
    missing = [spec.field(name).label for name in spec.required if name not in batch.mapping]
    context.update(
        header=header,
        header_error=header_error,
        mapping_problems=importer.mapping_problems(batch.entity, batch.mapping, header) if header else [],
        missing_required=missing,
        mapping_form=mapping_form if can_remap else None,
        mapping_rows=[(spec.field(field).label, field, column) for field, column in batch.mapping.items()],
        can_run=batch.status in services.RUNNABLE and bool(batch.upload_path),
        can_cancel=batch.status in services.CANCELLABLE,
        template_form=TemplateNameForm(),
    )
    return render(request, "integration/batch_detail.html", context, status=status)


@_object_page
@require_http_methods(["GET"])
def batch_detail(request: HttpRequest, pk: str) -> HttpResponse:
    batch = selectors.access_import_batch(request_actor(request), pk)
    return _detail(request, batch)


@_object_page
@require_http_methods(["GET"])
def batch_status(request: HttpRequest, pk: str) -> HttpResponse:
    """The status card alone: polled by htmx (as background traffic) while the batch runs."""
    actor = request_actor(request)
    batch = selectors.access_import_batch(actor, pk)
    response = render(request, "integration/_batch_status.html", _status_context(actor, batch))
    if batch.status not in ACTIVE and request.GET.get("was") == "active":
        # It just finished: reload the page so the mapping, the buttons and the report follow.
        response["HX-Refresh"] = "true"
    return response


@_object_page
@require_http_methods(["POST"])
def batch_mapping(request: HttpRequest, pk: str) -> HttpResponse:
    actor = request_actor(request)
    batch = selectors.access_import_batch(actor, pk)
    try:
        header = services.read_header(batch) if batch.upload_path else []
    except readers.FileRejected:
        header = []
    form = MappingForm(request.POST, entity=batch.entity, header=header, initial_mapping=batch.mapping)
    if form.is_valid():
        try:
            services.import_batch_mapping_set(actor=actor, batch=batch, mapping=form.mapping())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Mapping saved. Run a check to see what the file would do."))
            return redirect("integration:batch-detail", pk=batch.pk)
    return _detail(request, batch, mapping_form=form, status=400)


@_object_page
@require_http_methods(["POST"])
def batch_queue(request: HttpRequest, pk: str, dry_run: bool) -> HttpResponse:
    actor = request_actor(request)
    batch = selectors.access_import_batch(actor, pk)
    try:
        services.import_batch_queue(actor=actor, batch=batch, dry_run=dry_run)
    except ServiceError as error:
        messages.error(request, _error_text(error))
    else:
        if dry_run:
            messages.success(request, _("Check started: nothing is written. The report appears here."))
        else:
            messages.success(request, _("Import started. Its progress and report appear here."))
    return redirect("integration:batch-detail", pk=batch.pk)


@_object_page
@require_http_methods(["POST"])
def batch_cancel(request: HttpRequest, pk: str) -> HttpResponse:
    actor = request_actor(request)
    batch = selectors.access_import_batch(actor, pk)
    try:
        services.import_batch_cancel(actor=actor, batch=batch)
    except ServiceError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _("Import cancelled; the uploaded file was deleted."))
    return redirect("integration:batch-detail", pk=batch.pk)


@_object_page
@require_http_methods(["GET"])
def batch_issues_csv(request: HttpRequest, pk: str) -> HttpResponse:
    batch, content = services.import_issues_csv(actor=request_actor(request), batch_id=pk)
    return download(content, content_type=CSV_CONTENT_TYPE, filename=f"import-errors-{batch.pk}.csv")


@_object_page
@require_http_methods(["GET"])
def batch_rejects(request: HttpRequest, pk: str) -> HttpResponse:
    actor = request_actor(request)
    try:
        export, content = services.import_rejects_download(actor=actor, batch_id=pk)
    except ServiceError as error:
        messages.error(request, _error_text(error))
        return redirect("integration:batch-detail", pk=pk)
    return download(content, content_type=CONTENT_TYPES[export.file_format], filename=export.filename)


@_object_page
@require_http_methods(["POST"])
def batch_save_template(request: HttpRequest, pk: str) -> HttpResponse:
    actor = request_actor(request)
    batch = selectors.access_import_batch(actor, pk)
    form = TemplateNameForm(request.POST)
    if form.is_valid():
        try:
            template = services.import_template_save(
                actor=actor,
                name=form.cleaned_data["name"],
                entity=batch.entity,
                file_format=batch.file_format,
                encoding=batch.encoding,
                delimiter=batch.delimiter,
                mapping=batch.mapping,
                on_match=batch.on_match,
            )
        except ServiceError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("Template “%(name)s” saved.") % {"name": template.name})
    else:
        messages.error(request, _("Give the template a name of at most 100 characters."))
    return redirect("integration:batch-detail", pk=batch.pk)


# ---------------------------------------------------------------- templates


@_page
@require_http_methods(["GET"])
def template_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    templates = list(selectors.import_template_list(actor=actor))
    return render(
        request,
        "integration/template_list.html",
        {"templates": templates, "entities": ImportEntity.choices, "user_id": actor.user_id},
    )


@_page
@require_http_methods(["GET", "POST"])
def template_new(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    entity = request.GET.get("entity", "")
    if entity not in ENTITIES:
        messages.error(request, _("Choose what the template's files hold."))
        return redirect("integration:template-list")
    if request.method == "POST":
        form = TemplateForm(request.POST, entity=entity)
        if form.is_valid():
            try:
                services.import_template_save(actor=actor, **form.service_arguments())
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Template saved."))
                return redirect("integration:template-list")
    else:
        form = TemplateForm(
            entity=entity, initial={"file_format": "csv", "encoding": "utf-8", "delimiter": ","}
        )
    title = _("New import template: %(entity)s") % {"entity": ImportEntity(entity).label}
    return render(request, "integration/template_form.html", {"form": form, "title": title})


@_object_page
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    template = selectors.access_import_template(actor, pk, own=True)
    if request.method == "POST":
        form = TemplateForm(request.POST, entity=template.entity)
        if form.is_valid():
            try:
                services.import_template_save(actor=actor, template=template, **form.service_arguments())
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Template saved."))
                return redirect("integration:template-list")
    else:
        form = TemplateForm(entity=template.entity, initial=TemplateForm.initial_for(template))
    title = _("Edit import template “%(name)s”") % {"name": template.name}
    return render(
        request, "integration/template_form.html", {"form": form, "title": title, "template": template}
    )


@_object_page
@require_http_methods(["POST"])
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    template = selectors.access_import_template(actor, pk, own=True)
    services.import_template_delete(actor=actor, template=template)
    messages.success(request, _("Template deleted."))
    return redirect("integration:template-list")

"""Customer-list exports (CSV, XLSX): masked, watermarked, encrypted at rest, behind an expiring link.

An export needs ``customer.export`` (its scope decides which customers are in the file) and a
recent step-up (checked by the page or endpoint, passed in as ``stepped_up``). Up to
``FINCRM_EXPORT_ROW_CAP`` rows it runs at once; above, it is refused with a message saying an
approval is needed: the user asks for one (``export_request_create``), a different person with
``customer.export`` over the whole institution approves it, and the requester runs it once.
The file is encrypted with the keyring (AES-256-GCM, bound to its row id), downloadable only by
its creator until ``FINCRM_EXPORT_LINK_MINUTES`` have passed, then deleted by the job
``integration.exports.purge``. The audit event ``customer.exported`` carries the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.customers.filtersets import COLUMNS, CUSTOM_PREFIX, CustomerFilterSet
from fincrm.customers.selectors.lists import capped_count, column_labels, customer_list, export_rows
from fincrm.integration.exports import CONTENT_TYPES, Column, write_csv, write_xlsx
from fincrm.integration.models import ExportFile, ExportRequest
from fincrm.platform import outbox, transaction
from fincrm.platform.access import access_object, record_denied, require_permission
from fincrm.platform.actor import Actor, Scope
from fincrm.platform.errors import Forbidden, ServiceError
from fincrm.security.keyring import keyring

EXPORT = "customer.export"
KIND = "customers"
# An approved export still stops somewhere: the file is built in memory.
APPROVED_ROW_LIMIT = 1_000_000


def export_associated_data(export_id: uuid.UUID | str) -> bytes:
    return f"fincrm:v1:integration_exportfile:content:{uuid.UUID(str(export_id))}".encode()


def _audited_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    # Custom-field values may be personal (a C2 field filters by exact value): never in the log.
    return {key: ("****" if key.startswith(CUSTOM_PREFIX) else value) for key, value in parameters.items()}


def _check_format(file_format: str) -> str:
    if file_format not in CONTENT_TYPES:
        raise ServiceError.field("format", _("Choose the file format CSV or XLSX."), code="invalid_format")
    return file_format


def _valid_filterset(actor: Actor, parameters: Mapping[str, Any]) -> CustomerFilterSet:
    filterset = CustomerFilterSet(parameters, actor=actor)
    if not filterset.is_valid():
        raise filterset.service_error()
    return filterset


def needs_approval_error(cap: int) -> ServiceError:
    return ServiceError(
        _(
            "This export has more than %(cap)s rows, the most that may be exported without approval. "
            "Request an approval: a second person with export permission for the whole institution "
            "must approve it."
        )
        % {"cap": f"{cap:,}"},
        code="export_needs_approval",
        status=403,
    )


def step_up_error() -> ServiceError:
    return ServiceError(
        _("Confirm your identity again (step-up) before exporting."), code="step_up_required", status=403
    )


def watermark_text(actor: Actor, moment: Any) -> str:
    local = timezone.localtime(moment)
    return gettext("Exported by %(user)s on %(time)s (%(zone)s) — confidential, for internal use only") % {
        "user": actor.username or actor.label,
        "time": local.strftime("%Y-%m-%d %H:%M:%S"),
        "zone": str(local.tzinfo),
    }


class _Counted:
    """Counts rows while the writer consumes them."""

    def __init__(self, rows: Iterator[list[Any]]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[list[Any]]:
        for row in self.rows:
            self.count += 1
            yield row


def approved_request(actor: Actor, request_id: object) -> ExportRequest:
    """The actor's own approved, not yet used export request, locked (404 otherwise): what a page
    export or an API export session above the row cap runs under."""
    return access_object(
        ExportRequest.objects.select_for_update().filter(
            requested_by_id=actor.user_id, kind=KIND, status=ExportRequest.Status.APPROVED
        ),
        request_id,
        actor=actor,
        action=EXPORT,
        object_type="export_request",
    )


@transaction.atomic
def customer_export(
    *,
    actor: Actor,
    parameters: Mapping[str, Any],
    file_format: str,
    stepped_up: bool,
    approved_request_id: int | None = None,
) -> ExportFile:
    """Export the actor's filtered customer list; returns the stored (encrypted) file."""
    require_permission(actor, EXPORT)
    if actor.user_id is None:
        raise Forbidden(EXPORT)  # a file needs a person to download it
    if not stepped_up:
        raise step_up_error()
    approval: ExportRequest | None = None
    if approved_request_id is not None:
        approval = approved_request(actor, approved_request_id)
        parameters, file_format = approval.parameters, approval.file_format
    _check_format(file_format)
    filterset = _valid_filterset(actor, parameters)
    queryset = customer_list(actor=actor, filterset=filterset, action=EXPORT)
    cap = int(settings.FINCRM_EXPORT_ROW_CAP)
    if approval is None:
        if capped_count(queryset, cap).capped:
            raise needs_approval_error(cap)
    elif capped_count(queryset, APPROVED_ROW_LIMIT).capped:
        raise ServiceError(
            _("An export has at most %(limit)s rows: narrow the filters.")
            % {"limit": f"{APPROVED_ROW_LIMIT:,}"},
            code="export_too_large",
        )

    now = timezone.now()
    columns = filterset.columns
    spec = [
        Column(code, label, text=COLUMNS[code].text)
        for code, label in zip(columns, column_labels(columns), strict=True)
    ]
    rows = _Counted(export_rows(queryset=queryset, columns=columns, ordering=filterset.ordering))
    watermark = watermark_text(actor, now)
    if file_format == "csv":
        content = write_csv(spec, rows, watermark=watermark)
    else:
        content = write_xlsx(spec, rows, watermark=watermark, sheet_title=gettext("Customers"))
    digest = hashlib.sha256(content).hexdigest()
    export_id = uuid.uuid4()
    local = timezone.localtime(now)
    export = ExportFile.objects.create(
        id=export_id,
        created_by_id=actor.user_id,
        expires_at=now + timedelta(minutes=int(settings.FINCRM_EXPORT_LINK_MINUTES)),
        kind=KIND,
        file_format=file_format,
        filename=f"customers-{local:%Y%m%d-%H%M%S}.{file_format}",
        row_count=rows.count,
        sha256=digest,
        size=len(content),
        content=keyring.encrypt(content, export_associated_data(export_id)),
    )
    if approval is not None:
        approval.status = ExportRequest.Status.USED
        approval.save(update_fields=["status", "updated_at"])
    audit_record(
        actor,
        "customer.exported",
        object_type="export_file",
        object_id=str(export_id),
        after={
            "rows": rows.count,
            "sha256": digest,
            "format": file_format,
            "columns": columns,
            "filters": _audited_parameters(filterset.filter_params()),
            "sort": filterset.sort,
            "masked": True,
            "approval_request": approval.pk if approval is not None else None,
        },
    )
    outbox.publish("customer.exported", export_file_id=str(export_id))
    return export


@transaction.atomic
def export_file_download(*, actor: Actor, export_id: object) -> tuple[ExportFile, bytes]:
    """The clear file, for its creator only and only until it expires (otherwise not found)."""
    mine = export_files_for(actor=actor).select_for_update()
    export = access_object(mine, export_id, actor=actor, action=EXPORT, object_type="export_file")
    content = keyring.decrypt(export.content, export_associated_data(export.pk))
    if hashlib.sha256(content).hexdigest() != export.sha256:  # pragma: no cover - GCM already authenticates
        raise ServiceError(_("The export file is damaged."), code="export_damaged", status=500)
    export.downloads += 1
    export.save(update_fields=["downloads"])
    audit_record(
        actor,
        "customer.export.downloaded",
        object_type="export_file",
        object_id=str(export.pk),
        after={"sha256": export.sha256, "downloads": export.downloads},
    )
    return export, content


def export_files_for(*, actor: Actor) -> QuerySet[ExportFile]:
    """The actor's own unexpired export files (none without the export permission: not found)."""
    if actor.user_id is None or not actor.can(EXPORT):
        return ExportFile.objects.none()
    return ExportFile.objects.filter(created_by_id=actor.user_id, expires_at__gt=timezone.now())


# ---------------------------------------------------------------- approvals above the row cap


def can_approve_exports(actor: Actor) -> bool:
    return Scope.INSTITUTION in actor.scopes_for(EXPORT)


@transaction.atomic
def export_request_create(
    *, actor: Actor, parameters: Mapping[str, Any], file_format: str, reason: str
) -> ExportRequest:
    """Ask for an export above the row cap; someone else with institution-wide export approves it."""
    require_permission(actor, EXPORT)
    if actor.user_id is None:
        raise Forbidden(EXPORT)
    _check_format(file_format)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError.field("reason", _("Say why this large export is needed."), code="required")
    if len(reason) > 500:
        raise ServiceError.field("reason", _("A reason has at most 500 characters."), code="too_long")
    filterset = _valid_filterset(actor, parameters)
    count = capped_count(customer_list(actor=actor, filterset=filterset, action=EXPORT), APPROVED_ROW_LIMIT)
    stored = filterset.params()
    request = ExportRequest.objects.create(
        requested_by_id=actor.user_id,
        kind=KIND,
        file_format=file_format,
        parameters=stored,
        row_count=count.value,
        reason=reason,
    )
    audit_record(
        actor,
        "customer.export.requested",
        object_type="export_request",
        object_id=str(request.pk),
        after={"rows": count.value, "format": file_format, "parameters": _audited_parameters(stored)},
        reason=reason,
    )
    outbox.publish("customer.export.requested", export_request_id=request.pk)
    return request


@transaction.atomic
def export_request_decide(*, actor: Actor, request_id: object, approve: bool) -> ExportRequest:
    """Approve or refuse a pending request: institution-wide export permission, never one's own."""
    if not can_approve_exports(actor):
        record_denied(actor, EXPORT, object_type="export_request", object_id=request_id)
        raise Forbidden(EXPORT)
    request = access_object(
        ExportRequest.objects.select_for_update().filter(kind=KIND, status=ExportRequest.Status.PENDING),
        request_id,
        actor=actor,
        action=EXPORT,
        object_type="export_request",
    )
    if request.requested_by_id == actor.user_id:
        raise ServiceError(
            _("Nobody approves their own export request: another person must decide."),
            code="own_request",
            status=403,
        )
    request.status = ExportRequest.Status.APPROVED if approve else ExportRequest.Status.REFUSED
    request.decided_by_id = actor.user_id
    request.decided_at = timezone.now()
    request.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    audit_record(
        actor,
        "customer.export.approved" if approve else "customer.export.rejected",
        object_type="export_request",
        object_id=str(request.pk),
        before={"status": ExportRequest.Status.PENDING},
        after={"status": request.status, "requested_by": request.requested_by_id},
    )
    outbox.publish("customer.export.decided", export_request_id=request.pk)
    return request

"""Files going out (exports) and the approvals exports above the row cap need."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fincrm.platform.models import TimestampedModel


class ExportFile(models.Model):
    """A finished export, kept encrypted (AES-256-GCM via the keyring) until its link expires.

    Only its creator may download it; the periodic job ``integration.exports.purge`` deletes it once
    ``expires_at`` has passed. The associated data binds the ciphertext to this row's id.
    """

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_files"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    kind = models.CharField(_("kind"), max_length=40)  # what was exported, e.g. "customers"
    file_format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    filename = models.CharField(_("file name"), max_length=120)
    row_count = models.PositiveIntegerField(_("rows"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveIntegerField(_("size in bytes"))
    content = models.TextField(editable=False)  # keyring token: v1:<key id>:<nonce>:<ciphertext+tag>
    downloads = models.PositiveIntegerField(_("downloads"), default=0)

    class Meta:
        verbose_name = _("export file")
        verbose_name_plural = _("export files")

    def __str__(self) -> str:
        return self.filename


class ExportRequest(TimestampedModel):
    """An export above the row cap, waiting for (or given) a second person's approval."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")
        USED = "used", _("Exported")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="export_requests"
    )
    kind = models.CharField(_("kind"), max_length=40)
    file_format = models.CharField(_("format"), max_length=4, choices=ExportFile.Format.choices)
    # The allow-listed list parameters (filters, sort, columns) the export will run with.
    parameters = models.JSONField(_("parameters"), default=dict)
    row_count = models.PositiveIntegerField(_("rows when requested"))
    reason = models.CharField(_("reason"), max_length=500)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("export request")
        verbose_name_plural = _("export requests")
        indexes = [models.Index(fields=["status", "created_at"], name="export_request_status")]

    def __str__(self) -> str:
        return f"export request {self.pk}"


class ImportEntity(models.TextChoices):
    """What an import file or a feed file holds (fincrm.integration.entities describes each)."""

    CUSTOMERS = "customers", _("Customers")
    CONTACTS = "contacts", _("Contacts and relationships")
    ACCOUNTS = "accounts", _("Accounts")
    HOLDINGS = "holdings", _("Holdings")
    TRANSACTIONS = "transactions", _("Transactions")
    PRODUCTS = "products", _("Products")


class FileEncoding(models.TextChoices):
    UTF8 = "utf-8", "UTF-8"
    GB18030 = "gb18030", "GB18030"


class OnMatch(models.TextChoices):
    """What a row that matches an existing record (by its key) does."""

    UPDATE = "update", _("Update the existing record")
    SKIP = "skip", _("Leave the existing record as it is")


class ImportTemplate(TimestampedModel):
    """A named column mapping: which file column feeds which field, and how the file is read."""

    name = models.CharField(_("template name"), max_length=100, unique=True)
    entity = models.CharField(_("data"), max_length=16, choices=ImportEntity.choices)
    file_format = models.CharField(
        _("format"), max_length=4, choices=ExportFile.Format.choices, default="csv"
    )
    encoding = models.CharField(_("encoding"), max_length=8, choices=FileEncoding.choices, default="utf-8")
    delimiter = models.CharField(_("delimiter"), max_length=1, default=",")
    # {field name: column header in the file}; fields left out are not imported.
    mapping = models.JSONField(_("column mapping"), default=dict)
    on_match = models.CharField(
        _("existing records"), max_length=6, choices=OnMatch.choices, default="update"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="import_templates"
    )

    class Meta:
        ordering = ["entity", "name"]
        verbose_name = _("import template")
        verbose_name_plural = _("import templates")

    def __str__(self) -> str:
        return self.name


class ImportBatch(models.Model):
    """One uploaded file and what became of it: dry runs, the import, its counts and its issues.

    The file itself is kept encrypted under ``FINCRM_DATA_DIR/imports/`` (fincrm.integration.uploads)
    only until the import has run; ``upload_path`` is emptied when it is deleted.
    """

    class Mode(models.TextChoices):
        ALL_OR_NOTHING = "all", _("All or nothing: any error stops the whole file")
        VALID_ROWS = "valid", _("Import the valid rows, return the rest as a file")

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        CHECKED = "checked", _("Checked (dry run)")
        INVALID = "invalid", _("Errors found, nothing written")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed, nothing written")
        CANCELLED = "cancelled", _("Cancelled")

    class Origin(models.TextChoices):
        PAGE = "page", _("Page")
        COMMAND = "command", _("Command line")
        API = "api", _("API")
        FEED = "feed", _("Feed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="import_batches"
    )
    origin = models.CharField(_("origin"), max_length=8, choices=Origin.choices, default=Origin.PAGE)
    entity = models.CharField(_("data"), max_length=16, choices=ImportEntity.choices)
    template = models.ForeignKey(
        ImportTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    # How the file is read, copied from the template (or given) when the batch is created.
    file_format = models.CharField(_("format"), max_length=4, choices=ExportFile.Format.choices)
    encoding = models.CharField(_("encoding"), max_length=8, choices=FileEncoding.choices, default="utf-8")
    delimiter = models.CharField(_("delimiter"), max_length=1, default=",")
    mapping = models.JSONField(_("column mapping"), default=dict)
    on_match = models.CharField(
        _("existing records"), max_length=6, choices=OnMatch.choices, default="update"
    )
    mode = models.CharField(_("mode"), max_length=5, choices=Mode.choices, default=Mode.ALL_OR_NOTHING)

    file_name = models.CharField(_("file name"), max_length=200)
    file_size = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    file_sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    upload_path = models.CharField(max_length=300, blank=True, editable=False)

    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.UPLOADED)
    dry_run = models.BooleanField(_("dry run"), default=True)  # what the last (or current) run was
    phase = models.CharField(_("phase"), max_length=40, blank=True)
    rows_done = models.PositiveBigIntegerField(_("rows read"), default=0)
    rows_total = models.PositiveBigIntegerField(_("rows"), default=0)
    rows_invalid = models.PositiveBigIntegerField(_("rows with errors"), default=0)
    rows_inserted = models.PositiveBigIntegerField(_("added"), default=0)
    rows_updated = models.PositiveBigIntegerField(_("updated"), default=0)
    rows_unchanged = models.PositiveBigIntegerField(_("unchanged"), default=0)
    rows_skipped = models.PositiveBigIntegerField(_("skipped"), default=0)
    rows_deleted = models.PositiveBigIntegerField(_("deleted"), default=0)
    issue_count = models.PositiveBigIntegerField(_("errors"), default=0)
    error = models.TextField(_("error"), blank=True)  # a file-level problem, already localized
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    rejects_file = models.ForeignKey(
        ExportFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        indexes = [models.Index(fields=["created_by", "-created_at"], name="import_batch_creator")]

    def __str__(self) -> str:
        return self.file_name


class ImportIssue(models.Model):
    """One problem found in one row (or the file): where, what (masked if sensitive) and which rule."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="issues")
    row_number = models.PositiveBigIntegerField(_("row"), default=0)  # 0: the file as a whole
    column = models.CharField(_("column"), max_length=100, blank=True)
    value = models.CharField(_("value"), max_length=200, blank=True)  # masked when the field is sensitive
    code = models.CharField(_("rule"), max_length=40)
    message = models.CharField(_("message"), max_length=500)

    class Meta:
        ordering = ["batch", "row_number", "id"]
        verbose_name = _("import error")
        verbose_name_plural = _("import errors")
        indexes = [models.Index(fields=["batch", "row_number"], name="import_issue_batch_row")]

    def __str__(self) -> str:
        return f"{self.row_number}:{self.column}:{self.code}"


class FeedRun(models.Model):
    """The feed log: one core-system feed (a manifest and its files), applied exactly once, in order."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        APPLIED = "applied", _("Applied")
        FAILED = "failed", _("Failed, nothing written")

    system = models.CharField(_("source system"), max_length=40)
    sequence = models.PositiveBigIntegerField(_("sequence number"))
    business_date = models.DateField(_("business date"))
    manifest_sha256 = models.CharField(_("manifest SHA-256"), max_length=64)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.RUNNING)
    # {entity: {"rows": n, "upserted": n, "deleted": n, "unchanged": n}}
    counts = models.JSONField(_("counts"), default=dict)
    error = models.TextField(_("error"), blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    seconds = models.FloatField(_("duration (s)"), null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["system", "-sequence"]
        verbose_name = _("feed")
        verbose_name_plural = _("feeds")
        constraints = [
            models.UniqueConstraint(fields=["system", "sequence"], name="feed_run_unique_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.system} #{self.sequence}"

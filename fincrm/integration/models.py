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

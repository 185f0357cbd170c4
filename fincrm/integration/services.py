"""Writes of the integration app: housekeeping of files going out."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from fincrm.audit.services import audit_record
from fincrm.integration.models import ExportFile
from fincrm.platform import transaction
from fincrm.platform.actor import Actor


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

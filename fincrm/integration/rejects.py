"""The rows an import left out ("import the valid rows, return the rest"), as a file for its creator.

The rows are copied from the uploaded file as they were (they may hold personal data: the file is
an ExportFile, AES-256-GCM encrypted, behind the usual expiring link, for the creator only), with a
last column naming each row's problems. Cells are neutralized against formula injection and
written as text.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from fincrm.audit.services import audit_record
from fincrm.customers.services.exports import export_associated_data, watermark_text
from fincrm.integration import readers, uploads
from fincrm.integration.exports import Column, write_csv
from fincrm.integration.models import ExportFile, ImportBatch
from fincrm.platform.actor import Actor
from fincrm.security.keyring import keyring

KIND = "import-rejects"
MAX_REJECTED_ROWS = 100_000  # a file with more bad rows than this is better fixed at its source


def rejects_file_create(
    *, actor: Actor, batch: ImportBatch, rows: Sequence[int], issues: Sequence[Any]
) -> ExportFile:
    wanted = set(rows[:MAX_REJECTED_ROWS])
    problems: dict[int, list[str]] = {}
    for row_number, column, _value, code, message in issues:
        problems.setdefault(row_number, []).append(f"{column or '-'}: {message} ({code})")
    options = readers.ReadOptions(
        file_format=batch.file_format, encoding=batch.encoding, delimiter=batch.delimiter
    )
    now = timezone.now()
    with uploads.upload_open(batch.upload_path, batch.pk) as stream:
        table = readers.open_table(stream, options)
        header = list(table.header)
        columns = [
            Column(f"c{index}", name, text=True)
            for index, name in enumerate([_("row"), *header, _("errors")])
        ]

        def selected() -> Iterator[list[Any]]:
            for row_number, cells in table.rows():
                if row_number in wanted:
                    padded = [("" if cell is None else str(cell)) for cell in cells][: len(header)]
                    padded += [""] * (len(header) - len(padded))
                    yield [row_number, *padded, "; ".join(problems.get(row_number, []))]

        content = write_csv(columns, selected(), watermark=watermark_text(actor, now))
    export_id = uuid.uuid4()
    digest = hashlib.sha256(content).hexdigest()
    export = ExportFile.objects.create(
        id=export_id,
        created_by_id=batch.created_by_id,
        expires_at=now + timedelta(minutes=int(settings.FINCRM_EXPORT_LINK_MINUTES)),
        kind=KIND,
        file_format="csv",
        filename=f"rejected-{timezone.localtime(now):%Y%m%d-%H%M%S}.csv",
        row_count=len(wanted),
        sha256=digest,
        size=len(content),
        content=keyring.encrypt(content, export_associated_data(export_id)),
    )
    ImportBatch.objects.filter(pk=batch.pk).update(rejects_file=export)
    audit_record(
        actor,
        "import.rejects_written",
        object_type="export_file",
        object_id=str(export_id),
        after={"batch": str(batch.pk), "rows": len(wanted), "sha256": digest},
    )
    return export

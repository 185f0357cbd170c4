from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

register(
    EventCode("export.purged", _("Expired export files deleted")),
    EventCode("export.api_page", _("Page of a bulk export served through the API")),
    EventCode("integration.synth.loaded", _("Synthetic bank data loaded in a batch")),
    # Imports: the batch (file hash and size, never its content) and what became of it.
    EventCode("import.uploaded", _("Import file uploaded")),
    EventCode("import.checked", _("Import file checked (dry run)")),
    EventCode("import.applied", _("Import file imported")),
    EventCode("import.cancelled", _("Import cancelled and its file deleted")),
    EventCode("import.failed", _("Import stopped without finishing; nothing written")),
    EventCode("import.expired", _("Import never run: its file deleted after the keeping period")),
    EventCode("import.mapping.changed", _("Import column mapping changed")),
    EventCode("import.issues.downloaded", _("Import error report downloaded")),
    EventCode("import.rejects.downloaded", _("Import rejected rows downloaded")),
    EventCode("import.rejects_written", _("Import rejected rows kept as a file for their importer")),
    EventCode("import.template.saved", _("Import template saved")),
    EventCode("import.template.deleted", _("Import template deleted")),
    # Core-system feeds: one event per feed (hashes and counts, never content).
    EventCode("feed.applied", _("Core-system feed applied")),
    EventCode("feed.failed", _("Core-system feed refused or failed; nothing written")),
    # Per-record events the importer writes set-based, one per record it touched.
    EventCode("customer.imported", _("Customer added by an import")),
    EventCode("customer.import_updated", _("Customer updated by an import")),
    EventCode("account.imported", _("Account imported")),
    EventCode("holding.imported", _("Holding imported")),
    EventCode("transaction.imported", _("Transactions imported (one event per batch)")),
    EventCode("product.imported", _("Product imported")),
    EventCode("relationship.imported", _("Relationship imported")),
)

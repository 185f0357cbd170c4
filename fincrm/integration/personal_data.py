"""Data classes (JR/T 0171) of the integration app's fields."""

from fincrm.security.classification import C2, classify, not_personal

# Not an EncryptedTextField (a whole file, bound to its row id), but encrypted all the same.
classify(
    "integration.ExportFile.content",
    C2,
    "full",
    note="an export file as a keyring AES-256-GCM token; deleted when its link expires",
)

not_personal("integration.ImportTemplate.name", reason="a column mapping's label")
classify(
    "integration.ImportIssue.value",
    C2,
    "full",
    note="the offending cell, stored already masked with its field's mask when sensitive (never clear)",
)

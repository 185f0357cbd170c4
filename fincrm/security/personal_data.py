"""Data classes (JR/T 0171) of the security app's fields that may hold personal data."""

from fincrm.security.classification import C1, C2, classify

# Free text typed by staff: it may quote anything about the customer.
classify("security.SensitiveAccessGrant.reason_text", C2, "full", note="free text, may quote the customer")
classify("security.SensitiveAccessGrant.decision_note", C2, "full", note="free text, may quote the customer")
# The typed customer number, masked (its blind index sits beside it); customer numbers are internal.
classify("security.SensitiveAccessGrant.number_masked", C1)

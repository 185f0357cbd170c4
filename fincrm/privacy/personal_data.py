"""Data classes (JR/T 0171) of the privacy app's fields."""

from fincrm.security.classification import C2, classify, not_personal

not_personal(
    "privacy.ProcessingPurpose.name", reason="the name of a processing purpose, e.g. 'SMS marketing'"
)
classify(
    "privacy.Consent.evidence",
    C2,
    "full",
    note="a reference to the signed form or recording; may name the customer",
)
classify("privacy.SubjectRequest.details", C2, "full", note="the customer's request in their own words")
classify("privacy.SubjectRequest.resolution", C2, "full", note="how the request was handled; free text")

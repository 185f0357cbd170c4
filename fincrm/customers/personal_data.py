"""Data classes (JR/T 0171) and masks of the customers app's personal-data fields."""

from typing import Any

from fincrm.security.classification import C1, C2, classify, not_personal
from fincrm.security.masking import mask

classify("customers.Customer.name", C2, "name")
classify("customers.Customer.name_pinyin", C2, "full", note="derived from the name, for search")
classify("customers.Customer.id_number", C2, "id_number", encrypted=True)
classify("customers.Customer.id_expires_on", C1)
classify("customers.Customer.gender", C2, "full")
classify("customers.Customer.birth_date", C2, "full")
classify("customers.Customer.nationality", C1)
classify("customers.Customer.mobile", C2, "mobile", encrypted=True)
classify("customers.Customer.email", C2, "email", encrypted=True)
classify("customers.Customer.address", C2, "address", encrypted=True)
classify("customers.Customer.occupation", C2, "full")
classify("customers.Customer.employer", C2, "full")
classify("customers.Customer.income_band", C2, "full", note="an amount band: clear for filtering, scoped")
classify("customers.Customer.aum", C2, "full", note="an amount: clear for sorting and sums, scoped")
classify("customers.IdentityDocument.id_number", C2, "id_number", encrypted=True)
classify("customers.CustomFieldValue.secret_value", C2, "full", encrypted=True, note="a C2 custom field")
not_personal("customers.Household.name", reason="a household's label, e.g. '张家'; members are customers")
classify("customers.CustomerSearchTerm.term", C2, "full", note="characters and pinyin of a name, for search")
not_personal("customers.Customer.aum_updated_at", reason="when the AUM figure was last refreshed")

# How a customer's fields appear wherever identifiers must stay masked (audit before/after, the
# duplicate comparison, lists): DOMAIN.md masks; free text and birth dates hidden whole.
FIELD_MASKS = {
    "name": "name",
    "id_number": "id_number",
    "mobile": "mobile",
    "email": "email",
    "address": "address",
    "birth_date": "full",
    "professional_evidence": "full",
}


def masked_field(name: str, value: Any) -> Any:
    """``value`` of the customer field ``name`` as it may be shown or recorded without unmasking."""
    if name in FIELD_MASKS and value not in (None, ""):
        return mask(FIELD_MASKS[name], value)
    return value

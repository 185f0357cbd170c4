from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

# The keyring (docs/security-keys.md). Key material never appears in an event: ids and counts only.
register(
    EventCode("keys.rotated", _("Data key rotated")),
    EventCode("keys.rewrapped", _("Keys re-wrapped under a new master key")),
    EventCode("keys.retired", _("Unused data key destroyed")),
    EventCode("keys.index_rotated", _("Blind-index key rotated")),
)

# Step-up, unmasking and sensitive-access grants (docs/security-masking.md). Never a clear value.
register(
    EventCode("security.step_up", _("Identity re-confirmed (step-up)")),
    EventCode("pii.unmasked", _("Personal data shown unmasked")),
    EventCode("pii.grant.requested", _("Sensitive-access grant requested")),
    EventCode("pii.grant.approved", _("Sensitive-access grant approved")),
    EventCode("pii.grant.refused", _("Sensitive-access grant refused")),
    EventCode("pii.grant.expired", _("Sensitive-access grant expired")),
    EventCode("pii.grant.used", _("Sensitive-access grant used")),
    EventCode("pii.grant.report_exported", _("Sensitive-access grants report exported")),
)

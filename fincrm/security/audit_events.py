from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

# The keyring (docs/security-keys.md). Key material never appears in an event: ids and counts only.
register(
    EventCode("keys.rotated", _("Data key rotated")),
    EventCode("keys.rewrapped", _("Keys re-wrapped under a new master key")),
    EventCode("keys.retired", _("Unused data key destroyed")),
    EventCode("keys.index_rotated", _("Blind-index key rotated")),
)

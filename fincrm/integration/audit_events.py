from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

register(
    EventCode("export.purged", _("Expired export files deleted")),
    EventCode("integration.synth.loaded", _("Synthetic bank data loaded in a batch")),
)

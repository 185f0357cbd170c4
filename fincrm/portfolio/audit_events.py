from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

register(
    EventCode("portfolio.aum.refreshed", _("Customer AUM recomputed")),
    EventCode("portfolio.aum.snapshot_taken", _("Month-end AUM snapshot taken")),
    EventCode("portfolio.batch.loaded", _("Portfolio data loaded in a batch")),
)

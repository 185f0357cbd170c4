from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

register(
    EventCode("privacy.purpose.created", _("Processing purpose created")),
    EventCode("privacy.purpose.updated", _("Processing purpose changed")),
    EventCode("privacy.consent.given", _("Consent recorded")),
    EventCode("privacy.consent.withdrawn", _("Consent withdrawn")),
    EventCode("privacy.request.created", _("Data-subject request received")),
    EventCode("privacy.request.completed", _("Data-subject request completed")),
    EventCode("privacy.request.rejected", _("Data-subject request rejected")),
    EventCode("privacy.subject_data.exported", _("Customer's personal data exported for the customer")),
    EventCode("privacy.customer.restricted", _("Customer restricted (retention duty applies)")),
    EventCode("privacy.customer.anonymized", _("Customer anonymized")),
)

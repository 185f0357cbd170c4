from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

register(
    EventCode("customer.created", _("Customer created")),
    EventCode("customer.updated", _("Customer changed")),
    EventCode("customer.viewed", _("Customer 360 opened")),
    EventCode("customer.lifecycle.changed", _("Customer lifecycle stage changed")),
    EventCode("customer.coverage.changed", _("Customer transferred between managers")),
    EventCode("customer.tagged", _("Customer tags changed")),
    EventCode("customer.merged", _("Customers merged")),
    EventCode("customer.exported", _("Customer list exported")),
    EventCode("customer.searched", _("Customer searched by identifier")),
)

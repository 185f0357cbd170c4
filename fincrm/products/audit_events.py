from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

register(
    EventCode("product.created", _("Product created")),
    EventCode("product.updated", _("Product changed")),
)

from django.utils.translation import gettext_lazy as _

from fincrm.platform.permissions import PermissionSpec, register

GROUP = _("Audit")

register(
    # The audit log holds customers' change history (masked), so reading it reaches customer data.
    PermissionSpec("audit.view", _("Search the audit log"), GROUP, customer_data=True, privileged=True),
    PermissionSpec("audit.export", _("Export audit log results"), GROUP, customer_data=True, privileged=True),
)

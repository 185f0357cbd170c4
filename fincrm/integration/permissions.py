"""Permissions of the integration app: bringing data in."""

from django.utils.translation import gettext_lazy as _

from fincrm.platform.permissions import PermissionSpec, register

GROUP = _("Data import and feeds")

register(
    PermissionSpec("data.import", _("Import data files (within the data scope)"), GROUP, customer_data=True),
    PermissionSpec("data.feed", _("Apply core-system feeds"), GROUP, customer_data=True),
)

"""Customer permissions."""

from django.utils.translation import gettext_lazy as _

from fincrm.platform.permissions import PermissionSpec, register

GROUP = _("Customers")

register(
    PermissionSpec("customer.view", _("View customers"), GROUP, customer_data=True),
    PermissionSpec("customer.create", _("Create customers"), GROUP, customer_data=True),
    PermissionSpec("customer.edit", _("Change customers"), GROUP, customer_data=True),
    PermissionSpec("customer.reassign", _("Reassign customers between managers"), GROUP, customer_data=True),
    PermissionSpec("customer.export", _("Export customer lists"), GROUP, customer_data=True, privileged=True),
    PermissionSpec("customer.merge", _("Review duplicates and merge customers"), GROUP, customer_data=True),
    PermissionSpec("customer.tag.manage", _("Define customer tags"), GROUP),
    PermissionSpec("customer.field.manage", _("Define customer custom fields"), GROUP),
    PermissionSpec(
        "pii.unmask_c2",
        _("Unmask C2 identifiers (ID, mobile, card numbers)"),
        GROUP,
        customer_data=True,
        privileged=True,
    ),
)

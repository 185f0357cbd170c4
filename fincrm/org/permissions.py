from django.utils.translation import gettext_lazy as _

from fincrm.platform.permissions import PermissionSpec, register

GROUP = _("Organization")

register(
    PermissionSpec("org.view", _("View org units and teams"), GROUP),
    PermissionSpec("org.manage", _("Create and change org units and teams"), GROUP, privileged=True),
)

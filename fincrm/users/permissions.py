from django.utils.translation import gettext_lazy as _

from fincrm.platform.permissions import PermissionSpec, register

GROUP = _("Users and access")

register(
    PermissionSpec("user.view", _("View staff users"), GROUP),
    PermissionSpec("user.manage", _("Create, change, unlock and deactivate users"), GROUP, privileged=True),
    PermissionSpec("role.view", _("View roles and their permissions"), GROUP),
    PermissionSpec("role.manage", _("Create and change roles and role assignments"), GROUP, privileged=True),
    PermissionSpec(
        "role.approve",
        _("Approve grants that reach customer data (second administrator)"),
        GROUP,
        privileged=True,
    ),
    PermissionSpec("settings.manage", _("Change system settings"), GROUP, privileged=True),
    PermissionSpec("security.alert.view", _("See and acknowledge security alerts"), GROUP, privileged=True),
    PermissionSpec("api.token.use", _("Create and use personal API tokens"), GROUP),
)

"""The product catalog."""

from django.utils.translation import gettext_lazy as _

from fincrm.platform.permissions import PermissionSpec, register

GROUP = _("Products")

register(
    PermissionSpec("product.view", _("View the product catalog"), GROUP),
    PermissionSpec("product.manage", _("Change the product catalog"), GROUP),
)

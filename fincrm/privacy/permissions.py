"""Consent and data-subject rights (PIPL)."""

from django.utils.translation import gettext_lazy as _

from fincrm.platform.permissions import PermissionSpec, register

GROUP = _("Privacy")

register(
    PermissionSpec(
        "privacy.consent.record", _("Record and withdraw customers' consents"), GROUP, customer_data=True
    ),
    PermissionSpec("privacy.manage", _("Define processing purposes and notices"), GROUP),
    PermissionSpec("privacy.request.view", _("See data-subject requests"), GROUP, customer_data=True),
    PermissionSpec(
        "privacy.request.handle",
        _("Carry out data-subject requests (export, correction, restriction)"),
        GROUP,
        customer_data=True,
        privileged=True,
    ),
)

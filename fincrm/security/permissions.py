"""Sensitive-access grants (break-glass): request, approve, and the compliance report."""

from django.utils.translation import gettext_lazy as _

from fincrm.platform.permissions import PermissionSpec, register

GROUP = _("Sensitive data")

register(
    PermissionSpec(
        "pii.grant.request",
        _("Request temporary access to a customer's identifiers"),
        GROUP,
        customer_data=True,
    ),
    PermissionSpec(
        "pii.grant.approve",
        _("Approve or refuse sensitive-access requests"),
        GROUP,
        customer_data=True,
        privileged=True,
    ),
    PermissionSpec("pii.grant.report", _("See the sensitive-access grants report"), GROUP, privileged=True),
)

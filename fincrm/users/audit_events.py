from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

# Administration of users, roles and access requests.
register(
    EventCode("user.created", _("User created")),
    EventCode("user.updated", _("User changed")),
    EventCode("user.deactivated", _("User deactivated")),
    EventCode("user.reactivated", _("User reactivated")),
    EventCode("user.role.assigned", _("Role assigned to a user")),
    EventCode("user.role.unassigned", _("Role taken from a user")),
    EventCode("role.created", _("Role created")),
    EventCode("role.updated", _("Role changed")),
    EventCode("role.cloned", _("Role cloned")),
    EventCode("access_request.created", _("Access change requested")),
    EventCode("access_request.approved", _("Access change approved")),
    EventCode("access_request.rejected", _("Access change rejected")),
    EventCode("access_request.withdrawn", _("Access change withdrawn")),
)

# Sign-in, second factor, sessions and passwords; security alerts.
register(
    EventCode("auth.signed_in", _("Signed in")),
    EventCode("auth.failed", _("Sign-in failed")),
    EventCode("auth.locked", _("Account locked after repeated failures")),
    EventCode("auth.signed_out", _("Signed out")),
    EventCode("auth.password_changed", _("Password changed")),
    EventCode("auth.session_ended", _("Session ended")),
    EventCode("auth.sessions_ended", _("All other sessions ended")),
    EventCode("user.unlocked", _("User unlocked")),
    EventCode("user.password_reset", _("Password reset by an administrator")),
    EventCode("mfa.enrolled", _("Second factor set up")),
    EventCode("mfa.removed", _("Second factor removed")),
    EventCode("mfa.recovery_code_used", _("Recovery code used")),
    EventCode("mfa.recovery_codes_regenerated", _("Recovery codes replaced")),
    EventCode("security.alert.acknowledged", _("Security alert acknowledged")),
)

# API tokens (the secret is never recorded: prefix, name, scopes and expiry only).
register(
    EventCode("api_token.created", _("API token created")),
    EventCode("api_token.revoked", _("API token revoked")),
)

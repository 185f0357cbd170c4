"""The keys the sign-in flow writes into a session; the session policy reads them."""

SESSION_AUTH_AT = "fincrm_auth_at"  # epoch seconds of the sign-in (absolute lifetime)
SESSION_LAST_ACTIVITY = "fincrm_last_activity"  # epoch seconds of the last user action (idle timeout)
SESSION_MFA_OK = "fincrm_mfa_ok"  # True once the second factor was given in this session
SESSION_REGISTERED = (
    "fincrm_session_registered"  # the session has its UserSession row (ended elsewhere if gone)
)

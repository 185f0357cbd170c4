"""Signing a test client in exactly as the sign-in page leaves a session."""

from __future__ import annotations

import time

from django.test import Client

from fincrm.users.models import User
from fincrm.users.services.sessions import user_session_register
from fincrm.users.sessions import SESSION_AUTH_AT, SESSION_LAST_ACTIVITY, SESSION_MFA_OK, SESSION_REGISTERED


def sign_in(client: Client, user: User, *, mfa_ok: bool = True) -> Client:
    """Sign in past password and MFA (the MFA flow itself is tested in tests/users)."""
    client.force_login(user, backend="fincrm.users.backends.StaffBackend")
    session = client.session
    now = int(time.time())
    session[SESSION_AUTH_AT] = now
    session[SESSION_LAST_ACTIVITY] = now
    session[SESSION_MFA_OK] = mfa_ok
    session[SESSION_REGISTERED] = True
    session.save()
    user_session_register(
        user_id=user.pk, session_key=session.session_key, client_ip="127.0.0.1", user_agent="test"
    )
    return client

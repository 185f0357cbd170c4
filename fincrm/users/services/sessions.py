"""Browser sessions and passwords: registering a signed-in session, ending sessions (one, all
of a user's, all but the current one), changing and resetting passwords.

A session is ended server-side: its Django session row and its UserSession row both go, so the
browser's cookie no longer names anything.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib import import_module

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.platform import hooks, transaction
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden, ServiceError
from fincrm.platform.rows import sql_text, table
from fincrm.users.models import User, UserSession


def own_user_id(actor: Actor) -> int:
    """The signed-in user behind a self-service action (an API token or a job has none)."""
    if actor.user_id is None:
        raise Forbidden("account.self")
    return actor.user_id


def _delete_django_sessions(keys: list[str]) -> None:
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store_class(session_key=key).delete()


def user_session_register(
    *, user_id: int, session_key: str, client_ip: str, user_agent: str, now: datetime | None = None
) -> UserSession:
    """Record a session the sign-in flow has just started (called once login() has cycled the key)."""
    moment = now or timezone.now()
    session, _created = UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "user_id": user_id,
            "client_ip": client_ip or "0.0.0.0",  # noqa: S104
            "user_agent": user_agent[:512],
            "created_at": moment,
            "last_activity_at": moment,
        },
    )
    return session


@lru_cache(maxsize=4)
def _session_exists_sql(vendor: str) -> str:
    """Written once: asked on every signed-in request, where the ORM would build and compile the
    same query anew each time (~0.3 ms of CPU)."""
    del vendor  # the cache key: quoting differs per database
    return sql_text(
        "SELECT 1 FROM {sessions} WHERE {key} = %s",
        sessions=table(UserSession, connection),
        key=connection.ops.quote_name(UserSession._meta.get_field("session_key").column),
    )


def user_session_exists(*, session_key: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_session_exists_sql(connection.vendor), [session_key])
        return cursor.fetchone() is not None


def user_session_touch(*, session_key: str, now: datetime | None = None) -> None:
    UserSession.objects.filter(session_key=session_key).update(last_activity_at=now or timezone.now())


def user_session_rekey(*, old_key: str, new_key: str) -> None:
    """The session id changed (password change cycles it): keep the row pointing at the live key."""
    UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def user_session_forget(*, session_key: str) -> None:
    """Drop the row of a session that is being ended by its own request (sign-out, expiry)."""
    UserSession.objects.filter(session_key=session_key).delete()


def sessions_end_all_for_user(*, user_id: int, except_key: str | None = None) -> int:
    """End every session of a user (but ``except_key``). An internal helper: the services that
    call it (role change, deactivation, password change or reset) have checked permission."""
    rows = UserSession.objects.filter(user_id=user_id)
    if except_key:
        rows = rows.exclude(session_key=except_key)
    keys = list(rows.values_list("session_key", flat=True))
    _delete_django_sessions(keys)
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


@transaction.atomic
def session_end(*, actor: Actor, session_id: object) -> None:
    """End one of the actor's own sessions; another user's session is not found."""
    own = UserSession.objects.filter(user_id=actor.user_id) if actor.user_id else UserSession.objects.none()
    session = access_object(own, session_id, actor=actor, action="session.end", object_type="user_session")
    _delete_django_sessions([session.session_key])
    session_pk = session.pk
    session.delete()
    hooks.audit_recorder()(actor, "auth.session_ended", object_type="user_session", object_id=str(session_pk))


@transaction.atomic
def session_end_all_other(*, actor: Actor, current_key: str) -> int:
    if actor.user_id is None:
        return 0
    ended = sessions_end_all_for_user(user_id=actor.user_id, except_key=current_key)
    hooks.audit_recorder()(
        actor, "auth.sessions_ended", object_type="user", object_id=str(actor.user_id), after={"ended": ended}
    )
    return ended


def _password_errors(password: str, user: User) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as error:
        return [str(message) for message in error.messages]
    return []


@transaction.atomic
def user_password_change(
    *, actor: Actor, old_password: str, new_password: str, new_password_again: str, current_key: str
) -> User:
    """The user changes their own password: the old one must be right; other sessions end."""
    user = User.objects.select_for_update().get(pk=own_user_id(actor))
    fields: dict[str, list[str]] = {}
    if not user.check_password(old_password):
        fields["old_password"] = [str(_("Your current password is not correct."))]
    if new_password != new_password_again:
        fields["new_password_again"] = [str(_("The two new passwords differ."))]
    elif new_password == old_password and "old_password" not in fields:
        fields["new_password"] = [str(_("Choose a password different from the current one."))]
    else:
        errors = _password_errors(new_password, user)
        if errors:
            fields["new_password"] = errors
    if fields:
        raise ServiceError(_("Please correct the marked fields."), fields=fields)
    user.set_password(new_password)
    user.must_change_password = False
    user.password_changed_at = timezone.now()
    user.save(update_fields=["password", "must_change_password", "password_changed_at", "updated_at"])
    ended = sessions_end_all_for_user(user_id=user.pk, except_key=current_key)
    hooks.audit_recorder()(
        actor,
        "auth.password_changed",
        object_type="user",
        object_id=str(user.pk),
        after={"sessions_ended": ended},
    )
    return user


@transaction.atomic
def user_password_reset(*, actor: Actor, user_id: object, new_password: str) -> User:
    """An administrator sets a temporary password: the user must change it at next sign-in,
    and every session of theirs ends now."""
    user = access_object(
        User.objects.visible_to(actor, "user.manage").select_for_update(),
        user_id,
        actor=actor,
        action="user.manage",
        object_type="user",
    )
    errors = _password_errors(new_password, user)
    if errors:
        raise ServiceError(_("Please correct the marked field."), fields={"new_password": errors})
    user.set_password(new_password)
    user.must_change_password = True
    user.password_changed_at = timezone.now()
    user.save(update_fields=["password", "must_change_password", "password_changed_at", "updated_at"])
    ended = sessions_end_all_for_user(user_id=user.pk)
    hooks.audit_recorder()(
        actor,
        "user.password_reset",
        object_type="user",
        object_id=str(user.pk),
        after={"must_change_password": True, "sessions_ended": ended},
    )
    return user

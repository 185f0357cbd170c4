"""Password authentication for staff. Locked and deactivated accounts never authenticate,
and a session whose user became locked or inactive stops working on its next request."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.db import connection
from django.http import HttpRequest

from fincrm.org.models import OrgUnit
from fincrm.platform.prepared import execute_prepared
from fincrm.platform.rows import sql_text, table
from fincrm.users.actors import user_with_unit, user_with_unit_columns
from fincrm.users.models import User


class StaffBackend(BaseBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **_: Any
    ) -> User | None:
        if not username or not password:
            return None
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            # Spend the same time as a real check, so timing does not tell which names exist.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def user_can_authenticate(self, user: User) -> bool:
        return user.is_active and not user.is_locked

    def get_user(self, user_id: Any) -> User | None:
        """The session's user with their unit, read on every request by a statement written once
        (the ORM would build and compile it anew each time)."""
        with connection.cursor() as cursor:
            execute_prepared(cursor, "fincrm_session_user", _user_sql(connection.vendor), {"user": user_id})
            row = cursor.fetchone()
        if row is None:
            return None
        user = user_with_unit(row, 0, connection)
        return user if self.user_can_authenticate(user) else None


_USER_STATEMENT = """
SELECT {user_columns}
FROM {users} u JOIN {units} o ON o.id = u.org_unit_id
WHERE u.id = %(user)s"""


@lru_cache(maxsize=4)
def _user_sql(vendor: str) -> str:
    del vendor  # the cache key: quoting differs per database
    return sql_text(
        _USER_STATEMENT,
        user_columns=user_with_unit_columns(connection),
        users=table(User, connection),
        units=table(OrgUnit, connection),
    )

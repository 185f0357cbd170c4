"""Statements run on every request, planned once per database session (PostgreSQL ``PREPARE``).

Planning a statement can cost more than running it: the 360's one statement 20 ms against 9 ms,
the bearer-token sign-in 0.35 ms against 0.07 ms. ``execute_prepared`` prepares a statement the
first time a database session runs it and afterwards only executes it. The statement is written
with named placeholders (``%(name)s``; ``%%`` a literal percent sign), as ``cursor.execute`` takes
them, so the same text runs either way.

Prepared statements belong to the database session. Behind a pooler that hands each transaction
another session (PgBouncer in transaction mode) a statement prepared on one would be missing on
the next: there set ``FINCRM_PREPARED_STATEMENTS = False`` (the older
``FINCRM_CUSTOMER_360_PREPARED`` is still read). Other databases run the statement as it is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import connection

# Forms kept per database session; past this many the oldest is deallocated. The 360 has one per
# shape of scope (institution, subtree, own, team with so many teams…), a handful in practice.
KEPT = 64
_SESSION_ATTRIBUTE = "_fincrm_prepared"
_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")


def prepared_statements_enabled() -> bool:
    if connection.vendor != "postgresql":
        return False
    legacy = getattr(settings, "FINCRM_CUSTOMER_360_PREPARED", True)
    return bool(getattr(settings, "FINCRM_PREPARED_STATEMENTS", legacy))


def _positional(sql: str, types: Mapping[str, str]) -> tuple[str, list[str]]:
    """``sql`` with ``$1, $2…`` for its named placeholders, and the names in that order: the
    typed ones first, in the order of ``types``, then the others as they first appear (their
    types inferred by the database from where they are used)."""
    found = [match.group(1) for match in _PLACEHOLDER.finditer(sql) if match.group(1)]
    names = [name for name in types if name in found]
    names += [name for name in dict.fromkeys(found) if name not in types]
    numbers = {name: number for number, name in enumerate(names, start=1)}

    def number(match: re.Match[str]) -> str:
        return "%" if match.group(1) is None else f"${numbers[match.group(1)]}"

    return _PLACEHOLDER.sub(number, sql), names


def execute_prepared(
    cursor: Any,
    name: str,
    sql: str,
    parameters: Mapping[str, Any],
    types: Mapping[str, str] | None = None,
) -> None:
    """Run ``sql`` with ``parameters`` on ``cursor``: on PostgreSQL as the session's prepared form
    of it (``PREPARE`` the first time, ``EXECUTE`` after), elsewhere or when turned off as it is.
    ``name`` prefixes the prepared statement's name; ``types`` declares the SQL type of those
    parameters whose type the database cannot infer."""
    if not prepared_statements_enabled():
        cursor.execute(sql, parameters)
        return
    session = connection.connection
    prepared: dict[str, tuple[str, list[str]]] | None = getattr(session, _SESSION_ATTRIBUTE, None)
    if prepared is None:
        prepared = {}
        setattr(session, _SESSION_ATTRIBUTE, prepared)
    known = prepared.get(sql)
    if known is None:
        if len(prepared) >= KEPT:
            oldest, _names = prepared.pop(next(iter(prepared)))
            cursor.execute(f"DEALLOCATE {oldest}")
        # Named after its text: a form prepared by older code in this session never collides.
        statement = f"{name}_{hashlib.sha256(sql.encode()).hexdigest()[:16]}"
        declared = types or {}
        positional, names = _positional(sql, declared)
        typed = [declared[each] for each in names if each in declared]
        signature = f" ({', '.join(typed)})" if typed else ""
        cursor.execute(f"PREPARE {statement}{signature} AS {positional}")
        known = prepared[sql] = (statement, names)
    statement, names = known
    if names:
        cursor.execute(
            f"EXECUTE {statement} ({', '.join('%s' for _name in names)})", [parameters[n] for n in names]
        )
    else:
        cursor.execute(f"EXECUTE {statement}")

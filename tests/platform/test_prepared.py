"""Statements planned once per database session (fincrm.platform.prepared): the same rows as a
plain execute, prepared once and then only executed, bounded per session, and off on request."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fincrm.platform import prepared
from fincrm.platform.prepared import execute_prepared

pytestmark = pytest.mark.django_db

# A repeated placeholder, a typed one declared after its first use, a literal percent sign.
SQL = "SELECT %(a)s + %(a)s, %(b)s || '%%', CAST(%(c)s AS TEXT)"
TYPES = {"b": "text", "a": "integer"}


def run(sql: str = SQL, **parameters: Any) -> tuple[Any, list[str]]:
    values = {"a": 20, "b": "100", "c": "x", **parameters}
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        execute_prepared(cursor, "fincrm_test", sql, values, TYPES)
        row = cursor.fetchone()
    return row, [query["sql"].split(" ", 1)[0] for query in captured.captured_queries]


def plain(**parameters: Any) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(SQL, {"a": 20, "b": "100", "c": "x", **parameters})
        return cursor.fetchone()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's PREPARE")
def test_prepared_once_then_only_executed_with_the_rows_of_a_plain_execute() -> None:
    sql = SQL + " -- once"  # a text no other test has prepared on this session
    first, first_statements = run(sql)
    again, again_statements = run(sql, a=1, c="y")

    assert first_statements == ["PREPARE", "EXECUTE"]
    assert again_statements == ["EXECUTE"]
    assert tuple(first) == tuple(plain()) == (40, "100%", "x")
    assert tuple(again) == (2, "100%", "y")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's PREPARE")
def test_past_the_bound_the_oldest_form_is_deallocated(monkeypatch: pytest.MonkeyPatch) -> None:
    run("SELECT 1 -- bound")
    before = dict(getattr(connection.connection, prepared._SESSION_ATTRIBUTE))  # other tests' forms too
    monkeypatch.setattr(prepared, "KEPT", len(before) + 2)
    for number in range(3):
        run(f"{SQL} -- bound {number}")
    kept = getattr(connection.connection, prepared._SESSION_ATTRIBUTE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'fincrm%%'")
        in_session = {row[0] for row in cursor.fetchall()}

    assert len(kept) == len(before) + 2
    assert next(iter(before)) not in kept
    assert in_session == {statement for statement, _names in kept.values()}
    assert run("SELECT 1 -- bound")[1] in (["EXECUTE"], ["DEALLOCATE", "PREPARE", "EXECUTE"])


def test_turned_off_or_elsewhere_the_statement_runs_as_it_is(settings: Any) -> None:
    settings.FINCRM_PREPARED_STATEMENTS = False
    row, statements = run(SQL + " -- off")

    assert statements == ["SELECT"]
    assert tuple(row) == tuple(plain())


def test_the_older_setting_still_turns_them_off(settings: Any) -> None:
    settings.FINCRM_CUSTOMER_360_PREPARED = False

    assert run(SQL + " -- legacy")[1] == ["SELECT"]

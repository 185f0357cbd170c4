"""Database-side protection of the audit table (docs/security-audit.md, "Database protection").

Triggers refuse UPDATE and DELETE on every audit row (PostgreSQL and SQLite) and, on PostgreSQL,
TRUNCATE of a table that holds events. Truncating an *empty* table destroys nothing, so it is let
through: that is what a test database's flush does once its events are gone. The chain head table
is not protected (it holds only the newest sequence and hash; verify checks it against the signed,
exported heads).

On SQLite a migration that rebuilds the audit table drops its triggers: such a migration must
call ``install`` again (``fincrm audit verify`` reports missing triggers).
"""

from __future__ import annotations

from typing import Any

TABLE = "audit_auditevent"
HEAD_TABLE = "audit_auditchainhead"

_POSTGRESQL_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION fincrm_audit_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit log is append-only: % on {TABLE} refused', TG_OP;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION fincrm_audit_refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM audit_auditevent) THEN
            RAISE EXCEPTION 'the audit log is append-only: TRUNCATE on audit_auditevent refused';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    f"DROP TRIGGER IF EXISTS audit_event_append_only ON {TABLE}",
    f"""
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION fincrm_audit_refuse_change()
    """,
    f"DROP TRIGGER IF EXISTS audit_event_no_truncate ON {TABLE}",
    f"""
    CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION fincrm_audit_refuse_truncate()
    """,
]

_POSTGRESQL_REMOVE = [
    f"DROP TRIGGER IF EXISTS audit_event_append_only ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_event_no_truncate ON {TABLE}",
    "DROP FUNCTION IF EXISTS fincrm_audit_refuse_change()",
    "DROP FUNCTION IF EXISTS fincrm_audit_refuse_truncate()",
]

SQLITE_TRIGGERS = ("audit_event_no_update", "audit_event_no_delete")

_SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE on {TABLE} refused'); END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE on {TABLE} refused'); END
    """,
]

_SQLITE_REMOVE = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]


def _run(connection: Any, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install(connection: Any) -> None:
    if connection.vendor == "postgresql":
        _run(connection, _POSTGRESQL_INSTALL)
    elif connection.vendor == "sqlite":
        _run(connection, _SQLITE_INSTALL)


def remove(connection: Any) -> None:
    if connection.vendor == "postgresql":
        _run(connection, _POSTGRESQL_REMOVE)
    elif connection.vendor == "sqlite":
        _run(connection, _SQLITE_REMOVE)


def installed(connection: Any) -> bool:
    """Are the triggers there (and, on PostgreSQL, enabled)?"""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgenabled <> 'D' "
                "AND tgname IN ('audit_event_append_only', 'audit_event_no_truncate')",
                [TABLE],
            )
            return bool(cursor.fetchone()[0] == 2)
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT count(*) FROM sqlite_master"
                " WHERE type = 'trigger' AND tbl_name = %s AND name IN (%s, %s)",
                [TABLE, *SQLITE_TRIGGERS],
            )
            return bool(cursor.fetchone()[0] == len(SQLITE_TRIGGERS))
    return False


def role_grants(app_role: str, *, head_table: str = HEAD_TABLE) -> list[str]:
    """The GRANT statements for the application role on the audit tables (run as the owner role)."""
    role = '"' + app_role.replace('"', '""') + '"'
    return [
        f"REVOKE ALL ON {TABLE} FROM {role};",
        f"GRANT SELECT, INSERT ON {TABLE} TO {role};",
        f"GRANT USAGE, SELECT ON SEQUENCE {TABLE}_id_seq TO {role};",
        f"REVOKE ALL ON {head_table} FROM {role};",
        f"GRANT SELECT, INSERT, UPDATE ON {head_table} TO {role};",
        f"GRANT USAGE, SELECT ON SEQUENCE {head_table}_id_seq TO {role};",
    ]

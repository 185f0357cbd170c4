"""Triggers that make the audit table append-only (fincrm.audit.protection)."""

from typing import Any

from django.db import migrations

from fincrm.audit import protection


def install(apps: Any, schema_editor: Any) -> None:
    protection.install(schema_editor.connection)


def remove(apps: Any, schema_editor: Any) -> None:
    protection.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain")]

    operations = [migrations.RunPython(install, remove, elidable=False)]

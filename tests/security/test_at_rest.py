"""Identifiers never reach the database, its dumps or the logs in clear (issue 3, "Done when").

Rows holding an ID number, a mobile and a card number are committed through the encrypted
fields; then a dump of the whole database (pg_dump on PostgreSQL, the SQLite file's full SQL
dump) and everything logged meanwhile are searched for the clear values and their usual
spellings. Job and outbox payloads refuse identifiers outright (tests/platform/test_jobs.py).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from fincrm.platform import jobs
from tests.security.models import Secretive

ID_NUMBER = "11010519491231002X"
MOBILE = "+8613812345678"
CARD = "6222021234561236"  # Luhn-valid, like a real card
SPELLINGS = [ID_NUMBER, ID_NUMBER.lower(), "13812345678", MOBILE, CARD, "6222 0212 3456 1236"]


def _database_dump() -> str:
    if connection.vendor == "postgresql":
        if shutil.which("pg_dump") is None:
            pytest.fail("pg_dump is needed to check the PostgreSQL dump")
        settings = connection.settings_dict
        command = [
            "pg_dump",
            "--data-only",
            "-h",
            settings["HOST"] or "127.0.0.1",
            "-p",
            str(settings["PORT"] or 5432),
        ]
        command += ["-U", settings["USER"] or "postgres", settings["NAME"]]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout  # noqa: S603
    raw = connection.connection
    assert raw is not None
    return "\n".join(raw.iterdump())


@pytest.fixture
def committed(secretive_table: None, transactional_db: None) -> Iterator[None]:
    yield
    Secretive.objects.all().delete()


def test_identifiers_are_not_in_the_dump_nor_the_logs(committed: None, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="django.db.backends"):
        first = Secretive.objects.create(id_number=ID_NUMBER, mobile=MOBILE)
        second = Secretive.objects.create(id_number=CARD)
        # Read back through the fields: services see clear values.
        assert Secretive.objects.get(pk=first.pk).mobile == MOBILE
        assert Secretive.objects.get(pk=second.pk).id_number == CARD

    dump = _database_dump()
    assert "security_tests_secretive" in dump  # the rows are really in the dump
    for spelling in SPELLINGS:
        assert spelling not in dump, f"{spelling} is in the database dump in clear"
        assert spelling not in caplog.text, f"{spelling} was logged in clear"


def test_job_payloads_refuse_identifiers() -> None:
    for value in (ID_NUMBER, "13812345678", CARD):
        with pytest.raises(ValueError, match="personal identifier"):
            jobs.check_ids({"customer": value})

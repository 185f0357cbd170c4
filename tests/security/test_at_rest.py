"""Identifiers never reach the database, its dumps, the data folder, Redis or the logs in clear
(issue 3, "Done when").

Rows holding an ID number, a mobile and a card number are committed through the encrypted
fields, beside the test world's customers (ID numbers and mobiles, committed at set-up), a card
account, a queued job and an outbox event about them; then a dump of the whole database (pg_dump
on PostgreSQL, the SQLite database's full SQL dump, job and outbox tables included), every file
under the data folder (exports, uploads), every string value in the local Redis and everything
logged meanwhile are searched for the clear values and their usual spellings. Job and outbox
payloads refuse identifiers outright (tests/platform/test_jobs.py).
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from fincrm.customers.models import Customer
from fincrm.platform import jobs, outbox, transaction
from fincrm.platform.models import OutboxEvent
from fincrm.portfolio.models import Account
from fincrm.portfolio.services import account_build
from tests.security.models import Secretive
from tests.support.world import build_world

ID_NUMBER = "11010519491231002X"
MOBILE = "+8613812345678"
CARD = "6222021234561236"  # Luhn-valid, like a real card
CUSTOMER_CARD = "6222029876543214"
SPELLINGS = [ID_NUMBER, ID_NUMBER.lower(), "13812345678", MOBILE, CARD, "6222 0212 3456 1236"]
# The test world's customers (tests/support/world.py) and the card account written below.
SPELLINGS += ["440305196405200017", "+8613800138000", "13800138000", "+8613900139000", CUSTOMER_CARD]


def _redis_values(host: str = "127.0.0.1", port: int = 6379) -> str:
    """Every key and string value in the local Redis (RESP over a socket; fincrm installs no client)."""
    try:
        sock = socket.create_connection((host, port), timeout=2)
    except OSError:
        return ""
    with sock, sock.makefile("rb") as replies:

        def call(*words: str) -> Any:
            sock.sendall(
                f"*{len(words)}\r\n".encode()
                + b"".join(f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words)
            )
            return read()

        def read() -> Any:
            line = replies.readline().rstrip(b"\r\n")
            kind, rest = line[:1], line[1:]
            if kind == b"*":
                return [read() for _ in range(int(rest))]
            if kind == b"$":
                if int(rest) < 0:
                    return None
                data = replies.read(int(rest) + 2)[:-2]
                return data.decode("utf-8", "replace")
            return rest.decode()

        texts = []
        for key in call("KEYS", "*") or []:
            texts.append(key)
            if call("TYPE", key) == "string":
                texts.append(call("GET", key) or "")
        return "\n".join(texts)


def _data_folder_text() -> str:
    folder = Path(settings.FINCRM_DATA_DIR)
    if not folder.exists():
        return ""
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*") if path.is_file()
    )


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
    if not Customer.objects.filter(customer_number="W-A").exists():
        build_world()  # an earlier transactional test flushed the database
    yield
    Secretive.objects.all().delete()
    Account.objects.filter(card_first6="622202").delete()
    OutboxEvent.objects.all().delete()


def test_identifiers_are_not_in_the_dump_nor_the_logs(committed: None, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="django.db.backends"):
        first = Secretive.objects.create(id_number=ID_NUMBER, mobile=MOBILE)
        second = Secretive.objects.create(id_number=CARD)
        customer = Customer.objects.get(customer_number="W-A")
        account_build(
            customer_id=customer.pk,
            kind=Account.Kind.CREDIT_CARD,
            number=CUSTOMER_CARD,
            opened_on=date(2024, 1, 1),
            org_unit_id=customer.org_unit_id,
        ).save()
        with transaction.atomic():
            outbox.publish("customer.updated", customer_id=customer.pk)
        # Read back through the fields: services see clear values.
        assert Secretive.objects.get(pk=first.pk).mobile == MOBILE
        assert Secretive.objects.get(pk=second.pk).id_number == CARD

    dump = _database_dump()
    assert "security_tests_secretive" in dump  # the rows are really in the dump
    for table in ("customers_customer", "portfolio_account", "platform_outboxevent"):
        assert table in dump
    elsewhere = {"the data folder": _data_folder_text(), "Redis": _redis_values()}
    for spelling in SPELLINGS:
        assert spelling not in dump, f"{spelling} is in the database dump in clear"
        assert spelling not in caplog.text, f"{spelling} was logged in clear"
        for where, text in elsewhere.items():
            assert spelling not in text, f"{spelling} is in {where} in clear"


def test_job_payloads_refuse_identifiers() -> None:
    for value in (ID_NUMBER, "13812345678", CARD):
        with pytest.raises(ValueError, match="personal identifier"):
            jobs.check_ids({"customer": value})

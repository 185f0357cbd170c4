"""Files and batches for the import page, API, command and service tests (the test world's
sub-branch A1: operations_a may import there)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fincrm.customers.identity import resident_id_check_character
from fincrm.integration import services
from fincrm.integration.models import ImportBatch
from fincrm.platform.actor import Actor
from fincrm.users.actors import actor_for_user
from tests.support.world import World

HEADER = [
    "customer_number",
    "kind",
    "name",
    "id_type",
    "id_number",
    "mobile",
    "org_unit",
    "primary_manager",
    "covering_team",
]


def resident_id(n: int) -> str:
    body = f"110101198505{(n % 28) + 1:02d}{n % 1000:03d}"
    return body + resident_id_check_character(body)


def broken_id(n: int) -> str:
    good = resident_id(n)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def customer_rows(count: int, *, start: int = 1, bad_id_at: int | None = None) -> list[list[str]]:
    """``count`` customers of sub-branch A1; with ``bad_id_at`` (0-based) that row's ID number has a
    wrong check character (file row = index + 2)."""
    rows = []
    for index in range(count):
        n = start + index
        id_number = broken_id(n) if index == bad_id_at else resident_id(n)
        rows.append(
            [
                f"IMPW{n:04d}",
                "individual",
                "欧阳" + "明华丽"[n % 3],
                "resident_id",
                id_number,
                f"+86139{n:08d}",
                "SB-A1",
                "account_manager_a",
                "T-A1",
            ]
        )
    return rows


def csv_bytes(rows: list[list[Any]], header: list[str] | None = None, *, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header or HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def actor(username: str = "operations_a") -> Actor:
    return actor_for_user(World.user(username))


def make_batch(
    who: Actor | None = None, data: bytes | None = None, *, file_name: str = "customers.csv", **options: Any
) -> ImportBatch:
    return services.import_batch_create(
        actor=who or actor(),
        entity=options.pop("entity", "customers"),
        file_name=file_name,
        chunks=[data if data is not None else csv_bytes(customer_rows(3))],
        **options,
    )

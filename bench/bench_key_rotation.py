"""Key rotation over N encrypted values while a second thread keeps reading and decrypting.

    DATABASE_URL=postgres://… .venv/bin/python bench/bench_key_rotation.py --values 100000

Uses a throwaway table (created and dropped here) with one encrypted column and its blind index.
Prints values/second for writing, for the rotation, and reads/second during the rotation.
Not a test; never run by pytest.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fincrm.settings")

import django

django.setup()

from django.db import connection, connections, models  # noqa: E402

from fincrm.platform.actor import Actor  # noqa: E402
from fincrm.security import fields, services  # noqa: E402
from fincrm.security.keyring import keyring  # noqa: E402


class BenchSecret(fields.RowUidMixin, models.Model):
    id_number = fields.EncryptedTextField()
    id_number_bidx = fields.BlindIndexField(source="id_number", purpose="id_number")

    class Meta:
        app_label = "bench_keys"
        db_table = "bench_key_rotation"

    def __str__(self) -> str:
        return f"bench row {self.pk}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    options = parser.parse_args()
    column = BenchSecret._meta.get_field("id_number")
    services.encrypted_columns = lambda: [(BenchSecret, column)]  # type: ignore[assignment]
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}; values: {options.values:,}")
    with connection.schema_editor() as editor:
        if BenchSecret._meta.db_table in connection.introspection.table_names():
            editor.delete_model(BenchSecret)
        editor.create_model(BenchSecret)
    try:
        started = time.perf_counter()
        for offset in range(0, options.values, 5000):
            count = min(5000, options.values - offset)
            BenchSecret.objects.bulk_create(
                [BenchSecret(id_number=f"110105{offset + i:012d}") for i in range(count)], batch_size=1000
            )
        elapsed = time.perf_counter() - started
        print(f"write (encrypt + blind index + bulk_create): {options.values / elapsed:,.0f} values/s")
        ids = list(BenchSecret.objects.values_list("pk", flat=True))
        stop = threading.Event()
        reads = {"ok": 0, "failed": 0}

        def reader() -> None:
            try:
                while not stop.is_set():
                    pk = random.choice(ids)
                    row = BenchSecret.objects.get(pk=pk)
                    if row.id_number.startswith("110105"):
                        reads["ok"] += 1
                    else:
                        reads["failed"] += 1
            except Exception as error:
                reads["failed"] += 1
                print(f"reader failed: {error!r}")
            finally:
                connections.close_all()

        thread = threading.Thread(target=reader)
        thread.start()
        time.sleep(0.5)
        before = reads["ok"]
        result = services.key_rotate(actor=Actor.cli(), new_key=True, batch_size=options.batch)
        during = reads["ok"] - before
        stop.set()
        thread.join()
        print(
            f"rotation to {result.key_id}: {result.reencrypted:,} values in {result.seconds:.1f} s = "
            f"{result.reencrypted / result.seconds:,.0f} values/s; {result.remaining} left"
        )
        print(
            f"reads during rotation: {during:,} = {during / result.seconds:,.0f} reads/s "
            f"(each a query + decrypt); failed reads: {reads['failed']}"
        )
        keyring.flush()
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(BenchSecret)


if __name__ == "__main__":
    main()

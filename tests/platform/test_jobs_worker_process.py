"""Kill ``fincrm worker`` mid-batch (SIGKILL), restart it: every job's effect exists exactly once.

The worker runs as a real process on a file-based SQLite database in tmp_path. The job's effect is
a row in a table of its own, inserted before the job's (simulated) work, so a kill usually lands
between the effect and the commit."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from fincrm.platform import jobs

N = 30
MODULE = "tests.platform.test_jobs_worker_process"
ROOT = Path(__file__).resolve().parents[2]


@jobs.job("tests.process_effect", max_attempts=5)
def process_effect(*, marker: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO job_effect (marker) VALUES (%s)", [marker])
    time.sleep(0.03)  # the job's work, in the worker process: the window the kill lands in


def _fincrm(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "fincrm"), *args]


def _query(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(path, timeout=20) as db:
        return db.execute(sql, params).fetchall()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_worker_loses_no_job_and_repeats_no_effect(tmp_path: Path) -> None:
    path = tmp_path / "worker.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{path}",
        "FINCRM_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(  # noqa: S603 - our own command
        _fincrm("migrate", "-v", "0"), env=env, cwd=ROOT, check=True, timeout=60
    )
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE job_effect (marker INTEGER NOT NULL)")
        db.executemany(
            "INSERT INTO platform_job (task, payload, status, attempts, max_attempts, run_after, locked_by,"
            " last_error, dedupe_key, created_at) VALUES ('tests.process_effect', ?, 'queued', 0, 5,"
            " '2000-01-01 00:00:00', '', '', '', '2000-01-01 00:00:00')",
            [(json.dumps({"marker": marker}),) for marker in range(N)],
        )
    worker = [*_fincrm("worker", "--skip-checks", "--import", MODULE)]
    process = subprocess.Popen(  # noqa: S603 - our own command
        worker, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = _query(path, "SELECT COUNT(*) FROM platform_job WHERE status = 'done'")[0][0]
            if done >= N // 3:
                break
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    done = _query(path, "SELECT COUNT(*) FROM platform_job WHERE status = 'done'")[0][0]
    assert N // 3 <= done < N, "the worker was killed midway"
    # The dead worker's lock goes stale: move its lock time back instead of waiting five minutes.
    _query(path, "UPDATE platform_job SET locked_at = '2000-01-01 00:00:00' WHERE status = 'running'")
    subprocess.run(  # noqa: S603 - our own command
        [*_fincrm("worker", "--once", "--skip-checks", "--batch", "1000", "--import", MODULE)],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert _query(path, "SELECT status, COUNT(*) FROM platform_job GROUP BY status") == [("done", N)]
    markers = [row[0] for row in _query(path, "SELECT marker FROM job_effect ORDER BY marker")]
    assert markers == list(range(N))

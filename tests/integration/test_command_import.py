"""``fincrm import``: inline import with a progress line, counts, the first errors, exit codes."""

from __future__ import annotations

import importlib
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer
from fincrm.integration import services
from fincrm.integration.models import ImportBatch
from tests.integration.import_support import HEADER, actor, csv_bytes, customer_rows
from tests.support.world import World

pytestmark = pytest.mark.django_db

command = importlib.import_module("fincrm.integration.management.commands.import")


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path: Path, data: bytes, name: str = "customers.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_a_clean_file_is_imported_for_the_user_and_audited_as_the_command_line(
    world: World, tmp_path: Path
) -> None:
    path = write(tmp_path, csv_bytes(customer_rows(3)))
    out, err = run(path, "--data", "customers", "--user", "operations_a")

    assert "status: done" in out
    assert "3 added, 0 updated" in out
    assert "batch" in err
    assert "sha256" in err
    batch = ImportBatch.objects.get()
    assert (batch.origin, batch.created_by.username, batch.status) == ("command", "operations_a", "done")
    assert Customer.objects.filter(customer_number__startswith="IMPW").count() == 3
    uploaded = AuditEvent.objects.get(action="import.uploaded")
    assert uploaded.actor_label.startswith("cli:")


def test_errors_are_listed_and_the_exit_code_is_1_with_nothing_written(world: World, tmp_path: Path) -> None:
    rows = customer_rows(25)
    for row in rows:
        row[1] = "robot"
    path = write(tmp_path, csv_bytes(rows))
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "import", path, "--data", "customers", "--user", "operations_a", stdout=out, stderr=io.StringIO()
        )
    assert caught.value.returncode == 1
    text = out.getvalue()
    assert "status: invalid" in text
    assert "errors: 25 (the first 20):" in text
    assert text.count("· choice:") == 20
    assert "row 2 · kind · 'robot' · choice:" in text
    assert not Customer.objects.filter(customer_number__startswith="IMPW").exists()


def test_dry_run_writes_nothing_and_exits_0(world: World, tmp_path: Path) -> None:
    path = write(tmp_path, csv_bytes(customer_rows(2)))
    out, _err = run(path, "--data", "customers", "--user", "operations_a", "--dry-run")
    assert "status: checked" in out
    assert not Customer.objects.filter(customer_number__startswith="IMPW").exists()


def test_map_and_template_options(world: World, tmp_path: Path) -> None:
    data = csv_bytes(customer_rows(1), ["客户编号X", *HEADER[1:]], encoding="gb18030")
    path = write(tmp_path, data)
    mapping = [arg for name in HEADER[1:] for arg in ("--map", f"{name}={name}")]
    out, _err = run(path, "--data", "customers", "--user", "operations_a", "--encoding", "gb18030",
                    "--map", "customer_number=客户编号X", *mapping)  # fmt: skip
    assert "1 added" in out
    services.import_template_save(
        actor=actor(), name="国标客户", entity="customers", file_format="csv", encoding="gb18030",
        delimiter=",", mapping={"customer_number": "客户编号X", "name": "name"}, on_match="update",
    )  # fmt: skip
    out, _err = run(path, "--data", "customers", "--user", "operations_a", "--template", "国标客户")
    assert "status: done" in out
    assert "1 unchanged" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody"], "no user named 'nobody'"),
        (["--user", "operations_a", "--template", "nope"], "no template named 'nope'"),
        (["--user", "operations_a", "--map", "name"], "--map takes field=Column header"),
        (["--user", "operations_a", "--map", "shoe_size=x"], "is not a field"),
    ],
)
def test_bad_arguments_are_refused_plainly(
    world: World, tmp_path: Path, args: list[str], message: str
) -> None:
    path = write(tmp_path, csv_bytes(customer_rows(1)))
    with pytest.raises(CommandError) as caught:
        run(path, "--data", "customers", *args)
    assert message in str(caught.value)
    assert ImportBatch.objects.count() == 0


def test_a_missing_file(world: World) -> None:
    with pytest.raises(CommandError, match="no such file"):
        run("/nonexistent/customers.csv", "--data", "customers", "--user", "operations_a")


def test_the_progress_line_shows_rate_and_eta_on_a_terminal_and_plain_lines_elsewhere() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    line = command.ProgressLine(screen, interval=0)
    assert line.text(500, 1000, 2.0) == (
        "[###############---------------] 500/1,000 rows  50% · 250 rows/s · ETA 2 s"
    )
    line(10, 0)
    line(20, 0)
    line.finish()
    assert screen.getvalue().startswith("\r")
    assert screen.getvalue().count("\r") == 2
    assert screen.getvalue().endswith("\n")

    log = io.StringIO()
    plain = command.ProgressLine(log, interval=0)
    plain(10, 0)
    plain(20, 40)
    plain.finish()
    lines = log.getvalue().splitlines()
    assert len(lines) == 2
    assert "\r" not in log.getvalue()
    assert lines[0].startswith("10 rows · ")
    assert "20/40 rows" in lines[1]

"""Every malformed file in the corpus gives a clear report and writes nothing, dry run or not."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer, Relationship
from fincrm.customers.services.exports import customer_export, export_file_download
from fincrm.integration import uploads
from fincrm.integration.entities import ENTITIES
from fincrm.integration.importer import import_run
from fincrm.integration.models import ImportBatch
from fincrm.platform.actor import Actor
from fincrm.portfolio.models import Account, Holding, Transaction
from fincrm.products.models import Product
from fincrm.users.actors import actor_for_user
from tests.integration.corpus import FORMULA_NAME, HEADERS, Case, all_cases, formula_injection_customers
from tests.support.world import World

pytestmark = pytest.mark.django_db(transaction=False)

IMPORTER = "operations_a"
CASES = all_cases()


@pytest.fixture
def data_dir(settings, tmp_path: Path) -> Path:
    settings.FINCRM_DATA_DIR = tmp_path
    return tmp_path


def create_batch(actor: Actor, case: Case) -> ImportBatch:
    """A batch as the page, the command and the API create it: upload stored encrypted, then the row."""
    batch_id = uuid.uuid4()
    data = case.data
    stored = uploads.upload_store(
        batch_id, (data[i : i + 65_536] for i in range(0, len(data), 65_536)),
        max_bytes=settings.FINCRM_IMPORT_MAX_BYTES,
    )  # fmt: skip
    fields = ENTITIES[case.entity].by_name
    mapping = case.mapping
    if mapping is None:
        mapping = {name: name for name in HEADERS[case.entity] if name in fields}
    return ImportBatch.objects.create(
        id=batch_id,
        created_by=World.user(IMPORTER),
        origin=ImportBatch.Origin.COMMAND,
        entity=case.entity,
        file_format=case.file_format,
        encoding=case.encoding,
        mapping=mapping,
        file_name=f"{case.name}.{case.file_format}",
        file_size=stored.size,
        file_sha256=stored.sha256,
        upload_path=stored.path,
    )


def fingerprint() -> dict[str, int]:
    """What an import could change (audit events of the import itself excepted)."""
    return {
        "customers": Customer.objects.count(),
        "accounts": Account.objects.count(),
        "holdings": Holding.objects.count(),
        "transactions": Transaction.objects.count(),
        "products": Product.objects.count(),
        "relationships": Relationship.objects.count(),
        "audit": AuditEvent.objects.exclude(action__startswith="import.").count(),
    }


def assert_reported(batch: ImportBatch, case: Case) -> None:
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.INVALID, (batch.status, batch.error)
    issues = list(batch.issues.filter(code=case.expected_code))
    found = {(issue.code, issue.row_number) for issue in batch.issues.all()}
    assert issues, f"{case.name}: expected {case.expected_code}, got {found} {batch.error!r}"
    if case.expected_row is not None:
        assert case.expected_row in {issue.row_number for issue in issues}, found
    assert all(issue.message.strip() for issue in issues)
    assert batch.issue_count >= 1
    if case.expected_row == 0:  # a file-level problem is the batch's error too
        assert batch.error.strip()


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({case.expected_code for case in CASES}) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed_file_is_reported_and_writes_nothing(world: World, data_dir: Path, case: Case) -> None:
    actor = actor_for_user(World.user(IMPORTER))
    batch = create_batch(actor, case)
    before = fingerprint()

    with translation.override("en"):
        import_run(batch, actor=actor, dry_run=True)
    assert_reported(batch, case)
    assert fingerprint() == before

    with translation.override("zh-hans"):
        import_run(batch, actor=actor, dry_run=False)
    assert_reported(batch, case)
    assert fingerprint() == before
    assert not AuditEvent.objects.filter(action="import.applied").exists()


def test_formula_like_names_are_stored_as_typed_and_neutralized_on_export(
    world: World, data_dir: Path
) -> None:
    actor = actor_for_user(World.user(IMPORTER))
    case = Case("formulas", "customers", formula_injection_customers(), "csv", "utf-8", None, "", None)
    batch = create_batch(actor, case)
    outcome = import_run(batch, actor=actor, dry_run=False)
    assert outcome.status == ImportBatch.Status.DONE, list(batch.issues.values_list("code", "message"))
    names = dict(
        Customer.objects.filter(customer_number__startswith="MAL").values_list("customer_number", "name")
    )
    assert names == {
        "MAL0001": FORMULA_NAME,
        "MAL0002": "+SUM(1,2)",
        "MAL0003": "-2+3",
        "MAL0004": "@SUM(A1)",
    }
    # The upload is gone once the import has run.
    assert not list((data_dir / "imports").iterdir())

    exporter = actor_for_user(World.user("branch_manager_a"))
    export = customer_export(
        actor=exporter,
        parameters={"columns": ["customer_number", "name"]},
        file_format="csv",
        stepped_up=True,
    )
    _export, content = export_file_download(actor=exporter, export_id=export.pk)
    rows = {row[0]: row[1] for row in csv.reader(io.StringIO(content.decode("utf-8-sig"))) if len(row) > 1}
    # Names are masked in a list export; whatever is shown, a spreadsheet reads it as text.
    for number, first in (("MAL0001", "="), ("MAL0002", "+"), ("MAL0003", "-"), ("MAL0004", "@")):
        assert rows[number].startswith("'" + first), rows[number]

"""Import services: batches (upload, mapping, queue, run, cancel, stuck runs), the error report, and
mapping templates; end to end through the background job."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent, SecurityEvent
from fincrm.customers.models import Customer
from fincrm.customers.selectors import customer_queryset
from fincrm.integration import services
from fincrm.integration.entities import ENTITIES
from fincrm.integration.models import ImportBatch, ImportTemplate
from fincrm.integration.selectors import access_import_batch, import_batch_list, suggest_mapping
from fincrm.platform import jobs
from fincrm.platform.errors import Conflict, Forbidden, NotFound, ServiceError
from fincrm.platform.models import Job
from fincrm.users.models import User
from tests.integration.import_support import (
    HEADER,
    actor,
    csv_bytes,
    customer_rows,
    make_batch,
    resident_id,
)
from tests.support.world import World

pytestmark = pytest.mark.django_db


def stored(batch: ImportBatch) -> Path:
    return Path(settings.FINCRM_DATA_DIR) / batch.upload_path


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def run_queued_job() -> Job:
    job = jobs.run_one()
    assert job is not None
    return job


# ---------------------------------------------------------------- upload


def test_an_upload_is_stored_encrypted_mapped_and_audited_without_its_content(world: World) -> None:
    data = csv_bytes(customer_rows(3))
    batch = make_batch(data=data)

    assert batch.status == ImportBatch.Status.UPLOADED
    assert batch.created_by == World.user("operations_a")
    assert batch.mapping == {name: name for name in HEADER}
    assert batch.file_size == len(data)
    content = stored(batch).read_bytes()
    assert resident_id(1).encode() not in content
    assert "欧阳".encode() not in content
    (uploaded,) = events("import.uploaded")
    assert uploaded.after["file_sha256"] == batch.file_sha256
    assert uploaded.after["file_size"] == len(data)
    assert resident_id(1) not in str(uploaded.after)


def test_columns_named_by_their_english_or_chinese_labels_are_mapped() -> None:
    header = ["Customer Number", "customer type", "NAME", "ID number", "备注"]
    assert suggest_mapping("customers", header) == {
        "customer_number": "Customer Number",
        "kind": "customer type",
        "name": "NAME",
        "id_number": "ID number",
    }


@pytest.mark.parametrize(
    ("options", "field", "code"),
    [
        ({"file_name": "customers.xlsx"}, "file", "extension"),
        ({"file_format": "pdf"}, "file_format", "invalid_choice"),
        ({"encoding": "latin-1"}, "encoding", "invalid_choice"),
        ({"mapping": {"shoe_size": "鞋码"}}, "mapping", "mapping"),
        ({"mapping": {"name": "姓名", "customer_number": "姓名"}}, "mapping", "mapping"),
        ({"mode": "most"}, "mode", "invalid_choice"),
        ({"entity": "loans"}, "entity", "invalid_choice"),
    ],
)
def test_bad_options_are_refused_naming_the_field(
    world: World, options: dict[str, object], field: str, code: str
) -> None:
    before = ImportBatch.objects.count()
    with pytest.raises(ServiceError) as caught:
        make_batch(**options)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert field in caught.value.fields
    assert caught.value.fields[field][0]
    assert ImportBatch.objects.count() == before


def test_an_unreadable_file_is_refused_and_nothing_is_kept(
    world: World, settings: Any, tmp_path: Path
) -> None:
    # A data folder of its own: the other test workers store uploads in the shared one meanwhile.
    settings.FINCRM_DATA_DIR = str(tmp_path)
    folder = tmp_path / "imports"
    files_before = set(folder.iterdir()) if folder.exists() else set()
    with pytest.raises(ServiceError) as caught:
        make_batch(data=b"\x00\x01binary\x00garbage" * 50)
    assert caught.value.code == "binary"
    assert "file" in caught.value.fields
    assert ImportBatch.objects.count() == 0
    assert set(folder.iterdir()) == files_before


def test_a_template_of_another_kind_of_data_is_refused(world: World) -> None:
    template = services.import_template_save(
        actor=actor(), name="产品模板", entity="products", file_format="csv", encoding="utf-8",
        delimiter=",", mapping={"code": "代码"}, on_match="update",
    )  # fmt: skip
    with pytest.raises(ServiceError) as caught:
        make_batch(template=template)
    assert caught.value.code == "template_entity"


def test_importing_needs_the_permission_and_the_entitys_own(world: World) -> None:
    for role in ("account_manager_a", "marketing_a", "system_admin_a"):
        with pytest.raises(Forbidden):
            make_batch(actor(role))
    assert ImportBatch.objects.count() == 0


# ---------------------------------------------------------------- visibility


def test_a_batch_is_only_its_creators(world: World) -> None:
    batch = make_batch()
    other = actor("operations_b")
    assert list(import_batch_list(actor=other)) == []
    with pytest.raises(NotFound):
        access_import_batch(other, batch.pk)
    assert SecurityEvent.objects.filter(kind="access.denied", user_id=other.user_id).exists()
    with pytest.raises(NotFound):
        services.import_batch_queue(actor=other, batch=batch, dry_run=True)
    assert ImportBatch.objects.get(pk=batch.pk).status == ImportBatch.Status.UPLOADED


# ---------------------------------------------------------------- end to end


def test_dry_run_finds_the_error_then_the_fixed_file_imports_and_the_customers_are_listed(
    world: World,
) -> None:
    importer_actor = actor()
    broken = make_batch(data=csv_bytes(customer_rows(4, bad_id_at=2)))
    services.import_batch_queue(actor=importer_actor, batch=broken, dry_run=True)
    assert ImportBatch.objects.get(pk=broken.pk).status == ImportBatch.Status.QUEUED
    assert run_queued_job().status == Job.Status.DONE

    broken.refresh_from_db()
    assert broken.status == ImportBatch.Status.INVALID
    assert (broken.rows_total, broken.rows_invalid, broken.issue_count) == (4, 1, 1)
    issue = broken.issues.get()
    assert (issue.row_number, issue.column, issue.code) == (4, "id_number", "checksum")
    assert "*" in issue.value
    assert issue.message
    assert not Customer.objects.filter(customer_number__startswith="IMPW").exists()

    fixed = make_batch(data=csv_bytes(customer_rows(4)))
    services.import_batch_queue(actor=importer_actor, batch=fixed, dry_run=True)
    run_queued_job()
    fixed.refresh_from_db()
    assert fixed.status == ImportBatch.Status.CHECKED
    services.import_batch_queue(actor=importer_actor, batch=fixed, dry_run=False)
    run_queued_job()
    fixed.refresh_from_db()
    assert (fixed.status, fixed.rows_inserted, fixed.issue_count) == (ImportBatch.Status.DONE, 4, 0)
    assert fixed.upload_path == ""  # the file is deleted once imported

    listed = customer_queryset(actor("account_manager_a"), "customer.view").filter(
        customer_number__startswith="IMPW"
    )
    assert sorted(listed.values_list("customer_number", flat=True)) == [f"IMPW{n:04d}" for n in range(1, 5)]
    assert len(events("customer.imported")) == 4
    with pytest.raises(Conflict):
        services.import_batch_queue(actor=importer_actor, batch=fixed, dry_run=False)


def test_the_job_runs_as_the_creator_with_their_roles_now(world: World) -> None:
    batch = make_batch()
    services.import_batch_queue(actor=actor(), batch=batch, dry_run=True)
    User.objects.filter(username="operations_a").update(is_active=False)
    run_queued_job()
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.upload_path == ""
    assert batch.error
    assert events("import.failed")[0].object_id == str(batch.pk)


def test_queueing_twice_is_refused(world: World) -> None:
    batch = make_batch()
    services.import_batch_queue(actor=actor(), batch=batch, dry_run=True)
    with pytest.raises(Conflict) as caught:
        services.import_batch_queue(actor=actor(), batch=batch, dry_run=False)
    assert caught.value.code == "import_running"
    assert Job.objects.filter(task=services.RUN_JOB).count() == 1


def test_a_cancelled_batch_waiting_in_the_queue_is_not_run(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    batch = make_batch()
    path = stored(batch)
    services.import_batch_queue(actor=actor(), batch=batch, dry_run=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.import_batch_cancel(actor=actor(), batch=batch)
    batch.refresh_from_db()
    assert (batch.status, batch.upload_path) == (ImportBatch.Status.CANCELLED, "")
    assert not path.exists()
    assert events("import.cancelled")[0].object_id == str(batch.pk)
    run_queued_job()
    assert not Customer.objects.filter(customer_number__startswith="IMPW").exists()
    with pytest.raises(Conflict):
        services.import_batch_cancel(actor=actor(), batch=batch)


def test_changing_the_mapping_asks_for_a_new_check(world: World) -> None:
    header = ["核心系统编号", *HEADER[1:]]
    batch = make_batch(data=csv_bytes(customer_rows(2), header))
    assert "customer_number" not in batch.mapping
    services.import_batch_queue(actor=actor(), batch=batch, dry_run=True)
    run_queued_job()
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.INVALID
    assert batch.issue_count

    mapping = {**batch.mapping, "customer_number": "核心系统编号"}
    changed = services.import_batch_mapping_set(actor=actor(), batch=batch, mapping=mapping)
    assert (changed.status, changed.issue_count, changed.issues.count()) == (
        ImportBatch.Status.UPLOADED,
        0,
        0,
    )
    assert events("import.mapping.changed")[0].after == {"mapping": mapping}
    services.import_batch_queue(actor=actor(), batch=changed, dry_run=True)
    run_queued_job()
    changed.refresh_from_db()
    assert changed.status == ImportBatch.Status.CHECKED


def test_a_run_without_heartbeat_for_ten_minutes_is_failed_and_its_file_deleted(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    batch = make_batch()
    fresh = make_batch(data=csv_bytes(customer_rows(1, start=50)))
    path = stored(batch)
    now = timezone.now()
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.RUNNING, heartbeat_at=now - timedelta(minutes=11)
    )
    ImportBatch.objects.filter(pk=fresh.pk).update(
        status=ImportBatch.Status.RUNNING, heartbeat_at=now - timedelta(minutes=2)
    )
    from fincrm.integration.jobs import fail_stuck_imports

    with django_capture_on_commit_callbacks(execute=True):
        fail_stuck_imports()
    batch.refresh_from_db()
    fresh.refresh_from_db()
    assert (batch.status, batch.upload_path) == (ImportBatch.Status.FAILED, "")
    assert not path.exists()
    assert fresh.status == ImportBatch.Status.RUNNING


def test_an_upload_left_unimported_past_the_keeping_period_is_deleted_and_the_batch_cancelled(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    keep = timedelta(hours=settings.FINCRM_IMPORT_UPLOAD_KEEP_HOURS)
    now = timezone.now()
    old = make_batch()
    checked = make_batch(data=csv_bytes(customer_rows(1, start=40)))
    young = make_batch(data=csv_bytes(customer_rows(1, start=50)))
    queued = make_batch(data=csv_bytes(customer_rows(1, start=60)))
    paths = {batch.pk: stored(batch) for batch in (old, checked, young, queued)}
    ImportBatch.objects.filter(pk=old.pk).update(updated_at=now - keep - timedelta(minutes=1))
    ImportBatch.objects.filter(pk=checked.pk).update(
        status=ImportBatch.Status.CHECKED, updated_at=now - keep - timedelta(hours=5)
    )
    ImportBatch.objects.filter(pk=young.pk).update(updated_at=now - keep + timedelta(minutes=5))
    # A queued batch is the worker's: it is never expired under it, however long it waited.
    ImportBatch.objects.filter(pk=queued.pk).update(
        status=ImportBatch.Status.QUEUED, updated_at=now - keep - timedelta(hours=1)
    )
    from fincrm.integration.jobs import expire_import_uploads

    with django_capture_on_commit_callbacks(execute=True):
        expire_import_uploads()
    for batch in (old, checked, young, queued):
        batch.refresh_from_db()
    assert [(b.status, b.upload_path == "") for b in (old, checked)] == [
        (ImportBatch.Status.CANCELLED, True)
    ] * 2
    assert not paths[old.pk].exists()
    assert not paths[checked.pk].exists()
    assert str(settings.FINCRM_IMPORT_UPLOAD_KEEP_HOURS) in old.error
    assert (young.status, paths[young.pk].exists()) == (ImportBatch.Status.UPLOADED, True)
    assert (queued.status, paths[queued.pk].exists()) == (ImportBatch.Status.QUEUED, True)
    expired = AuditEvent.objects.filter(action="import.expired")
    assert sorted(expired.values_list("object_id", flat=True)) == sorted([str(old.pk), str(checked.pk)])
    assert expired.get(object_id=str(checked.pk)).before == {"status": ImportBatch.Status.CHECKED}
    # A second pass finds nothing left to do.
    assert services.import_uploads_expire(actor=actor()) == 0


# ---------------------------------------------------------------- the error report


def test_the_error_report_is_masked_and_formula_safe(world: World) -> None:
    rows = customer_rows(2, bad_id_at=0)
    rows[1][2] = '=HYPERLINK("http://x")'
    rows[1][1] = "=cmd"  # an unknown customer type: the value is reported, neutralized
    batch = make_batch(data=csv_bytes(rows))
    services.import_batch_run(actor=actor(), batch=batch, dry_run=True)
    _batch, content = services.import_issues_csv(actor=actor(), batch_id=batch.pk)
    text = content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[1] == ["Row", "Column", "Value", "Rule", "Message"]
    by_column = {line[1]: line for line in lines[2:]}
    assert by_column["id_number"][0] == "2"
    assert "*" in by_column["id_number"][2]
    assert resident_id(1)[:-1] not in text
    assert by_column["kind"][2] == "'=cmd"
    assert events("import.issues.downloaded")


# ---------------------------------------------------------------- templates


def test_templates_are_shared_but_only_their_author_changes_them(world: World) -> None:
    author = actor()
    template = services.import_template_save(
        actor=author, name=" 核心客户 ", entity="customers", file_format="csv", encoding="gb18030",
        delimiter=";", mapping={"customer_number": "客户号", "name": "姓名"}, on_match="skip",
    )  # fmt: skip
    assert (template.name, template.encoding, template.delimiter) == ("核心客户", "gb18030", ";")
    with pytest.raises(ServiceError) as caught:
        services.import_template_save(
            actor=author, name="核心客户", entity="customers", file_format="csv", encoding="utf-8",
            delimiter=",", mapping={}, on_match="update",
        )  # fmt: skip
    assert caught.value.code == "duplicate"
    assert "name" in caught.value.fields

    other = actor("operations_b")
    with pytest.raises(NotFound):
        services.import_template_delete(actor=other, template=template)
    with pytest.raises(NotFound):
        services.import_template_save(
            actor=other, template=template, name="x", entity="customers", file_format="csv",
            encoding="utf-8", delimiter=",", mapping={}, on_match="update",
        )  # fmt: skip
    # ... but may import with it: the template sets how the file is read and mapped.
    data = csv_bytes(customer_rows(1), ["客户号", *HEADER[1:]]).decode().replace(",", ";").encode("gb18030")
    batch = make_batch(other, data, template=template)
    assert (batch.encoding, batch.delimiter, batch.on_match, batch.template_id) == (
        "gb18030",
        ";",
        "skip",
        template.pk,
    )
    assert batch.mapping == {"customer_number": "客户号", "name": "姓名"}

    services.import_template_delete(actor=author, template=template)
    assert not ImportTemplate.objects.filter(pk=template.pk).exists()
    assert [
        event.action for event in AuditEvent.objects.filter(object_type="import_template").order_by("id")
    ] == [
        "import.template.saved",
        "import.template.deleted",
    ]
    batch.refresh_from_db()
    assert batch.template_id is None
    assert batch.mapping


# ---------------------------------------------------------------- mapping validation (property)


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.one_of(st.text(max_size=20), st.sampled_from(HEADER)),
        st.one_of(st.text(max_size=120), st.integers(), st.none(), st.lists(st.text(), max_size=2)),
        max_size=6,
    )
)
def test_any_mapping_is_either_clean_or_refused_naming_the_mapping(mapping: dict[str, object]) -> None:
    outcome: dict[str, str] | ServiceError
    try:
        outcome = services.clean_mapping("customers", mapping)
    except ServiceError as error:
        outcome = error
    if isinstance(outcome, ServiceError):
        assert outcome.code == "mapping"
        assert outcome.fields["mapping"][0]
        return
    assert set(outcome) <= {spec.name for spec in ENTITIES["customers"].fields}
    assert len(set(outcome.values())) == len(outcome)
    assert all(0 < len(column) <= 100 for column in outcome.values())

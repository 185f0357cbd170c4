"""The import pages as an operations user uses them: upload, map, check, fix, import, templates."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from fincrm.customers.models import Customer
from fincrm.integration.models import ImportBatch, ImportTemplate
from fincrm.platform import jobs
from tests.integration.import_support import HEADER, actor, csv_bytes, customer_rows, make_batch
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db

NEW = {
    "entity": "customers",
    "file_format": "csv",
    "encoding": "utf-8",
    "delimiter": ",",
    "on_match": "update",
    "mode": "all",
}


@pytest.fixture
def ops(world: World, client: Client) -> Client:
    return sign_in(client, World.user("operations_a"))


def upload(client: Client, data: bytes, name: str = "customers.csv", **fields: Any) -> Any:
    return client.post("/imports/new/", {**NEW, **fields, "file": SimpleUploadedFile(name, data)})


def test_upload_check_fix_and_import_through_the_pages(ops: Client) -> None:
    response = upload(ops, csv_bytes(customer_rows(3, bad_id_at=1)))
    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    assert response["Location"] == f"/imports/{batch.pk}/"

    page = ops.get(response["Location"]).content.decode()
    assert "customers.csv" in page
    assert batch.file_sha256 in page
    assert 'name="map__customer_number"' in page
    assert re.search(r'<option value="customer_number" selected>customer_number</option>', page)

    assert ops.post(f"/imports/{batch.pk}/check/").status_code == 302
    assert ImportBatch.objects.get(pk=batch.pk).status == ImportBatch.Status.QUEUED
    polled = ops.get(f"/imports/{batch.pk}/status/", HTTP_X_FINCRM_BACKGROUND="1").content.decode()
    assert 'hx-trigger="every 2s"' in polled
    assert "<progress" in polled
    jobs.run_one()
    finished = ops.get(f"/imports/{batch.pk}/status/?was=active", HTTP_X_FINCRM_BACKGROUND="1")
    assert finished["HX-Refresh"] == "true"

    page = ops.get(f"/imports/{batch.pk}/").content.decode()
    assert "Errors found, nothing written" in page
    assert "checksum" in page
    assert "<td>3</td>" in page
    assert f"/imports/{batch.pk}/errors.csv" in page
    report = ops.get(f"/imports/{batch.pk}/errors.csv")
    assert report["Content-Type"].startswith("text/csv")
    assert report["Cache-Control"] == "no-store"
    assert "checksum" in report.content.decode("utf-8-sig")

    # Fix the file, upload it again, check and import.
    response = upload(ops, csv_bytes(customer_rows(3)))
    fixed = ImportBatch.objects.exclude(pk=batch.pk).get()
    ops.post(f"/imports/{fixed.pk}/check/")
    jobs.run_one()
    assert "Checked (dry run)" in ops.get(f"/imports/{fixed.pk}/").content.decode()
    ops.post(f"/imports/{fixed.pk}/run/")
    jobs.run_one()
    page = ops.get(f"/imports/{fixed.pk}/").content.decode()
    assert "Imported" in page
    assert 'data-count="inserted">3<' in page
    assert Customer.objects.filter(customer_number__startswith="IMPW").count() == 3

    listing = ops.get("/imports/").content.decode()
    assert listing.count("customers.csv") == 2


def test_the_customers_appear_in_the_customer_list(ops: Client) -> None:
    upload(ops, csv_bytes(customer_rows(2)))
    batch = ImportBatch.objects.get()
    ops.post(f"/imports/{batch.pk}/run/")
    jobs.run_one()
    html = ops.get("/customers/").content.decode()
    assert "IMPW0001" in html
    assert "IMPW0002" in html


def test_a_bad_upload_is_shown_on_the_form(ops: Client) -> None:
    response = upload(ops, b"%PDF-1.4\x00\x00\x00", name="customers.pdf")
    assert response.status_code == 200
    html = response.content.decode()
    assert "The file name must end in" in html
    response = upload(ops, b"\x00\x00binary\x00", name="customers.csv")
    assert response.status_code == 200
    assert "invalid-feedback" in response.content.decode()
    assert ImportBatch.objects.count() == 0


def test_remapping_a_column_from_the_page(ops: Client) -> None:
    data = csv_bytes(customer_rows(1), ["核心系统编号", *HEADER[1:]])
    upload(ops, data)
    batch = ImportBatch.objects.get()
    page = ops.get(f"/imports/{batch.pk}/").content.decode()
    assert "Not mapped, but needed for new records" in page
    form = {f"map__{name}": name for name in HEADER[1:]} | {"map__customer_number": "核心系统编号"}
    assert ops.post(f"/imports/{batch.pk}/mapping/", form).status_code == 302
    batch.refresh_from_db()
    assert batch.mapping["customer_number"] == "核心系统编号"
    refused = ops.post(f"/imports/{batch.pk}/mapping/", form | {"map__name": "核心系统编号"})
    assert refused.status_code == 400
    assert "is mapped to both" in refused.content.decode()


def test_cancel_and_templates_from_the_pages(ops: Client) -> None:
    upload(ops, csv_bytes(customer_rows(1)))
    batch = ImportBatch.objects.get()
    assert ops.post(f"/imports/{batch.pk}/save-template/", {"name": "每日客户"}).status_code == 302
    template = ImportTemplate.objects.get(name="每日客户")
    assert template.mapping == batch.mapping

    assert "每日客户" in ops.get("/imports/templates/").content.decode()
    edit = ops.get(f"/imports/templates/{template.pk}/edit/")
    assert edit.status_code == 200
    assert 'value="每日客户"' in edit.content.decode()
    form = {
        "name": "每日客户 v2",
        "file_format": "csv",
        "encoding": "gb18030",
        "delimiter": ";",
        "on_match": "skip",
    }
    form |= {"map__customer_number": "客户号", "map__name": "姓名"}
    assert ops.post(f"/imports/templates/{template.pk}/edit/", form).status_code == 302
    template.refresh_from_db()
    assert (template.name, template.encoding, template.mapping) == (
        "每日客户 v2",
        "gb18030",
        {"customer_number": "客户号", "name": "姓名"},
    )
    created = ops.post(
        "/imports/templates/new/?entity=products",
        {"name": "产品", "file_format": "xlsx", "encoding": "utf-8", "delimiter": ",", "on_match": "update",
         "map__code": "产品代码"},
    )  # fmt: skip
    assert created.status_code == 302
    assert ImportTemplate.objects.get(name="产品").mapping == {"code": "产品代码"}

    assert ops.post(f"/imports/templates/{template.pk}/delete/").status_code == 302
    assert not ImportTemplate.objects.filter(pk=template.pk).exists()

    assert ops.post(f"/imports/{batch.pk}/cancel/").status_code == 302
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.CANCELLED
    page = ops.get(f"/imports/{batch.pk}/").content.decode()
    assert 'data-testid="check"' not in page


def test_another_users_template_cannot_be_edited_from_the_page(world: World, client: Client) -> None:
    make_batch()
    from fincrm.integration import services

    template = services.import_template_save(
        actor=actor(), name="A 的模板", entity="customers", file_format="csv", encoding="utf-8",
        delimiter=",", mapping={}, on_match="update",
    )  # fmt: skip
    sign_in(client, World.user("operations_b"))
    assert client.get(f"/imports/templates/{template.pk}/edit/").status_code == 404
    assert client.post(f"/imports/templates/{template.pk}/delete/").status_code == 404
    html = client.get("/imports/templates/").content.decode()
    assert "A 的模板" in html
    assert f"/imports/templates/{template.pk}/edit/" not in html


def test_the_pages_are_in_chinese_by_default(world: World) -> None:
    chinese = Client()
    sign_in(chinese, World.user("operations_a"))
    html = chinese.get("/imports/").content.decode()
    assert 'lang="zh-hans"' in html


def test_a_big_upload_is_spooled_encrypted_and_imports(ops: Client, settings: Any) -> None:
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # past this, the encrypted spool takes the file
    data = csv_bytes(customer_rows(60))
    assert len(data) > 4096
    assert upload(ops, data).status_code == 302
    batch = ImportBatch.objects.get()
    assert batch.file_size == len(data)
    ops.post(f"/imports/{batch.pk}/run/")
    jobs.run_one()
    batch.refresh_from_db()
    assert (batch.status, batch.rows_inserted) == (ImportBatch.Status.DONE, 60)


def test_the_spool_never_holds_clear_bytes_and_reads_back_from_the_start(settings: Any) -> None:
    from fincrm.integration.forms import EncryptedSpoolUploadHandler

    settings.FINCRM_IMPORT_MAX_BYTES = 100
    handler = EncryptedSpoolUploadHandler()
    handler.new_file("file", "customers.csv", "text/csv", None, "utf-8")
    parts = [b"MARKER-" + bytes([65 + n]) * 20 for n in range(6)]  # 162 bytes in 6 chunks
    start = 0
    for part in parts:
        handler.receive_data_chunk(part, start)
        start += len(part)
    spooled = handler.file_complete(start)

    handler.spool.handle.seek(0)
    assert b"MARKER" not in handler.spool.handle.read()
    kept = b"".join(spooled.chunks())
    assert kept == b"".join(parts)[:101]  # the cap plus one byte: the import refuses it as too large
    assert spooled.read() == b""  # chunks() read it all; the next chunks() starts over
    assert b"".join(spooled.chunks()) == kept
    spooled.close()

"""``/api/v1/feeds``: the authorization matrix, posting a zipped feed (applied, repeated, waiting,
failed), hostile archives, and the feed log."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from fincrm.audit.models import SecurityEvent
from fincrm.customers.models import Customer
from fincrm.integration.models import FeedRun
from fincrm.platform.models import OutboxEvent
from tests.integration.test_feeds import CUSTOMERS, FULL, PRODUCTS, write_feed
from tests.support.auth import sign_in
from tests.support.authz import Case, check, fingerprint, matrix
from tests.support.world import World

URL = "/api/v1/feeds"


@pytest.fixture(autouse=True)
def a_feed_in_the_log(db: None) -> FeedRun:
    return FeedRun.objects.create(
        system="core",
        sequence=1,
        business_date=date(2026, 11, 23),
        manifest_sha256="0" * 64,
        status="applied",
    )


ENDPOINTS = [
    Case("api feed list", "get", URL, "data.feed", api=True),
    Case("api feed list of a system", "get", URL + "?system=core&limit=5", "data.feed", api=True),
    Case("api feed detail", "get", URL + "/core/1", "data.feed", api=True),
    # Allowed callers without a file are told to attach one (422), before anything is written.
    Case("api feed post", "post", URL, "data.feed", api=True, ok=(422,)),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(ENDPOINTS))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)


def zipped(folder: Path, *, prefix: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            name = path.name if prefix == "" else f"{prefix or folder.name}/{path.name}"
            archive.write(path, name)
    return buffer.getvalue()


def post(client: Client, data: bytes, name: str = "feed.zip") -> Any:
    return client.post(URL, {"file": SimpleUploadedFile(name, data, content_type="application/zip")})


@pytest.fixture
def operations(client: Client, world: World) -> Client:
    FeedRun.objects.all().delete()
    return sign_in(client, World.user("operations_a"))


def test_a_posted_feed_is_applied_once(operations: Client, tmp_path: Path, settings: Any) -> None:
    settings.FINCRM_DATA_DIR = tmp_path / "data"
    data = zipped(write_feed(tmp_path, 1, FULL))
    response = post(operations, data)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "applied"
    assert body["run"]["counts"]["transactions"]["inserted"] == 2
    assert Customer.objects.filter(customer_number="FEED-1").exists()
    outbox = OutboxEvent.objects.count()
    again = post(operations, data)
    assert again.status_code == 200
    assert again.json()["status"] == "already_applied"
    assert OutboxEvent.objects.count() == outbox
    detail = operations.get(URL + "/core/1")
    assert detail.status_code == 200
    assert detail.json()["status"] == "applied"
    listed = operations.get(URL)
    assert [item["sequence"] for item in listed.json()["items"]] == [1]
    # The upload was kept encrypted while it was applied, and nothing of it is left.
    assert (tmp_path / "data" / "imports").is_dir()
    assert not list((tmp_path / "data" / "imports").iterdir())


def test_files_at_the_top_of_the_zip_are_fine(operations: Client, tmp_path: Path) -> None:
    response = post(operations, zipped(write_feed(tmp_path, 1, {"products": PRODUCTS}), prefix=""))
    assert response.status_code == 201, response.content


def test_a_gap_answers_409_and_a_failure_422(operations: Client, tmp_path: Path) -> None:
    assert post(operations, zipped(write_feed(tmp_path, 1, {"products": PRODUCTS}))).status_code == 201
    waiting = post(operations, zipped(write_feed(tmp_path, 3, {"products": PRODUCTS})))
    assert waiting.status_code == 409
    assert waiting.json()["code"] == "feed_waiting"
    assert "core#2" in waiting.json()["message"]
    bad = (CUSTOMERS[0], [["U", "FEED-9", "individual", "王", "NO-SUCH-UNIT", ""]])
    failed = post(operations, zipped(write_feed(tmp_path, 2, {"customers": bad})))
    assert failed.status_code == 422
    assert failed.json()["code"] == "feed_failed"
    assert "[unknown_reference]" in failed.json()["message"]
    assert operations.get(URL + "/core/2").json()["status"] == "failed"
    assert not Customer.objects.filter(customer_number="FEED-9").exists()


def test_the_zip_folder_must_match_the_manifest(operations: Client, tmp_path: Path) -> None:
    response = post(operations, zipped(write_feed(tmp_path, 1, {"products": PRODUCTS}), prefix="core-2"))
    assert response.status_code == 422
    assert response.json()["code"] == "feed_name"
    assert not FeedRun.objects.exists()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"not a zip at all", "feed_archive"),
        (b"", "feed_archive"),
    ],
)
def test_garbage_is_refused(operations: Client, data: bytes, code: str) -> None:
    before = fingerprint()
    response = post(operations, data)
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert fingerprint() == before


def test_a_zip_bomb_is_refused_unread(operations: Client) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", b"{}")
        archive.writestr("customers.csv", b"0" * (50 * 1024 * 1024))  # 50 MiB of zeros, ~50 KB packed
    response = post(operations, buffer.getvalue())
    assert response.status_code == 422
    assert response.json()["code"] == "feed_zip_bomb"


def test_too_many_entries_are_refused(operations: Client) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(9):
            archive.writestr(f"f{number}.csv", b"x")
    response = post(operations, buffer.getvalue())
    assert response.status_code == 422
    assert response.json()["code"] == "feed_archive"


def test_nested_folders_are_refused(operations: Client) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("core-1/manifest.json", b"{}")
        archive.writestr("core-1/sub/customers.csv", b"x")
    response = post(operations, buffer.getvalue())
    assert response.status_code == 422
    assert response.json()["code"] == "feed_archive"


def test_a_caller_without_data_feed_cannot_post(client: Client, world: World, tmp_path: Path) -> None:
    user = World.user("account_manager_a")
    sign_in(client, user)
    before = fingerprint()
    response = post(client, zipped(write_feed(tmp_path, 2, FULL)))
    assert response.status_code == 403
    assert fingerprint() == before
    assert SecurityEvent.objects.filter(kind="access.denied", user_id=user.pk).count() == 1


def test_unknown_feed_is_404(operations: Client) -> None:
    assert operations.get(URL + "/core/99").status_code == 404

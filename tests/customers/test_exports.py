"""Customer exports: permission, step-up, row cap and approvals, masking, neutralized cells,
watermark, encryption at rest, expiring creator-only links, SHA-256 in the audit event."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from fincrm.audit.models import AuditEvent
from fincrm.customers.services.exports import (
    customer_export,
    export_file_download,
    export_request_create,
    export_request_decide,
)
from fincrm.integration.jobs import purge_expired_exports
from fincrm.integration.models import ExportFile, ExportRequest
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden, NotFound, ServiceError
from fincrm.security.stepup import SESSION_STEP_UP_AT
from fincrm.users.actors import actor_for_user
from fincrm.users.models import RoleAssignment
from tests.customers.factories import CustomerFactory
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import PASSWORD, World
from tests.users.admin_support import custom_role

__all__ = ["client", "english"]

MANAGER = "branch_manager_a"  # customer.export over its subtree (sub-branch A1)


def actor_of(username: str) -> Actor:
    return actor_for_user(World.user(username))


def stepped_up(client: Client, username: str = MANAGER) -> Client:
    sign_in(client, World.user(username))
    session = client.session
    session[SESSION_STEP_UP_AT] = int(time.time())
    session.save()
    return client


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


@pytest.fixture
def hostile(world: World) -> Any:
    return CustomerFactory(customer_number="X1", name="=HYPERLINK(1)", lifecycle_stage="customer")


def test_export_csv_end_to_end(hostile: Any, world: World, client: Client) -> None:
    stepped_up(client)
    response = client.post(
        "/customers/export/",
        {
            "format": "csv",
            "stage": "customer",
            "columns": ["customer_number", "name", "id_number"],
            "sort": "number",
        },
    )
    assert response.status_code == 302, response.content[:300]
    export = ExportFile.objects.get()
    assert response["Location"] == f"/customers/exports/{export.pk}/"
    assert client.get(response["Location"]).status_code == 200

    download = client.get(f"/customers/exports/{export.pk}/download/")
    assert download.status_code == 200
    assert download["Cache-Control"] == "no-store"
    assert "attachment" in download["Content-Disposition"]
    content = download.content
    rows = csv_rows(content)
    assert rows[0][0].startswith("Exported by branch_manager_a on ")
    assert rows[1] == ["Customer number", "Name", "ID number"]
    assert rows[2] == ["W-A", "张*", "110***********002X"]
    assert rows[3][0] == "X1"
    assert rows[3][1].startswith("'=")
    assert "*" in rows[3][2]
    assert hashlib.sha256(content).hexdigest() == export.sha256

    # Encrypted at rest: the stored content is a keyring token, not the file.
    assert export.content.startswith("v1:")
    assert "W-A" not in export.content
    event = AuditEvent.objects.get(action="customer.exported")
    assert event.object_id == str(export.pk)
    assert event.after["sha256"] == export.sha256
    assert event.after["rows"] == 2
    assert event.after["format"] == "csv"
    assert event.after["filters"] == {"stage": ["customer"]}
    assert AuditEvent.objects.filter(action="customer.export.downloaded", object_id=str(export.pk)).exists()


def test_export_xlsx_has_watermark_and_text_ids(world: World) -> None:
    export = customer_export(
        actor=actor_of(MANAGER),
        parameters={"columns": ["customer_number", "id_number", "aum"]},
        file_format="xlsx",
        stepped_up=True,
    )
    _export, content = export_file_download(actor=actor_of(MANAGER), export_id=export.pk)
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    assert str(sheet["A1"].value).startswith("Exported by branch_manager_a")
    assert sheet.oddHeader.center.text.startswith("Exported by branch_manager_a")
    # Columns come in the allow-list's order: number, AUM, ID number.
    assert [cell.value for cell in sheet[2]] == ["Customer number", "AUM (CNY)", "ID number"]
    assert sheet["A3"].value == "W-A"
    assert sheet["C3"].number_format == "@"
    assert sheet["C3"].value == "110***********002X"
    assert sheet["B3"].data_type == "n"


def test_export_scope_is_the_export_permissions(world: World) -> None:
    export = customer_export(
        actor=actor_of(MANAGER),
        parameters={"columns": ["customer_number"]},
        file_format="csv",
        stepped_up=True,
    )
    _export, content = export_file_download(actor=actor_of(MANAGER), export_id=export.pk)
    assert [row[0] for row in csv_rows(content)[2:]] == ["W-A"]  # never world.customer_b


def test_export_needs_permission_and_step_up(world: World, client: Client) -> None:
    with pytest.raises(Forbidden):
        customer_export(
            actor=actor_of("account_manager_a"), parameters={}, file_format="csv", stepped_up=True
        )
    with pytest.raises(ServiceError) as caught:
        customer_export(actor=actor_of(MANAGER), parameters={}, file_format="csv", stepped_up=False)
    assert caught.value.code == "step_up_required"
    sign_in(client, World.user(MANAGER))
    response = client.post("/customers/export/", {"format": "csv", "stage": "customer"})
    assert response.status_code == 302
    assert response["Location"].startswith("/sensitive/step-up/?next=")
    assert not ExportFile.objects.exists()


def test_bad_format_and_filters_are_refused(world: World) -> None:
    with pytest.raises(ServiceError) as caught:
        customer_export(actor=actor_of(MANAGER), parameters={}, file_format="pdf", stepped_up=True)
    assert "format" in caught.value.fields
    with pytest.raises(ServiceError) as caught:
        customer_export(actor=actor_of(MANAGER), parameters={"tier": "x"}, file_format="csv", stepped_up=True)
    assert "tier" in caught.value.fields
    assert not ExportFile.objects.exists()


def test_only_the_creator_downloads_until_expiry(world: World, client: Client) -> None:
    export = customer_export(actor=actor_of(MANAGER), parameters={}, file_format="csv", stepped_up=True)
    with pytest.raises(NotFound):
        export_file_download(actor=actor_of("branch_manager_b"), export_id=export.pk)
    stepped_up(client, "branch_manager_b")
    assert client.get(f"/customers/exports/{export.pk}/download/").status_code == 404
    assert client.get(f"/customers/exports/{export.pk}/").status_code == 404
    ExportFile.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(NotFound):
        export_file_download(actor=actor_of(MANAGER), export_id=export.pk)


def test_link_lifetime_is_a_setting_and_the_job_deletes_expired_files(world: World, settings: Any) -> None:
    settings.FINCRM_EXPORT_LINK_MINUTES = 3
    export = customer_export(actor=actor_of(MANAGER), parameters={}, file_format="csv", stepped_up=True)
    assert timedelta(minutes=2) < export.expires_at - timezone.now() <= timedelta(minutes=3)
    keep = customer_export(actor=actor_of(MANAGER), parameters={}, file_format="csv", stepped_up=True)
    ExportFile.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    purge_expired_exports()
    assert list(ExportFile.objects.values_list("pk", flat=True)) == [keep.pk]
    assert AuditEvent.objects.get(action="export.purged").after["deleted"] == 1


# ---------------------------------------------------------------- row cap and approvals


@pytest.fixture
def approver(world: World) -> Actor:
    """A compliance head with customer.export over the whole institution."""
    role = custom_role(
        "export_approver", scope="institution", permissions=("customer.export", "customer.view")
    )
    RoleAssignment.objects.create(user=World.user("compliance_officer_b"), role=role)
    return actor_of("compliance_officer_b")


def test_above_the_cap_is_refused_saying_approval_is_needed(
    world: World, settings: Any, client: Client
) -> None:
    settings.FINCRM_EXPORT_ROW_CAP = 1
    CustomerFactory()
    with pytest.raises(ServiceError) as caught:
        customer_export(actor=actor_of(MANAGER), parameters={}, file_format="csv", stepped_up=True)
    assert caught.value.code == "export_needs_approval"
    assert "approv" in str(caught.value.message)
    stepped_up(client)
    response = client.post("/customers/export/", {"format": "csv"})
    assert response.status_code == 200
    assert "Request an approval" in response.content.decode()
    assert not ExportFile.objects.exists()


def test_approval_flow(world: World, settings: Any, approver: Actor) -> None:
    settings.FINCRM_EXPORT_ROW_CAP = 1
    CustomerFactory()
    requester = actor_of(MANAGER)
    request = export_request_create(
        actor=requester,
        parameters={"columns": ["customer_number"]},
        file_format="csv",
        reason="Annual review",
    )
    assert request.status == ExportRequest.Status.PENDING
    assert request.row_count == 2
    # Nobody approves their own request; a subtree-scoped exporter approves nothing.
    with pytest.raises(Forbidden):
        export_request_decide(actor=actor_of("branch_manager_b"), request_id=request.pk, approve=True)
    with pytest.raises(NotFound):  # not approved yet
        customer_export(
            actor=requester, parameters={}, file_format="csv", stepped_up=True, approved_request_id=request.pk
        )
    export_request_decide(actor=approver, request_id=request.pk, approve=True)
    export = customer_export(
        actor=requester, parameters={}, file_format="xlsx", stepped_up=True, approved_request_id=request.pk
    )
    assert export.row_count == 2
    assert export.file_format == "csv"
    request.refresh_from_db()
    assert request.status == ExportRequest.Status.USED
    assert AuditEvent.objects.get(action="customer.exported").after["approval_request"] == request.pk
    with pytest.raises(NotFound):  # used once
        customer_export(
            actor=requester, parameters={}, file_format="csv", stepped_up=True, approved_request_id=request.pk
        )


def test_approver_cannot_approve_own_request(world: World, approver: Actor) -> None:
    request = export_request_create(actor=approver, parameters={}, file_format="csv", reason="Audit")
    with pytest.raises(ServiceError) as caught:
        export_request_decide(actor=approver, request_id=request.pk, approve=True)
    assert caught.value.code == "own_request"
    request.refresh_from_db()
    assert request.status == ExportRequest.Status.PENDING


def test_request_needs_a_reason(world: World) -> None:
    with pytest.raises(ServiceError) as caught:
        export_request_create(actor=actor_of(MANAGER), parameters={}, file_format="csv", reason=" ")
    assert "reason" in caught.value.fields


# ---------------------------------------------------------------- API


def test_api_export_with_step_up_header(world: World, client: Client) -> None:
    sign_in(client, World.user(MANAGER))
    refused = client.post("/api/v1/customers/export", {"format": "csv"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "step_up_required"
    response = client.post(
        "/api/v1/customers/export",
        {"format": "csv", "filters": {"stage": ["customer"]}, "columns": ["customer_number", "name"]},
        content_type="application/json",
        headers={"X-Fincrm-Step-Up": PASSWORD},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rows"] == 1
    download = client.get(body["download_url"])
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == body["sha256"]
    assert csv_rows(download.content)[2] == ["W-A", "张*"]


def test_api_export_bad_filter_names_it(world: World, client: Client) -> None:
    stepped_up(client)
    response = client.post(
        "/api/v1/customers/export",
        {"format": "csv", "filters": {"aml": "x"}},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["aml"][0].startswith("AML risk rating: ")

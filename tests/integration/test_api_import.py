"""The import API as an integrator uses it: upload, check, poll, page through the errors, import;
templates; errors in the API's common body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from fincrm.customers.models import Customer
from fincrm.integration.models import ImportBatch, ImportTemplate
from fincrm.platform import jobs
from tests.integration.import_support import HEADER, csv_bytes, customer_rows
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(world: World, client: Client) -> Client:
    return sign_in(client, World.user("operations_a"))


def post_file(client: Client, data: bytes, *, name: str = "customers.csv", **parts: Any) -> Any:
    body = {"file": SimpleUploadedFile(name, data)}
    body |= {key: json.dumps(value) if isinstance(value, dict) else value for key, value in parts.items()}
    return client.post("/api/v1/imports", body)


def test_upload_check_read_the_errors_then_import_a_fixed_file(api: Client) -> None:
    created = post_file(api, csv_bytes(customer_rows(4, bad_id_at=0)), options={"entity": "customers"})
    assert created.status_code == 201, created.content
    batch = created.json()
    assert (batch["status"], batch["origin"], batch["entity"]) == ("uploaded", "api", "customers")
    assert batch["mapping"] == {name: name for name in HEADER}
    assert batch["status_url"] == f"/api/v1/imports/{batch['id']}"

    checked = api.post(f"/api/v1/imports/{batch['id']}/check")
    assert checked.status_code == 202
    assert (checked.json()["status"], checked.json()["dry_run"]) == ("queued", True)
    jobs.run_one()
    status = api.get(batch["status_url"]).json()
    assert (status["status"], status["rows_total"], status["rows_invalid"], status["issue_count"]) == (
        "invalid",
        4,
        1,
        1,
    )
    issues = api.get(batch["issues_url"]).json()
    assert issues["next_cursor"] is None
    (issue,) = issues["items"]
    assert (issue["row_number"], issue["column"], issue["code"]) == (2, "id_number", "checksum")
    assert "*" in issue["value"]

    fixed = post_file(
        api, csv_bytes(customer_rows(4)), options={"entity": "customers", "on_match": "skip"}
    ).json()
    assert api.post(f"/api/v1/imports/{fixed['id']}/run").status_code == 202
    jobs.run_one()
    done = api.get(fixed["status_url"]).json()
    assert (done["status"], done["rows_inserted"], done["rejects_url"]) == ("done", 4, None)
    assert Customer.objects.filter(customer_number__startswith="IMPW").count() == 4
    again = api.post(f"/api/v1/imports/{fixed['id']}/run")
    assert again.status_code == 409
    assert again.json()["code"] == "import_state"

    listed = api.get("/api/v1/imports?limit=1").json()
    assert [item["id"] for item in listed["items"]] == [fixed["id"]]
    following = api.get(f"/api/v1/imports?limit=1&cursor={listed['next_cursor']}").json()
    assert [item["id"] for item in following["items"]] == [batch["id"]]


def test_issues_are_paged_in_file_order(api: Client) -> None:
    rows = customer_rows(5)
    for row in rows:
        row[1] = "robot"  # an unknown customer type on every row
    batch = post_file(api, csv_bytes(rows), options={"entity": "customers"}).json()
    api.post(f"/api/v1/imports/{batch['id']}/check")
    jobs.run_one()
    seen: list[int] = []
    url = f"{batch['issues_url']}?limit=2"
    while url:
        page = api.get(url).json()
        seen += [item["row_number"] for item in page["items"]]
        url = f"{batch['issues_url']}?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert seen == [2, 3, 4, 5, 6]
    tampered = api.get(f"{batch['issues_url']}?cursor=abc")
    assert tampered.status_code == 400
    assert tampered.json()["fields"]["cursor"]


def test_an_upload_by_template_name(api: Client) -> None:
    template = api.post(
        "/api/v1/import-templates",
        {
            "name": "核心客户",
            "entity": "customers",
            "encoding": "gb18030",
            "mapping": {"customer_number": "客户号"},
        },
        content_type="application/json",
    )
    assert template.status_code == 201, template.content
    data = csv_bytes(customer_rows(1), ["客户号", *HEADER[1:]], encoding="gb18030")
    created = post_file(api, data, template="核心客户")
    assert created.status_code == 201
    body = created.json()
    assert (body["template"], body["encoding"], body["mapping"]) == (
        "核心客户",
        "gb18030",
        {"customer_number": "客户号"},
    )
    missing = post_file(api, data, template="没有这个模板")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("parts", "field", "code"),
    [
        ({"options": "not json"}, "options", "options"),
        ({"options": {"entity": "customers", "colour": "red"}}, "options", "options"),
        ({"options": {"entity": "customers", "mapping": {"shoe_size": "x"}}}, "mapping", "mapping"),
        ({"options": {"entity": "loans"}}, "entity", "invalid_choice"),
        ({"options": {"entity": "customers", "encoding": "big5"}}, "encoding", "invalid_choice"),
    ],
)
def test_bad_options_answer_400_naming_the_field(
    api: Client, parts: dict[str, Any], field: str, code: str
) -> None:
    response = post_file(api, csv_bytes(customer_rows(1)), **parts)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], list(body["fields"])) == (code, [field])
    assert body["fields"][field][0]
    assert body["request_id"]
    assert ImportBatch.objects.count() == 0


def test_a_hostile_file_is_refused_with_its_rule(api: Client) -> None:
    response = post_file(api, b"\x00\xff\x00binary", options={"entity": "customers"})
    assert response.status_code == 400
    assert response.json()["code"] == "binary"
    response = post_file(api, "客户号\n1\n".encode("gb18030"), options={"entity": "customers"})
    assert response.status_code == 400
    assert response.json()["code"] == "encoding"


def test_a_file_part_is_required(api: Client) -> None:
    response = api.post("/api/v1/imports", {"options": '{"entity": "customers"}'})
    assert response.status_code == 422
    assert [field.split(".")[0] for field in response.json()["fields"]] == ["file"]


def test_another_importers_batch_is_not_found(api: Client) -> None:
    batch = post_file(api, csv_bytes(customer_rows(1)), options={"entity": "customers"}).json()
    other = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in(other, World.user("operations_b"))
    for method, url in (("get", batch["status_url"]), ("post", f"{batch['status_url']}/run")):
        response = getattr(other, method)(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert ImportBatch.objects.get(pk=batch["id"]).status == "uploaded"


def test_templates_crud(api: Client) -> None:
    created = api.post(
        "/api/v1/import-templates",
        {"name": "T1", "entity": "products", "file_format": "xlsx", "mapping": {"code": "产品代码"}},
        content_type="application/json",
    ).json()
    assert api.get(f"/api/v1/import-templates/{created['id']}").json()["mapping"] == {"code": "产品代码"}
    assert [t["name"] for t in api.get("/api/v1/import-templates?entity=products").json()] == ["T1"]
    updated = api.put(
        f"/api/v1/import-templates/{created['id']}",
        {"name": "T2", "entity": "products", "mapping": {"code": "代码"}},
        content_type="application/json",
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "T2"
    bad = api.post(
        "/api/v1/import-templates",
        {"name": "T2", "entity": "products"},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json()["fields"]["name"]
    assert api.delete(f"/api/v1/import-templates/{created['id']}").status_code == 204
    assert not ImportTemplate.objects.exists()


def test_a_file_larger_than_the_api_body_limit_uploads(api: Client, settings: Any) -> None:
    """Multipart uploads stream to disk (encrypted): only FINCRM_IMPORT_MAX_BYTES caps them."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    data = csv_bytes(customer_rows(60))
    assert len(data) > 4096
    created = post_file(api, data, options={"entity": "customers"})
    assert created.status_code == 201, created.content
    settings.FINCRM_IMPORT_MAX_BYTES = len(data) // 5  # the body guard allows 4x (a feed's zip)
    refused = post_file(api, data, options={"entity": "customers"})
    assert (refused.status_code, refused.json()["code"]) == (413, "payload_too_large")

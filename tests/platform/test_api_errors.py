"""One error body everywhere under /api/v1, and the API docs served from our own origin."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import path
from ninja import Schema

from fincrm.platform.actor import Actor
from fincrm.platform.api import build_api
from fincrm.platform.errors import Forbidden, ServiceError
from fincrm.users.services.tokens import api_token_create
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"code", "message", "fields", "request_id"}


# A small API built by the same factory, for failures the real endpoints never produce.
probe_api = build_api()
probe_api.urls_namespace = "probe-api"


class EchoIn(Schema):
    amount: int


@probe_api.post("/echo")
def echo(request: Any, payload: EchoIn) -> dict[str, int]:
    return {"amount": payload.amount}


@probe_api.get("/boom")
def boom(request: Any) -> None:
    raise RuntimeError("secret detail that must not leak")


@probe_api.get("/forbidden")
def forbidden(request: Any) -> None:
    raise Forbidden("thing.do")


@probe_api.get("/rule")
def rule(request: Any) -> None:
    raise ServiceError.field("name", "Too long.")


urlpatterns = [path("probe/", probe_api.urls)]


def body(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    data = json.loads(response.content)
    assert set(data) == ERROR_KEYS
    assert data["request_id"] == response["X-Request-ID"]
    return data


@pytest.fixture
def token(world: World) -> str:
    cache.clear()
    _token, plaintext = api_token_create(
        actor=Actor.cli(), owner_id=World.user("operations_a").pk, name="errors test"
    )
    return plaintext


def test_401_without_credentials(client: Client, world: World) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    data = body(response)
    assert data["code"] == "unauthenticated"
    assert data["fields"] == {}
    assert response["WWW-Authenticate"] == 'Bearer realm="fincrm"'


def test_403_names_no_field(client: Client, world: World) -> None:
    sign_in(client, World.user("account_manager_a"))
    response = client.post("/api/v1/tokens", {"name": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert body(response)["code"] == "forbidden"


def test_404_for_an_unknown_path_is_json(client: Client, token: str) -> None:
    for url in ("/api/v1/no-such-thing", "/api/v1/", "/api/v1/me/extra/deep"):
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 404, url
        assert body(response)["code"] == "not_found"


def test_404_for_a_missing_object(client: Client, token: str) -> None:
    response = client.delete("/api/v1/tokens/999999", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 404
    assert body(response)["code"] == "not_found"


def test_405_keeps_allow_header(client: Client, token: str) -> None:
    response = client.put("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405
    assert body(response)["code"] == "method_not_allowed"
    assert response["Allow"] == "GET"


def test_422_names_the_field(client: Client, token: str) -> None:
    response = client.post(
        "/api/v1/tokens",
        {"name": "x", "expires_days": "soon"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 422
    data = body(response)
    assert data["code"] == "validation_error"
    assert list(data["fields"]) == ["expires_days"]


def test_400_for_malformed_json(client: Client, token: str) -> None:
    response = client.post(
        "/api/v1/tokens",
        data='{"name": ',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert body(response)["code"] == "malformed_body"


def test_413_for_an_oversized_body(client: Client, token: str, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    payload = json.dumps({"name": "x" * 4096})
    response = client.post(
        "/api/v1/tokens", data=payload, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 413
    data = body(response)
    assert data["code"] == "payload_too_large"
    assert "2048" in data["message"]


def test_413_comes_before_authentication(client: Client, world: World, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client.post("/api/v1/tokens", data="x" * 2000, content_type="application/json")
    assert response.status_code == 413
    assert body(response)["code"] == "payload_too_large"


def test_a_body_at_the_limit_is_read(client: Client, token: str, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    payload = json.dumps({"name": "small", "expires_days": 5})
    response = client.post(
        "/api/v1/tokens", data=payload, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 201


@pytest.mark.urls("tests.platform.test_api_errors")
def test_500_is_json_with_request_id_and_no_traceback(client: Client, caplog: Any) -> None:
    response = client.get("/probe/boom", HTTP_X_REQUEST_ID="req-12345678")
    assert response.status_code == 500
    data = body(response)
    assert data["code"] == "server_error"
    assert data["request_id"] == "req-12345678"
    assert b"secret detail" not in response.content
    assert b"Traceback" not in response.content
    logged = [record for record in caplog.records if record.name == "fincrm.api"]
    assert len(logged) == 1
    assert "req-12345678" in logged[0].getMessage()


@pytest.mark.urls("tests.platform.test_api_errors")
def test_service_errors_and_forbidden_map_to_the_body(client: Client) -> None:
    response = client.get("/probe/rule")
    assert response.status_code == 400
    assert body(response)["fields"] == {"name": ["Too long."]}
    response = client.get("/probe/forbidden")
    assert response.status_code == 403
    assert body(response)["code"] == "forbidden"


@pytest.mark.urls("tests.platform.test_api_errors")
def test_validation_field_names_drop_the_location(client: Client) -> None:
    response = client.post("/probe/echo", {"amount": "many"}, content_type="application/json")
    assert response.status_code == 422
    assert list(body(response)["fields"]) == ["amount"]
    response = client.post("/probe/echo", {"amount": 3}, content_type="application/json")
    assert response.json() == {"amount": 3}


def test_openapi_schema_is_served(client: Client, world: World) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/me", "/api/v1/tokens", "/api/v1/tokens/{token_id}"} <= set(schema["paths"])
    assert {"BearerTokenAuth", "SessionAuth"} <= set(schema["components"]["securitySchemes"])


def test_docs_page_loads_only_local_files_and_no_inline_script(client: Client, world: World) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "http://" not in html
    assert "https://" not in html
    assert "//cdn" not in html
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert url.startswith("/static/"), url
    for attributes, content in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
        # Either a local file or a JSON data block (not executed, so CSP does not apply to it).
        assert (
            'src="/static/' in attributes and not content.strip()
        ) or 'type="application/json"' in attributes
    assert not re.search(r"\son[a-z]+=", html)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_docs_assets_are_served_locally(client: Client, world: World) -> None:
    for asset in (
        "/static/ninja/swagger-ui-bundle.js",
        "/static/ninja/swagger-ui-init.js",
        "/static/ninja/swagger-ui.css",
    ):
        response = client.get(asset)
        assert response.status_code == 200, asset

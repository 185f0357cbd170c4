"""Every import page and endpoint through the authorization matrix: only ``data.import`` holders,
and a batch only for its creator (another importer's batch is not found)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from fincrm.audit.models import SecurityEvent
from fincrm.integration import services
from fincrm.integration.models import ImportBatch, ImportTemplate
from fincrm.platform.actor import Actor
from fincrm.users.models import User
from tests.integration.import_support import HEADER, csv_bytes, customer_rows
from tests.support.auth import sign_in
from tests.support.authz import OUT_OF_SCOPE, Case, check, fingerprint, matrix
from tests.support.world import World


def _batch_of(user: User) -> Any:
    return services.import_batch_create(
        actor=Actor.cli(),
        entity="customers",
        file_name="customers.csv",
        chunks=[csv_bytes(customer_rows(1))],
        owner_id=user.pk,
    ).pk


def batch_target(world: World, actor: User, variant: str) -> Any:
    """The actor's own batch in scope; another importer's (operations_b) out of scope."""
    return _batch_of(World.user("operations_b") if variant == OUT_OF_SCOPE else actor)


def template_target(world: World, actor: User, variant: str) -> int:
    author = World.user("operations_b") if variant == OUT_OF_SCOPE else actor
    return ImportTemplate.objects.create(
        name=f"template of {author.username}", entity="customers", mapping={}, created_by=author
    ).pk


def upload(world: World, _target: Any) -> dict[str, Any]:
    data = csv_bytes(customer_rows(1))
    return {
        "entity": "customers", "file_format": "csv", "encoding": "utf-8", "delimiter": ",",
        "on_match": "update", "mode": "all", "file": SimpleUploadedFile("customers.csv", data),
    }  # fmt: skip


MAPPING = {f"map__{name}": name for name in HEADER}
TEMPLATE_FORM = {
    "name": "新模板",
    "file_format": "csv",
    "encoding": "utf-8",
    "delimiter": ",",
    "on_match": "update",
}
TEMPLATE_JSON = {"name": "API 模板", "entity": "customers", "mapping": {"customer_number": "客户号"}}
P = "data.import"

PAGES = [
    Case("import list", "get", "/imports/", P),
    Case("import new form", "get", "/imports/new/", P),
    Case("import upload", "post", "/imports/new/", P, data=upload, ok=(302,)),
    Case("import detail", "get", "/imports/{pk}/", P, target=batch_target, own_scope_reaches_target=True),
    Case(
        "import status", "get", "/imports/{pk}/status/", P, target=batch_target, own_scope_reaches_target=True
    ),
    Case(
        "import mapping",
        "post",
        "/imports/{pk}/mapping/",
        P,
        target=batch_target,
        own_scope_reaches_target=True,
        data=MAPPING,
        ok=(302,),
    ),
    Case("import check", "post", "/imports/{pk}/check/", P, target=batch_target, ok=(302,)),
    Case("import run", "post", "/imports/{pk}/run/", P, target=batch_target, ok=(302,)),
    Case("import cancel", "post", "/imports/{pk}/cancel/", P, target=batch_target, ok=(302,)),
    Case("import errors", "get", "/imports/{pk}/errors.csv", P, target=batch_target),
    Case(
        "import save template",
        "post",
        "/imports/{pk}/save-template/",
        P,
        target=batch_target,
        data={"name": "从批次保存"},
        ok=(302,),
    ),
    Case("template list", "get", "/imports/templates/", P),
    Case("template new form", "get", "/imports/templates/new/?entity=customers", P),
    Case(
        "template create",
        "post",
        "/imports/templates/new/?entity=customers",
        P,
        data=TEMPLATE_FORM,
        ok=(302,),
    ),
    Case("template edit form", "get", "/imports/templates/{pk}/edit/", P, target=template_target),
    Case(
        "template edit",
        "post",
        "/imports/templates/{pk}/edit/",
        P,
        target=template_target,
        data=TEMPLATE_FORM,
        ok=(302,),
    ),
    Case("template delete", "post", "/imports/templates/{pk}/delete/", P, target=template_target, ok=(302,)),
]

ENDPOINTS = [
    Case("api import list", "get", "/api/v1/imports", P, api=True),
    Case("api import get", "get", "/api/v1/imports/{pk}", P, api=True, target=batch_target),
    Case(
        "api import check", "post", "/api/v1/imports/{pk}/check", P, api=True, target=batch_target, ok=(202,)
    ),
    Case("api import run", "post", "/api/v1/imports/{pk}/run", P, api=True, target=batch_target, ok=(202,)),
    Case("api import cancel", "post", "/api/v1/imports/{pk}/cancel", P, api=True, target=batch_target),
    Case("api import issues", "get", "/api/v1/imports/{pk}/issues", P, api=True, target=batch_target),
    Case("api template list", "get", "/api/v1/import-templates", P, api=True),
    Case(
        "api template create", "post", "/api/v1/import-templates", P, api=True, data=TEMPLATE_JSON, ok=(201,)
    ),
    Case(
        "api template update",
        "put",
        "/api/v1/import-templates/{pk}",
        P,
        api=True,
        target=template_target,
        data=TEMPLATE_JSON,
    ),
    Case(
        "api template delete",
        "delete",
        "/api/v1/import-templates/{pk}",
        P,
        api=True,
        target=template_target,
        ok=(204,),
    ),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(PAGES + ENDPOINTS))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)


def test_an_api_upload_without_the_permission_is_refused_and_stores_nothing(
    world: World, client: Client
) -> None:
    user = World.user("account_manager_a")
    sign_in(client, user)
    before = fingerprint()
    response = client.post(
        "/api/v1/imports",
        {
            "file": SimpleUploadedFile("customers.csv", csv_bytes(customer_rows(1))),
            "options": '{"entity": "customers"}',
        },
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert fingerprint() == before
    assert SecurityEvent.objects.filter(kind="access.denied", user_id=user.pk).exists()
    assert ImportBatch.objects.count() == 0

"""Every customer-list page and endpoint (list, saved views, bulk actions, exports) through the
authorization matrix."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from fincrm.customers.services.exports import customer_export
from fincrm.customers.services.saved_views import saved_view_save
from fincrm.users.actors import actor_for_user
from fincrm.users.models import User
from tests.support.authz import OUT_OF_SCOPE, Case, check, matrix
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]


def saved_view_target(world: World, actor: User, variant: str) -> int:
    """A saved view of the acting user (in scope), or of peer_b (nobody else's is reachable)."""
    owner = World.user("branch_manager_b") if variant == OUT_OF_SCOPE else actor
    if not actor_for_user(owner).can("customer.view"):
        owner = World.user("branch_manager_b")
    return saved_view_save(actor=actor_for_user(owner), label=f"view-{owner.pk}", parameters={}).pk


def export_target(world: World, actor: User, variant: str) -> Any:
    """An export file of the acting user (in scope), or of another exporter (never downloadable)."""
    owner = actor
    if variant == OUT_OF_SCOPE or not actor_for_user(actor).can("customer.export"):
        owner = World.user("branch_manager_b")
    return customer_export(actor=actor_for_user(owner), parameters={}, file_format="csv", stepped_up=True).pk


def bulk_data(world: World, _target: int | None) -> dict[str, Any]:
    # No tag / manager chosen: an allowed caller is sent back with a message, nothing written.
    return {"action": "tag", "customer": [world.customer_a]}


def reassign_data(world: World, _target: int | None) -> dict[str, Any]:
    return {"action": "reassign", "customer": [world.customer_a]}


PAGES = [
    Case("customer list", "get", "/customers/", "customer.view"),
    Case("customer list filtered", "get", "/customers/?stage=customer&sort=name", "customer.view"),
    Case(
        "saved view save", "post", "/customers/views/save/", "customer.view", data={"label": "x"}, ok=(302,)
    ),
    Case(
        "saved view delete",
        "post",
        "/customers/views/{pk}/delete/",
        "customer.view",
        target=saved_view_target,
        ok=(302,),
        own_scope_reaches_target=True,
    ),
    Case(
        "saved view default",
        "post",
        "/customers/views/{pk}/default/",
        "customer.view",
        target=saved_view_target,
        ok=(302,),
        own_scope_reaches_target=True,
    ),
    Case("bulk tag", "post", "/customers/bulk/", "customer.edit", data=bulk_data, ok=(302,)),
    Case("bulk reassign", "post", "/customers/bulk/", "customer.reassign", data=reassign_data, ok=(302,)),
    Case("export form", "get", "/customers/export/", "customer.export"),
    # Without a recent step-up an allowed caller is sent to the step-up page.
    Case("export run", "post", "/customers/export/", "customer.export", data={"format": "csv"}, ok=(302,)),
    Case(
        "export ready",
        "get",
        "/customers/exports/{pk}/",
        "customer.export",
        target=export_target,
        own_scope_reaches_target=True,
    ),
    Case(
        "export download",
        "get",
        "/customers/exports/{pk}/download/",
        "customer.export",
        target=export_target,
        own_scope_reaches_target=True,
    ),
    Case("export requests", "get", "/customers/export-requests/", "customer.export"),
    Case(
        "export request create",
        "post",
        "/customers/export-requests/new/",
        "customer.export",
        data={"format": "csv", "reason": "Quarterly review"},
        ok=(302,),
    ),
]

ENDPOINTS = [
    Case("api customer list", "get", "/api/v1/customers", "customer.view", api=True),
    Case(
        "api customer list filtered",
        "get",
        "/api/v1/customers?tier=mass&sort=-aum",
        "customer.view",
        api=True,
    ),
    # Without the X-Fincrm-Step-Up header an allowed caller is told to step up (403 step_up_required).
    Case(
        "api export",
        "post",
        "/api/v1/customers/export",
        "customer.export",
        api=True,
        data={"format": "csv"},
        ok=(403,),
    ),
    Case(
        "api export file",
        "get",
        "/api/v1/customer-exports/{pk}/file",
        "customer.export",
        api=True,
        target=export_target,
        own_scope_reaches_target=True,
    ),
]


@pytest.mark.parametrize(("case", "role", "variant"), matrix(PAGES + ENDPOINTS))
def test_authorization(case: Case, role: str | None, variant: str, world: World, client: Client) -> None:
    check(case, role, variant, world, client)

"""The product catalog API."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import AuthenticationError
from ninja.pagination import paginate
from ninja.responses import Status

from fincrm.platform.actor import Actor
from fincrm.platform.pagination import CursorPagination
from fincrm.products import selectors, services
from fincrm.products.models import Product

router = Router(tags=["products"])


class ProductOut(Schema):
    id: int
    code: str
    name: str
    product_type: str
    issuer: str
    risk_level: str
    currency: str
    term_days: int | None
    is_private: bool
    is_active: bool


class ProductCreateIn(Schema):
    code: str
    name: str
    product_type: str
    risk_level: str
    issuer: str = ""
    currency: str = "CNY"
    term_days: int | None = None
    is_private: bool = False
    is_active: bool = True


class ProductUpdateIn(Schema):
    code: str | None = None
    name: str | None = None
    product_type: str | None = None
    risk_level: str | None = None
    issuer: str | None = None
    currency: str | None = None
    term_days: int | None = None
    is_private: bool | None = None
    is_active: bool | None = None


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


@router.get("/products", response=list[ProductOut])
@paginate(CursorPagination, ordering=("code", "id"))
def list_products(
    request: HttpRequest, product_type: str = "", risk_level: str = "", q: str = "", active_only: bool = False
) -> QuerySet[Product]:
    filters = selectors.ProductFilter(
        query=q.strip(), product_type=product_type, risk_level=risk_level, active_only=active_only
    )
    return selectors.product_list(actor=_actor(request), filters=filters)


@router.get("/products/{product_id}", response=ProductOut)
def get_product(request: HttpRequest, product_id: int) -> Product:
    return selectors.access_product(_actor(request), product_id)


@router.post("/products", response={201: ProductOut})
def create_product(request: HttpRequest, payload: ProductCreateIn) -> Status[Product]:
    return Status(201, services.product_create(actor=_actor(request), **payload.dict()))


@router.patch("/products/{product_id}", response=ProductOut)
def update_product(request: HttpRequest, product_id: int, payload: ProductUpdateIn) -> Product:
    changes = {name: value for name, value in payload.dict(exclude_unset=True).items()}
    return services.product_update(actor=_actor(request), product_id=product_id, **changes)

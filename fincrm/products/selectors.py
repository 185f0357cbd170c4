"""Reads of the product catalog. The catalog is institution-wide (no data scope): reading it
needs product.view."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from fincrm.platform.access import access_object, require_permission
from fincrm.platform.actor import Actor
from fincrm.products.models import Product

VIEW = "product.view"
MANAGE = "product.manage"


@dataclass(frozen=True)
class ProductFilter:
    query: str = ""
    product_type: str = ""
    risk_level: str = ""
    active_only: bool = False


def product_list(*, actor: Actor, filters: ProductFilter | None = None) -> QuerySet[Product]:
    require_permission(actor, VIEW)
    products = Product.objects.all()
    filters = filters or ProductFilter()
    if filters.query:
        products = products.filter(Q(code__icontains=filters.query) | Q(name__icontains=filters.query))
    if filters.product_type:
        products = products.filter(product_type=filters.product_type)
    if filters.risk_level:
        products = products.filter(risk_level=filters.risk_level)
    if filters.active_only:
        products = products.filter(is_active=True)
    return products.order_by("code", "id")


def access_product(
    actor: Actor, product_id: object, action: str = VIEW, *, for_update: bool = False
) -> Product:
    """The product, or NotFound (without the permission too: the same answer as for a customer)."""
    products = Product.objects.all() if actor.can(action) else Product.objects.none()
    if for_update:
        products = products.select_for_update()
    return access_object(products, product_id, actor=actor, action=action, object_type="product")

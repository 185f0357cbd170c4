"""Writes to the product catalog: validate, check product.manage, write, audit, publish."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.platform import outbox, transaction
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.products.models import Product, ProductType, RiskLevel
from fincrm.products.selectors import MANAGE, access_product

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
NAME_MAX_LENGTH = 200
MAX_TERM_DAYS = 36500  # 100 years: longer is a typing error (open-ended products have no term)

FIELDS = (
    "code",
    "name",
    "product_type",
    "issuer",
    "risk_level",
    "currency",
    "term_days",
    "is_private",
    "is_active",
)


def product_snapshot(product: Product) -> dict[str, Any]:
    return {name: getattr(product, name) for name in FIELDS}


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    """Each given field checked against its rule; a ServiceError names the first broken one."""
    cleaned: dict[str, Any] = {}
    if "code" in data:
        code = str(data["code"] or "").strip()
        if not CODE_PATTERN.fullmatch(code):
            raise ServiceError.field(
                "code",
                _(
                    "Use 1 to 32 letters, digits, dots, hyphens or underscores, "
                    "starting with a letter or digit."
                ),
            )
        cleaned["code"] = code
    if "name" in data:
        name = " ".join(str(data["name"] or "").split())
        if not name:
            raise ServiceError.field("name", _("Enter the product's name."), code="required")
        if len(name) > NAME_MAX_LENGTH:
            raise ServiceError.field(
                "name", _("Use at most %(limit)d characters.") % {"limit": NAME_MAX_LENGTH}
            )
        cleaned["name"] = name
    if "product_type" in data:
        if data["product_type"] not in ProductType.values:
            raise ServiceError.field(
                "product_type", _("Choose a product type from the list."), code="invalid_choice"
            )
        cleaned["product_type"] = data["product_type"]
    if "risk_level" in data:
        if data["risk_level"] not in RiskLevel.values:
            raise ServiceError.field(
                "risk_level", _("Choose a risk level from R1 to R5."), code="invalid_choice"
            )
        cleaned["risk_level"] = data["risk_level"]
    if "issuer" in data:
        issuer = " ".join(str(data["issuer"] or "").split())
        if len(issuer) > NAME_MAX_LENGTH:
            raise ServiceError.field(
                "issuer", _("Use at most %(limit)d characters.") % {"limit": NAME_MAX_LENGTH}
            )
        cleaned["issuer"] = issuer
    if "currency" in data:
        currency = str(data["currency"] or "").strip().upper()
        if not CURRENCY_PATTERN.fullmatch(currency):
            raise ServiceError.field(
                "currency", _("Enter a three-letter ISO 4217 currency code, such as CNY.")
            )
        cleaned["currency"] = currency
    if "term_days" in data:
        term = data["term_days"]
        if term in (None, ""):
            cleaned["term_days"] = None
        elif isinstance(term, bool) or not isinstance(term, int) or not 1 <= term <= MAX_TERM_DAYS:
            raise ServiceError.field(
                "term_days",
                _(
                    "Enter the term as a whole number of days from 1 to %(limit)d, "
                    "or leave it empty for an open-ended product."
                )
                % {"limit": MAX_TERM_DAYS},
            )
        else:
            cleaned["term_days"] = term
    for flag in ("is_private", "is_active"):
        if flag in data:
            cleaned[flag] = bool(data[flag])
    return cleaned


def _require_unique_code(code: str, *, exclude_pk: int | None = None) -> None:
    taken = Product.objects.filter(code__iexact=code)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ServiceError.field("code", _("Another product already uses this code."), code="duplicate")


@transaction.atomic
def product_create(
    *,
    actor: Actor,
    code: str,
    name: str,
    product_type: str,
    risk_level: str,
    issuer: str = "",
    currency: str = "CNY",
    term_days: int | None = None,
    is_private: bool = False,
    is_active: bool = True,
) -> Product:
    require_permission(actor, MANAGE)
    data = _clean(
        {
            "code": code,
            "name": name,
            "product_type": product_type,
            "risk_level": risk_level,
            "issuer": issuer,
            "currency": currency,
            "term_days": term_days,
            "is_private": is_private,
            "is_active": is_active,
        }
    )
    _require_unique_code(data["code"])
    product = Product.objects.create(**data)
    audit_record(
        actor,
        "product.created",
        object_type="product",
        object_id=str(product.pk),
        after=product_snapshot(product),
    )
    outbox.publish("product.created", product_id=product.pk)
    return product


@transaction.atomic
def product_update(*, actor: Actor, product_id: int, **changes: Any) -> Product:
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise TypeError(f"product_update() got unexpected fields: {sorted(unknown)}")
    product = access_product(actor, product_id, MANAGE, for_update=True)
    data = _clean(changes)
    if "code" in data:
        _require_unique_code(data["code"], exclude_pk=product.pk)
    before = product_snapshot(product)
    changed = [name for name, value in data.items() if getattr(product, name) != value]
    if not changed:
        return product
    for name in changed:
        setattr(product, name, data[name])
    product.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor,
        "product.updated",
        object_type="product",
        object_id=str(product.pk),
        before={name: before[name] for name in changed},
        after={name: data[name] for name in changed},
    )
    outbox.publish("product.updated", product_id=product.pk)
    return product

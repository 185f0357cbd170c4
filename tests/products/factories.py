"""Product factories."""

from __future__ import annotations

import factory

from fincrm.products.models import Product, ProductType, RiskLevel


class ProductFactory(factory.django.DjangoModelFactory[Product]):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"P{n:06d}")
    name = factory.Sequence(lambda n: f"稳健理财{n}号")
    product_type = ProductType.WEALTH
    issuer = "示范银行"
    risk_level = RiskLevel.R2
    currency = "CNY"
    term_days = 180

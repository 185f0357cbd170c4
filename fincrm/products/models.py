"""The product catalog: what the institution sells and holds for its customers."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from fincrm.platform.models import TimestampedModel


class ProductType(models.TextChoices):
    DEPOSIT = "deposit", _("Deposit")
    WEALTH = "wealth", _("Wealth management product")
    FUND = "fund", _("Fund")
    SECURITIES = "securities", _("Securities")
    INSURANCE = "insurance", _("Insurance")
    LOAN = "loan", _("Loan")
    CARD = "card", _("Card")


class RiskLevel(models.TextChoices):
    R1 = "R1", _("R1 (low)")
    R2 = "R2", _("R2 (medium-low)")
    R3 = "R3", _("R3 (medium)")
    R4 = "R4", _("R4 (medium-high)")
    R5 = "R5", _("R5 (high)")


class Product(TimestampedModel):
    code = models.CharField(_("product code"), max_length=32, unique=True)
    name = models.CharField(_("product name"), max_length=200)
    product_type = models.CharField(_("product type"), max_length=12, choices=ProductType.choices)
    issuer = models.CharField(_("issuer"), max_length=200, blank=True)
    risk_level = models.CharField(_("risk level"), max_length=2, choices=RiskLevel.choices)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    term_days = models.PositiveIntegerField(
        _("term (days)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    # Private placements (私募) are offered to qualified investors only and carry a cooling-off period.
    is_private = models.BooleanField(_("private placement"), default=False)
    is_active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        indexes = [models.Index(fields=["product_type", "risk_level"], name="product_type_risk")]

    def __str__(self) -> str:
        return self.code

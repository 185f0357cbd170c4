"""The portfolio read model: accounts, holdings and transactions fed by the core systems, the
exchange rates that convert them, and the month-end AUM snapshots.

Account and counterparty numbers are encrypted with a blind index beside them; amounts stay in
clear columns (they are summed and sorted) and are protected by the customer scopes.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from fincrm.platform.models import TimestampedModel
from fincrm.security.fields import BlindIndexField, EncryptedTextField, RowUidField, RowUidMixin
from fincrm.security.masking import mask, mask_rules


class AssetClass(models.TextChoices):
    """The parts of AUM (DOMAIN.md "AUM"); loans and cards are not assets."""

    DEPOSIT = "deposit", _("Deposits")
    WEALTH = "wealth", _("Wealth management")
    FUND = "fund", _("Funds")
    SECURITIES = "securities", _("Securities")
    INSURANCE = "insurance", _("Insurance")


class NumberIndexField(BlindIndexField):
    """A blind index that keeps an explicitly assigned value while its source is empty.

    A card's full number is not stored unless FINCRM_STORE_FULL_CARD_NUMBERS is on (PCI DSS 3.4),
    yet it must still be found by its number: the service assigns the index of the full number and
    leaves the encrypted column empty."""

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        source = model_instance._meta.get_field(self.source)
        assert isinstance(source, models.Field)
        if model_instance.__dict__.get(source.attname) is None:
            return getattr(model_instance, self.attname)
        return super().pre_save(model_instance, add)


class Account(RowUidMixin, TimestampedModel):
    class Kind(models.TextChoices):
        DEPOSIT = "deposit", _("Deposit account")
        CREDIT_CARD = "credit_card", _("Credit card")
        LOAN = "loan", _("Loan account")
        SECURITIES = "securities", _("Securities account")
        INSURANCE_POLICY = "insurance_policy", _("Insurance policy")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DORMANT = "dormant", _("Dormant")
        FROZEN = "frozen", _("Frozen")
        CLOSED = "closed", _("Closed")

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="accounts")
    kind = models.CharField(_("account type"), max_length=16, choices=Kind.choices)
    product = models.ForeignKey(
        "products.Product",
        verbose_name=_("product"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
    )
    # The full number; for cards only where the institution stores full card numbers.
    account_number = EncryptedTextField(_("account number"), null=True, blank=True)
    account_number_bidx = NumberIndexField(source="account_number", purpose="account_number")
    # What may be shown: the last 4 digits, and for a card its first 6 (the issuer BIN).
    number_last4 = models.CharField(_("last 4 digits"), max_length=4)
    card_first6 = models.CharField(_("card BIN"), max_length=6, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    balance = models.DecimalField(_("balance"), max_digits=20, decimal_places=2, default=0)
    opened_on = models.DateField(_("opening date"))
    org_unit = models.ForeignKey(
        "org.OrgUnit", verbose_name=_("opening branch"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ["customer", "kind", "id"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        indexes = [models.Index(fields=["customer", "kind"], name="account_customer_kind")]
        constraints = [
            # What a transaction's one composite foreign key refers to (see Transaction).
            models.UniqueConstraint(fields=["id", "customer"], name="account_id_customer"),
        ]

    def __str__(self) -> str:
        return f"account {self.pk}"

    @property
    def masked_number(self) -> str:
        """``622202******1234`` for a card, ``尾号1234`` for any other account."""
        if self.kind == self.Kind.CREDIT_CARD and self.card_first6:
            return mask("card", f"{self.card_first6}******{self.number_last4}")
        return mask("account", f"{mask_rules()['account']['prefix']}{self.number_last4}")


class Holding(TimestampedModel):
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="holdings")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="holdings"
    )
    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, related_name="holdings")
    amount = models.DecimalField(_("principal"), max_digits=20, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    market_value = models.DecimalField(_("market value"), max_digits=20, decimal_places=2)
    # Insurance policies count at their cash (surrender) value, not their sum insured.
    cash_value = models.DecimalField(_("cash value"), max_digits=20, decimal_places=2, null=True, blank=True)
    start_date = models.DateField(_("start date"))
    maturity_date = models.DateField(_("maturity date"), null=True, blank=True)
    # The position's key in the core system that feeds it (imports and feeds match on it).
    source_ref = models.CharField(_("source reference"), max_length=64, blank=True, default="", db_default="")

    class Meta:
        ordering = ["maturity_date", "id"]
        verbose_name = _("holding")
        verbose_name_plural = _("holdings")
        indexes = [
            models.Index(fields=["customer", "maturity_date"], name="holding_customer_maturity"),
            models.Index(fields=["maturity_date"], name="holding_maturity"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_ref"], condition=~models.Q(source_ref=""), name="holding_source_ref_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"holding {self.pk}"


class Transaction(RowUidMixin, models.Model):
    """One booked transaction. Built to be partitioned by month on PostgreSQL later: a plain
    bigint key, no foreign keys pointing into this table, and no unique index besides the key
    (a unique index on a partitioned table must include the partition key)."""

    class Direction(models.TextChoices):
        IN = "in", _("Incoming")
        OUT = "out", _("Outgoing")

    class Channel(models.TextChoices):
        COUNTER = "counter", _("Branch counter")
        ATM = "atm", _("ATM")
        ONLINE = "online", _("Online banking")
        MOBILE = "mobile", _("Mobile banking")
        POS = "pos", _("Card terminal")
        CORE = "core", _("Core system")

    class Type(models.TextChoices):
        CASH = "cash", _("Cash")
        TRANSFER = "transfer", _("Transfer")
        CARD = "card", _("Card payment")
        FEE = "fee", _("Fee")
        INTEREST = "interest", _("Interest")
        PURCHASE = "purchase", _("Product purchase")
        REDEMPTION = "redemption", _("Product redemption")

    # uuid4 is unique by construction; a unique index here would block partitioning.
    row_uid = RowUidField(unique=False)
    # Indexed by the (customer, booked_at, id) and (account, source_ref) indexes below: no
    # single-column foreign-key indexes to keep up to date on every one of millions of rows.
    # One composite foreign key (account_id, customer_id) -> account (id, customer_id) stands for
    # both (migration portfolio 0006): the account exists, its customer exists (the account's own
    # foreign key), and the transaction's customer is its account's. At commit that is one
    # checked and locked row per booked transaction instead of two (a feed books millions).
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    booked_at = models.DateTimeField(_("booked at"))
    business_date = models.DateField(_("business date"))
    amount = models.DecimalField(_("amount"), max_digits=20, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    transaction_type = models.CharField(_("transaction type"), max_length=10, choices=Type.choices)
    counterparty_account = EncryptedTextField(_("counterparty account"), null=True, blank=True)
    # Indexed where there is one (the partial index below): most transactions name no counterparty.
    counterparty_account_bidx = BlindIndexField(
        source="counterparty_account", purpose="account_number", db_index=False
    )
    cross_border = models.BooleanField(_("cross-border"), default=False)
    # The core system's journal reference: imports and feeds skip a transaction already booked
    # under the same account and reference (not unique in the database, see the class docstring).
    source_ref = models.CharField(_("source reference"), max_length=64, blank=True, default="", db_default="")

    class Meta:
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")
        indexes = [
            # A customer's transactions newest first: the 360, the API's keyset pages, a merge.
            models.Index(fields=["customer", "-booked_at", "-id"], name="transaction_customer_booked"),
            # A journal reference already booked on the account (imports and feeds), and the
            # composite foreign key's check when a merge moves an account to another customer.
            models.Index(fields=["account", "source_ref"], name="transaction_account_ref"),
            models.Index(
                fields=["counterparty_account_bidx"],
                condition=models.Q(counterparty_account_bidx__isnull=False),
                name="transaction_counterparty_bidx",
            ),
        ]

    def __str__(self) -> str:
        return f"transaction {self.pk}"


class FxRate(models.Model):
    """How many CNY one unit of ``currency`` was worth on ``business_date`` (fed by the core)."""

    business_date = models.DateField(_("business date"))
    currency = models.CharField(_("currency"), max_length=3)
    rate_to_cny = models.DecimalField(_("rate to CNY"), max_digits=18, decimal_places=8)

    class Meta:
        ordering = ["-business_date", "currency"]
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        constraints = [
            models.UniqueConstraint(fields=["currency", "business_date"], name="fx_rate_unique_day"),
            models.CheckConstraint(condition=models.Q(rate_to_cny__gt=0), name="fx_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.currency}@{self.business_date}"


class AumSnapshot(models.Model):
    """A customer's AUM at a month end: the total in CNY and its mix by asset class
    (``{"deposit": "1200.00", ...}``, amounts as strings so they stay exact)."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    month_end = models.DateField(_("month end"))
    total = models.DecimalField(_("AUM (CNY)"), max_digits=20, decimal_places=2)
    mix = models.JSONField(_("mix by asset class"), default=dict)
    created_at = models.DateTimeField(auto_now_add=True, editable=False)

    class Meta:
        ordering = ["customer", "month_end"]
        verbose_name = _("AUM snapshot")
        verbose_name_plural = _("AUM snapshots")
        constraints = [
            models.UniqueConstraint(fields=["customer", "month_end"], name="aum_snapshot_unique_month"),
        ]
        indexes = [models.Index(fields=["month_end"], name="aum_snapshot_month")]

    def __str__(self) -> str:
        return f"{self.customer_id}@{self.month_end}"

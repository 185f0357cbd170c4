"""The portfolio API: a customer's accounts, holdings and transactions, scoped like the customer
(outside the caller's scope: 404). Account numbers are masked; amounts are decimal strings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import AuthenticationError
from ninja.pagination import paginate

from fincrm.platform.actor import Actor
from fincrm.platform.pagination import CursorPagination
from fincrm.portfolio import selectors
from fincrm.portfolio.models import Account, Holding, Transaction
from fincrm.security.masking import mask

router = Router(tags=["portfolio"])


class AccountOut(Schema):
    id: int
    kind: str
    number: str  # masked: 尾号1234, or 622202******1234 for a card
    product_id: int | None
    currency: str
    balance: Decimal
    opened_on: date
    org_unit_id: int
    status: str

    @staticmethod
    def resolve_number(account: Account) -> str:
        return account.masked_number


class HoldingOut(Schema):
    id: int
    account_id: int | None
    product_id: int
    product_code: str
    product_name: str
    product_type: str
    risk_level: str
    amount: Decimal
    currency: str
    market_value: Decimal
    cash_value: Decimal | None
    start_date: date
    maturity_date: date | None

    @staticmethod
    def resolve_product_code(holding: Holding) -> str:
        return holding.product.code

    @staticmethod
    def resolve_product_name(holding: Holding) -> str:
        return holding.product.name

    @staticmethod
    def resolve_product_type(holding: Holding) -> str:
        return holding.product.product_type

    @staticmethod
    def resolve_risk_level(holding: Holding) -> str:
        return holding.product.risk_level


class TransactionOut(Schema):
    id: int
    account_id: int
    booked_at: datetime
    business_date: date
    amount: Decimal
    currency: str
    direction: str
    channel: str
    transaction_type: str
    counterparty_account: str  # masked: 尾号1234
    cross_border: bool

    @staticmethod
    def resolve_counterparty_account(transaction: Transaction) -> str:
        return mask("account", transaction.counterparty_account) if transaction.counterparty_account else ""


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


@router.get("/customers/{customer_id}/accounts", response=list[AccountOut])
def list_accounts(request: HttpRequest, customer_id: int) -> list[Account]:
    return selectors.accounts_for(_actor(request), customer_id)


@router.get("/customers/{customer_id}/holdings", response=list[HoldingOut])
def list_holdings(request: HttpRequest, customer_id: int) -> list[Holding]:
    return selectors.holdings_for(_actor(request), customer_id)


@router.get("/customers/{customer_id}/transactions", response=list[TransactionOut])
@paginate(CursorPagination, ordering=("-booked_at", "-id"))
def list_transactions(request: HttpRequest, customer_id: int) -> QuerySet[Transaction]:
    """Newest first, by cursor (``next_cursor``)."""
    return selectors.transaction_queryset(_actor(request), customer_id)

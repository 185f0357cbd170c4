from __future__ import annotations

from decimal import Decimal

from django.test import Client

from fincrm.customers.models import Customer
from tests.portfolio.factories import AccountFactory, HoldingFactory, TransactionFactory
from tests.support.auth import sign_in
from tests.support.world import World


def test_accounts_are_masked(world: World, client: Client) -> None:
    customer = Customer.objects.get(pk=world.customer_a)
    AccountFactory(
        customer=customer, account_number="6217000010001234567", number_last4="4567", balance=Decimal("12.50")
    )
    sign_in(client, World.user("account_manager_a"))

    body = client.get(f"/api/v1/customers/{customer.pk}/accounts").json()

    assert [(row["number"], row["balance"]) for row in body] == [("尾号4567", "12.50")]
    assert "6217000010001234567" not in str(body)


def test_holdings_carry_their_product(world: World, client: Client) -> None:
    customer = Customer.objects.get(pk=world.customer_a)
    holding = HoldingFactory(customer=customer)
    sign_in(client, World.user("account_manager_a"))

    body = client.get(f"/api/v1/customers/{customer.pk}/holdings").json()

    assert [(row["id"], row["product_code"], row["risk_level"]) for row in body] == [
        (holding.pk, holding.product.code, "R2")
    ]


def test_transactions_page_by_cursor_newest_first(world: World, client: Client) -> None:
    customer = Customer.objects.get(pk=world.customer_a)
    account = AccountFactory(customer=customer)
    made = [
        TransactionFactory(customer=customer, account=account, counterparty_account="6228480402564890018")
        for _ in range(3)
    ]
    sign_in(client, World.user("account_manager_a"))

    first = client.get(f"/api/v1/customers/{customer.pk}/transactions?limit=2").json()
    second = client.get(
        f"/api/v1/customers/{customer.pk}/transactions?limit=2&cursor={first['next_cursor']}"
    ).json()

    assert [row["id"] for row in first["items"]] == [made[2].pk, made[1].pk]
    assert [row["id"] for row in second["items"]] == [made[0].pk]
    assert second["next_cursor"] is None
    assert first["items"][0]["counterparty_account"] == "尾号0018"

"""The 360 is a small, fixed number of SQL queries: pinned here, so an N+1 fails a test.

The page's count, one by one:
  4  sign-in and actor (session, user, user session, role grants with teams in one statement)
  1  the customer with its branch, primary manager and team (scope check included)
  2  secondary managers, tags
  2  AUM month-ends (portfolio: scope check + snapshots)
  4  household AUM (scope check, membership, members, sum)
  6  accounts, holdings, recent transactions (portfolio: scope check + rows each)
  3  change history (audit log), lifecycle and coverage history
  4  relationships (scope check, links, related customers, which of them are visible)
  4  household (scope check, membership, members, which of them are visible)
  2  the consent panel (privacy: consents, purposes; the 360's scope check stands for its own, and
     for the may-record check when the record scopes include the view scopes; on PostgreSQL it
     takes the consents and purposes the 360's statement has read: 0)
  1  the custom fields panel (the definitions; their values when some apply: 2)
  1  the unmask control (live sensitive-access grants of an actor without the class permission)
  5  after the response: customer.viewed (savepoint, chain head, insert, head update, release);
     outside tests it is queued and written in batches (fincrm.audit.deferred): 0 per request

On PostgreSQL the customer with its scope check, the secondary managers, tags, AUM, household
AUM, accounts, holdings, transactions, histories, consents, relationships, the household with its
members and a company's corporate group are one prepared statement
(test_profile_single_statement.py): the selector is that one statement (20 queries fewer), the
page 20 fewer too (its consent panel takes the statement's rows).
The world has no custom fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fincrm.customers.selectors.profile import customer_360
from tests.customers.factories import CustomerFactory
from tests.customers.profile_support import actor_of, add_portfolio
from tests.support.auth import sign_in
from tests.support.world import World

pytestmark = pytest.mark.django_db

POSTGRESQL = connection.vendor == "postgresql"
PAGE_QUERIES = 12 if POSTGRESQL else 32
# The selector with its consents rows; no consent, custom-fields or unmask panels.
API_QUERIES = 10 if POSTGRESQL else 30
SELECTOR_QUERIES = 1 if POSTGRESQL else 21


def _count(action: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as queries:
        action()
    return len(queries.captured_queries)


def _signed_in(client: Client, world: World) -> Client:
    sign_in(client, World.user("account_manager_a"))
    client.get(f"/customers/{world.customer_a}/")  # warm the key cache and the session
    return client


def test_page_query_count_is_pinned(world: World, client: Client, django_assert_num_queries: Any) -> None:
    add_portfolio(world.customer_a, size=1)
    _signed_in(client, world)

    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(f"/customers/{world.customer_a}/")
    assert response.status_code == 200


def test_api_query_count_is_pinned(world: World, client: Client, django_assert_num_queries: Any) -> None:
    add_portfolio(world.customer_a, size=1)
    _signed_in(client, world)

    with django_assert_num_queries(API_QUERIES):
        response = client.get(f"/api/v1/customers/{world.customer_a}/360")
    assert response.status_code == 200


def test_selector_query_count_is_pinned(world: World, django_assert_num_queries: Any) -> None:
    add_portfolio(world.customer_a, size=1)
    actor = actor_of("account_manager_a")
    customer_360(actor, world.customer_a)

    with django_assert_num_queries(SELECTOR_QUERIES):
        customer_360(actor, world.customer_a)


def test_more_rows_cost_no_more_queries(world: World, client: Client) -> None:
    """Four of everything (accounts, holdings, transactions, tags, managers, relatives, history)
    reads with exactly the queries one of each does."""
    small = CustomerFactory(primary_manager=World.user("account_manager_a"))
    large = CustomerFactory(primary_manager=World.user("account_manager_a"))
    add_portfolio(small.pk, size=1)
    add_portfolio(large.pk, size=4)
    _signed_in(client, world)

    page_small = _count(lambda: client.get(f"/customers/{small.pk}/"))
    page_large = _count(lambda: client.get(f"/customers/{large.pk}/"))
    api_small = _count(lambda: client.get(f"/api/v1/customers/{small.pk}/360"))
    api_large = _count(lambda: client.get(f"/api/v1/customers/{large.pk}/360"))

    assert page_small == page_large == PAGE_QUERIES
    assert api_small == api_large == API_QUERIES

"""Customer search over the API: ``POST /customers/search {q}`` (POST, so an identifier never
lands in a URL or an access log). Names and identifiers in the answer are masked.

    POST /customers/search   {"q": "zs"}  →  {"kinds": ["pinyin"], "results": [...], "more": false}
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from ninja.errors import AuthenticationError

from fincrm.customers.selectors.search import DEFAULT_LIMIT, MAX_QUERY_LENGTH, customer_search
from fincrm.customers.views.search import search_rows
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor

router = Router(tags=["customers"])

VIEW = "customer.view"


class SearchIn(Schema):
    q: str
    limit: int = DEFAULT_LIMIT


class SearchResultOut(Schema):
    id: int
    customer_number: str
    name: str
    mobile: str
    id_number: str
    org_unit: str
    value_tier: str


class SearchOut(Schema):
    kinds: list[str]
    results: list[SearchResultOut]
    more: bool


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


@router.post("/customers/search", response=SearchOut)
def search_customers(request: HttpRequest, payload: SearchIn, response: HttpResponse) -> SearchOut:
    """The first ``limit`` (1 to 50) customers matching ``q``: a name, pinyin or initials, a mobile,
    ID, account or customer number. Most relevant first, then by AUM; ``more`` when others match."""
    actor = _actor(request)
    require_permission(actor, VIEW)
    response["Cache-Control"] = "no-store"
    limit = min(max(payload.limit, 1), 50)
    result = customer_search(actor=actor, query=payload.q[: MAX_QUERY_LENGTH + 1], limit=limit)
    rows = search_rows(result.customers)
    return SearchOut(
        kinds=[str(kind) for kind in result.query.kinds],
        results=[
            SearchResultOut(
                id=row.pk,
                customer_number=row.customer_number,
                name=row.name,
                mobile=row.mobile,
                id_number=row.id_number,
                org_unit=row.org_unit,
                value_tier=row.value_tier,
            )
            for row in rows
        ],
        more=result.more,
    )

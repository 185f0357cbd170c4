"""bench/bench_customer360.py only: fincrm's URLs plus a bare Django view doing one indexed query,
the same view behind the API's sign-in and scope, and a middleware counting the SQL queries of
each request (``X-Bench-Queries``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from fincrm.customers.models import Customer
from fincrm.customers.selectors import VIEW, customer_queryset
from fincrm.urls import urlpatterns as fincrm_urlpatterns
from fincrm.users.api_auth import BearerTokenAuth


def bare(request: HttpRequest, pk: int) -> JsonResponse:
    number = Customer.objects.filter(pk=pk).values_list("customer_number", flat=True).first()
    return JsonResponse({"customer_number": number})


def signed_in(request: HttpRequest, pk: int) -> JsonResponse:
    """The bare view's query behind what every API call pays: the bearer token checked (and
    counted against the rate limit) and the customer read through the actor's scope. The floor
    under any API read: the mixed load cannot do better than this view does."""
    if BearerTokenAuth()(request) is None:
        return JsonResponse({"detail": "unauthorized"}, status=401)
    scoped = customer_queryset(request.actor, VIEW)  # type: ignore[attr-defined]
    number = scoped.filter(pk=pk).values_list("customer_number", flat=True).first()
    return JsonResponse({"customer_number": number})


urlpatterns = [
    path("bench/bare/<int:pk>", bare),
    path("bench/signed-in/<int:pk>", signed_in),
    *fincrm_urlpatterns,
]


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        count = 0

        def counter(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        response["X-Bench-Queries"] = str(count)
        return response

"""Pages of the product catalog: the list (with filters), a product, and the forms that change it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from fincrm.platform.access import require_permission
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.pagination import keyset_page
from fincrm.platform.views import page, request_actor
from fincrm.products import selectors, services
from fincrm.products.forms import ProductFilterForm, ProductForm
from fincrm.products.selectors import MANAGE, VIEW

PAGE_SIZE = 50


@page
@require_http_methods(["GET"])
def product_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    form = ProductFilterForm(request.GET or None)
    filters = selectors.ProductFilter()
    if form.is_valid():
        filters = selectors.ProductFilter(
            query=form.cleaned_data["q"].strip(),
            product_type=form.cleaned_data["product_type"],
            risk_level=form.cleaned_data["risk_level"],
        )
    products = selectors.product_list(actor=actor, filters=filters)
    result = keyset_page(products, limit=PAGE_SIZE, cursor=request.GET.get("cursor"), ordering=("code", "id"))
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "form": form,
        "products": result.items,
        "next_cursor": result.next_cursor,
        "query": query.urlencode(),
        "can_manage": actor.can(MANAGE),
    }
    return render(request, "products/product_list.html", context)


@page
@require_http_methods(["GET"])
def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    product = selectors.access_product(actor, pk, VIEW)
    return render(
        request, "products/product_detail.html", {"product": product, "can_manage": actor.can(MANAGE)}
    )


@page
@require_http_methods(["GET", "POST"])
def product_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, MANAGE)
    if request.method == "POST":
        form = ProductForm(request.POST)
        if form.is_valid():
            try:
                product = services.product_create(actor=actor, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Product %(code)s created.") % {"code": product.code})
                return redirect("products:product-detail", pk=product.pk)
    else:
        form = ProductForm(initial={"currency": "CNY", "is_active": True})
    return render(
        request, "products/product_form.html", {"form": form, "title": _("New product"), "product": None}
    )


@page
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    product = selectors.access_product(actor, pk, MANAGE)
    if request.method == "POST":
        form = ProductForm(request.POST)
        if form.is_valid():
            try:
                services.product_update(actor=actor, product_id=product.pk, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Product saved."))
                return redirect("products:product-detail", pk=product.pk)
    else:
        form = ProductForm(initial=services.product_snapshot(product))
    return render(
        request, "products/product_form.html", {"form": form, "title": _("Edit product"), "product": product}
    )

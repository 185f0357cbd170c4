from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent
from fincrm.platform.errors import Forbidden, NotFound, ServiceError
from fincrm.platform.models import OutboxEvent
from fincrm.products import services
from fincrm.products.models import Product
from fincrm.users.actors import actor_for_user
from tests.products.factories import ProductFactory
from tests.support.world import World


def actor(username: str):  # type: ignore[no-untyped-def]
    return actor_for_user(World.user(username))


def _create(**overrides):  # type: ignore[no-untyped-def]
    data = {"code": "WM-1", "name": " 稳健  理财 ", "product_type": "wealth", "risk_level": "R2"}
    return services.product_create(actor=actor("operations_a"), **{**data, **overrides})


def test_create_cleans_audits_and_publishes(world: World) -> None:
    product = _create(currency="usd", term_days=180)
    assert (product.name, product.currency, product.term_days) == ("稳健 理财", "USD", 180)
    event = AuditEvent.objects.get(action="product.created", object_id=str(product.pk))
    assert event.after["code"] == "WM-1"
    assert OutboxEvent.objects.filter(topic="product.created", payload={"product_id": product.pk}).exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"code": "bad code!"}, "code"),
        ({"name": "  "}, "name"),
        ({"product_type": "crypto"}, "product_type"),
        ({"risk_level": "R6"}, "risk_level"),
        ({"currency": "RMB1"}, "currency"),
        ({"term_days": 0}, "term_days"),
    ],
)
def test_create_names_the_broken_rule_and_writes_nothing(world: World, overrides: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ServiceError) as error:
        _create(**overrides)
    assert list(error.value.fields) == [field]
    assert not Product.objects.exists()


def test_duplicate_code_is_refused_case_insensitively(world: World) -> None:
    ProductFactory(code="WM-1")
    with pytest.raises(ServiceError) as error:
        _create(code="wm-1")
    assert error.value.fields == {"code": ["Another product already uses this code."]}


def test_manage_permission_is_required(world: World) -> None:
    with pytest.raises(Forbidden):
        services.product_create(
            actor=actor("account_manager_a"), code="X", name="X", product_type="fund", risk_level="R1"
        )
    product = ProductFactory()
    with pytest.raises(NotFound):
        services.product_update(actor=actor("account_manager_a"), product_id=product.pk, name="Y")


def test_update_records_only_what_changed(world: World) -> None:
    product = ProductFactory(risk_level="R2")
    services.product_update(
        actor=actor("operations_a"), product_id=product.pk, risk_level="R3", name=product.name
    )
    event = AuditEvent.objects.get(action="product.updated")
    assert (event.before, event.after) == ({"risk_level": "R2"}, {"risk_level": "R3"})
    services.product_update(actor=actor("operations_a"), product_id=product.pk, risk_level="R3")
    assert AuditEvent.objects.filter(action="product.updated").count() == 1


@given(term=st.one_of(st.none(), st.integers(), st.booleans(), st.text(max_size=5)))
def test_term_validation_never_crashes(term: object) -> None:
    valid = term in (None, "") or (type(term) is int and 1 <= term <= services.MAX_TERM_DAYS)
    if valid:
        assert services._clean({"term_days": term})["term_days"] == (term or None)
    else:
        with pytest.raises(ServiceError) as error:
            services._clean({"term_days": term})
        assert list(error.value.fields) == ["term_days"]

"""Rotating the blind-index key where some indexes have no stored source (cards kept as BIN + last 4)."""

from __future__ import annotations

from datetime import date

import pytest

from fincrm.customers.models import Customer
from fincrm.platform.actor import Actor
from fincrm.portfolio.models import Account
from fincrm.portfolio.services import account_build
from fincrm.security import services
from fincrm.security.fields import blind_index, blind_indexes
from tests.support.world import World

pytestmark = pytest.mark.django_db

CARD = "6222021234561236"


def test_cards_without_full_number_stay_findable_after_an_index_rotation(world: World) -> None:
    customer = Customer.objects.get(pk=world.customer_a)
    card = account_build(
        customer_id=customer.pk,
        kind=Account.Kind.CREDIT_CARD,
        number=CARD,
        opened_on=date(2024, 1, 1),
        org_unit_id=customer.org_unit_id,
    )
    card.save()
    assert card.account_number is None
    old_index = card.account_number_bidx

    recomputed = services.index_key_rotate(actor=Actor.cli())

    assert recomputed >= 2  # the world's customers' ID numbers and mobiles
    card.refresh_from_db()
    assert card.account_number_bidx == old_index  # nothing to recompute it from
    assert blind_index(CARD, "account_number") != old_index
    assert Account.objects.filter(account_number_bidx__in=blind_indexes(CARD, "account_number")).get() == card
    # Indexes with a stored source moved to the new key and are found with the active key alone.
    assert (
        Customer.objects.get(id_number_bidx=blind_index("11010519491231002X", "id_number")).pk
        == world.customer_a
    )

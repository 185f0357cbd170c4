"""consents_for: the 360's view of a customer's consents."""

from __future__ import annotations

from typing import Any

import pytest

from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound
from fincrm.privacy import services
from fincrm.privacy.selectors import consents_for
from tests.support.world import World


def test_rows_per_purpose_and_channel(world: World, manager: Actor) -> None:
    rows = consents_for(manager, world.customer_a)
    assert [row.key for row in rows] == [
        "marketing:sms",
        "marketing:email",
        "marketing:phone",
        "marketing:app_push",
        "marketing_profiling",
        "group_sharing",
        "third_party_sharing",
    ]
    assert not any(row.is_given for row in rows)
    assert [row.separate_required for row in rows][-2:] == [True, True]


def test_given_and_withdrawn_states(world: World, manager: Actor, django_assert_num_queries: Any) -> None:
    sms = services.consent_record(
        actor=manager, customer_id=world.customer_a, purpose_code="marketing", channel="sms", source="branch"
    )
    services.consent_record(
        actor=manager,
        customer_id=world.customer_a,
        purpose_code="marketing",
        channel="email",
        source="branch",
    )
    services.consent_withdraw(actor=manager, customer_id=world.customer_a, consent_id=sms.pk)
    with django_assert_num_queries(3):  # the customer, its consents, the purposes
        rows = {row.key: row for row in consents_for(manager, world.customer_a)}
    assert not rows["marketing:sms"].is_given
    assert rows["marketing:sms"].withdrawn_at is not None
    assert rows["marketing:email"].is_given
    assert rows["marketing:email"].source == "branch"
    assert rows["marketing:phone"].withdrawn_at is None


def test_out_of_scope_is_not_found(world: World, manager: Actor) -> None:
    with pytest.raises(NotFound):
        consents_for(manager, world.customer_b)

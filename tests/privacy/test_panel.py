"""The consent panel as the 360 page builds it: from the page's own scope check, same content."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.db import connection
from django.utils import translation

from fincrm.customers.selectors.profile import customer_360
from fincrm.platform.actor import Actor, ActorKind, Scope
from fincrm.privacy import services
from fincrm.privacy.forms import ConsentRecordForm
from fincrm.privacy.selectors import CONSENT_VIEW, covers
from fincrm.privacy.views import _form_fields, consent_panel_context
from tests.customers.factories import CustomerFactory
from tests.support.world import World

RECORD = services.RECORD


def _given_and_withdrawn(world: World, manager: Actor) -> None:
    sms = services.consent_record(
        actor=manager, customer_id=world.customer_a, purpose_code="marketing", channel="sms", source="branch"
    )
    services.consent_record(
        actor=manager,
        customer_id=world.customer_a,
        purpose_code="marketing",
        channel="email",
        source="online",
        notice_version="v7",
    )
    services.consent_withdraw(actor=manager, customer_id=world.customer_a, consent_id=sms.pk)


def test_reached_customer_gives_the_same_panel_in_two_queries(
    world: World, manager: Actor, django_assert_num_queries: Any
) -> None:
    _given_and_withdrawn(world, manager)
    with django_assert_num_queries(4):  # the customer, its consents, the purposes, may-record
        checked = consent_panel_context(manager, world.customer_a)
    with django_assert_num_queries(2):  # its consents, the purposes
        reached = consent_panel_context(manager, world.customer_a, reached_for=CONSENT_VIEW)

    assert reached["consent_rows"] == checked["consent_rows"]
    assert reached["can_record_consent"] is checked["can_record_consent"] is True
    assert reached["consent_form_fields"] == checked["consent_form_fields"]
    rows = {row.key: row for row in reached["consent_rows"]}
    assert rows["marketing:email"].notice_version == "v7"
    assert rows["marketing:sms"].withdrawn_at is not None
    # The open slots are offered, the one in force is not.
    assert 'value="marketing:sms"' in reached["consent_form_fields"]
    assert 'value="marketing:email"' not in reached["consent_form_fields"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the 360's one statement is PostgreSQL's")
def test_rows_the_360_has_read_give_the_same_panel_without_a_query(
    world: World, manager: Actor, django_assert_num_queries: Any
) -> None:
    _given_and_withdrawn(world, manager)
    read = customer_360(manager, world.customer_a, consents=False).consents_read
    assert read is not None

    with django_assert_num_queries(0):
        from_360 = consent_panel_context(manager, world.customer_a, reached_for=CONSENT_VIEW, read=read)
    own = consent_panel_context(manager, world.customer_a, reached_for=CONSENT_VIEW)

    assert from_360["consent_rows"] == own["consent_rows"]
    assert from_360["consent_form_fields"] == own["consent_form_fields"]
    rows = {row.key: row for row in from_360["consent_rows"]}
    assert rows["marketing:email"].notice_version == "v7"
    assert rows["marketing:email"].consent_id is not None  # what the withdraw control posts
    assert rows["marketing:sms"].withdrawn_at is not None


def test_blank_form_is_the_form_rendered_in_the_current_language(world: World, manager: Actor) -> None:
    for language in ("zh-hans", "en"):
        with translation.override(language):
            context = consent_panel_context(manager, world.customer_a, reached_for=CONSENT_VIEW)
            fresh = _form_fields(context["consent_form"])
            assert context["consent_form_fields"] == fresh
            assert ("Evidence reference" in fresh) is (language == "en")


def test_bound_form_keeps_its_errors(world: World, manager: Actor) -> None:
    form = ConsentRecordForm({"slot": "nothing", "source": "branch"}, slot_choices=[("marketing:sms", "SMS")])
    assert not form.is_valid()
    context = consent_panel_context(manager, world.customer_a, form=form, reached_for=CONSENT_VIEW)
    assert context["consent_form"] is form
    assert "invalid-feedback" in context["consent_form_fields"]


def test_narrower_record_scope_is_still_checked(world: World, manager: Actor) -> None:
    """Viewing a customer through the team says nothing about recording with an own-only grant."""
    narrow = dataclasses.replace(
        manager,
        grants={**manager.grants, CONSENT_VIEW: frozenset({Scope.BRANCH}), RECORD: frozenset({Scope.OWN})},
    )
    manager_user = World.user("account_manager_a")
    not_own = CustomerFactory(org_unit=manager_user.org_unit, primary_manager=World.user("account_manager_b"))
    assert not covers(narrow, RECORD, CONSENT_VIEW)
    panel = consent_panel_context(narrow, not_own.pk, reached_for=CONSENT_VIEW)
    assert panel["can_record_consent"] is False
    assert panel["consent_form"] is None
    assert panel["consent_form_fields"] == ""
    own = consent_panel_context(narrow, world.customer_a, reached_for=CONSENT_VIEW)
    assert own["can_record_consent"] is True


def test_covers() -> None:
    def actor(**grants: set[Scope]) -> Actor:
        return Actor(ActorKind.USER, "user:t", user_id=1, grants={k: frozenset(v) for k, v in grants.items()})

    assert covers(actor(a={Scope.INSTITUTION}, b={Scope.OWN}), "a", "b")
    assert covers(actor(a={Scope.TEAM, Scope.OWN}, b={Scope.TEAM}), "a", "b")
    assert covers(actor(a={Scope.TEAM}, b={Scope.TEAM}), "a", "b")
    assert not covers(actor(a={Scope.OWN}, b={Scope.TEAM}), "a", "b")
    assert not covers(actor(a={Scope.OWN}), "a", "b")  # b reaches nothing: nothing to vouch for
    assert not covers(actor(b={Scope.OWN}), "a", "b")

"""Unmasking: the service (permission per class, scope, reason, step-up, audit without the value),
the HTMX control and dialog, the template tag, and the API with the step-up header."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer
from fincrm.platform.actor import Actor
from fincrm.platform.errors import NotFound, ServiceError
from fincrm.security import unmask
from fincrm.security.models import SensitiveAccessGrant
from fincrm.security.stepup import HEADER, SESSION_STEP_UP_AT
from fincrm.security.unmask import unmask_field
from fincrm.users.actors import actor_for_user
from fincrm.users.models import MfaDevice
from fincrm.users.services.tokens import api_token_create
from tests.support.auth import sign_in
from tests.support.english import english
from tests.support.world import PASSWORD, World

__all__ = ["english"]

pytestmark = pytest.mark.django_db

MOBILE = "+8613800138000"
ID_NUMBER = "11010519491231002X"


@pytest.fixture(autouse=True)
def clear_rate_limits() -> None:
    cache.clear()


def actor_of(username: str) -> Actor:
    return actor_for_user(World.user(username))


def unmask_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="pii.unmasked").order_by("sequence"))


def client_for(username: str, *, stepped_up: bool = False) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    if stepped_up:
        store = SessionStore()
        store[SESSION_STEP_UP_AT] = int(time.time())
        store.save()
        client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return sign_in(client, World.user(username))


def approved_grant(world: World, username: str, fields: list[str], *, hours: int = 4) -> SensitiveAccessGrant:
    now = timezone.now()
    return SensitiveAccessGrant.objects.create(
        requester=World.user(username),
        customer_id=world.customer_a,
        number_bidx="x",
        number_masked="***",
        fields=fields,
        reason_code="kyc_review",
        reason_text="Periodic KYC review",
        status=SensitiveAccessGrant.Status.APPROVED,
        requested_at=now - timedelta(minutes=5),
        approver=World.user("compliance_officer_a"),
        decided_at=now - timedelta(minutes=1),
        expires_at=now + timedelta(hours=hours),
    )


# ---------------------------------------------------------------- the service


def test_holder_of_the_class_permission_unmasks_and_the_event_has_no_value(world: World) -> None:
    shown = unmask_field(
        actor=actor_of("risk_officer_a"),
        customer_id=world.customer_a,
        field="mobile",
        reason_code="aml_investigation",
        reason_text="Case AML-2024-17",
        stepped_up=True,
    )
    assert (shown.field, shown.value, shown.masked, shown.grant_id) == ("mobile", MOBILE, "138****8000", None)
    [event] = unmask_events()
    assert event.object_type == "customer"
    assert event.object_id == str(world.customer_a)
    assert event.after == {"field": "mobile", "class": "C2", "reason_code": "aml_investigation"}
    assert event.reason == "aml_investigation: Case AML-2024-17"
    assert event.actor_user_id == World.user("risk_officer_a").pk
    everything = json.dumps([event.before, event.after, event.reason], ensure_ascii=False)
    assert "13800138000" not in everything


def test_every_registered_customer_field_unmasks(world: World) -> None:
    customer = Customer.objects.get(pk=world.customer_a)
    customer.email = "zhang.san@example.com"
    customer.address = "北京市东城区东华门街道1号"
    customer.save()
    actor = actor_of("compliance_officer_a")
    expected = {
        "id_number": ID_NUMBER,
        "mobile": MOBILE,
        "email": "zhang.san@example.com",
        "address": "北京市东城区东华门街道1号",
    }
    for key, value in expected.items():
        shown = unmask_field(
            actor=actor,
            customer_id=world.customer_a,
            field=key,
            reason_code="kyc_review",
            reason_text="Annual review",
            stepped_up=True,
        )
        assert shown.value == value
        assert shown.masked != value
    assert [event.after["field"] for event in unmask_events()] == list(expected)


def test_without_permission_it_is_not_found_and_recorded(world: World) -> None:
    actor = actor_of("account_manager_a")  # sees customer A, may not unmask
    with pytest.raises(NotFound):
        unmask_field(
            actor=actor,
            customer_id=world.customer_a,
            field="mobile",
            reason_code="other",
            reason_text="curious",
            stepped_up=True,
        )
    assert unmask_events() == []
    # (The access.denied security event is checked through the pages and the API: outside a
    # request it is written inside the refused service's transaction, which rolls back.)


def test_out_of_scope_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        unmask_field(
            actor=actor_of("account_manager_a"),
            customer_id=world.customer_b,
            field="mobile",
            reason_code="other",
            reason_text="curious",
            stepped_up=True,
        )
    assert unmask_events() == []


def test_c3_or_unknown_fields_are_never_unmasked(world: World) -> None:
    with pytest.raises(ServiceError) as error:
        unmask_field(
            actor=actor_of("risk_officer_a"),
            customer_id=world.customer_a,
            field="password",
            reason_code="other",
            reason_text="anything goes",
            stepped_up=True,
        )
    assert error.value.code == "unknown_field"
    # A registry entry whose classification is missing or C3 has no permission at all.
    field = unmask.Unmaskable("pin", "customers.Customer", "no_such_field", "PIN")
    assert field.data_class == "C3"
    assert field.permission is None


@pytest.mark.parametrize(
    ("reason_code", "reason_text", "field"),
    [
        ("", "Case 17", "reason_code"),
        ("nonsense", "Case 17", "reason_code"),
        ("other", "  ", "reason_text"),
        ("other", "x" * 501, "reason_text"),
    ],
)
def test_a_reason_is_required(world: World, reason_code: str, reason_text: str, field: str) -> None:
    with pytest.raises(ServiceError) as error:
        unmask_field(
            actor=actor_of("risk_officer_a"),
            customer_id=world.customer_a,
            field="mobile",
            reason_code=reason_code,
            reason_text=reason_text,
            stepped_up=True,
        )
    assert field in error.value.fields
    assert unmask_events() == []


def test_a_step_up_is_required(world: World) -> None:
    with pytest.raises(ServiceError) as error:
        unmask_field(
            actor=actor_of("risk_officer_a"),
            customer_id=world.customer_a,
            field="mobile",
            reason_code="other",
            reason_text="Case 17",
        )
    assert error.value.code == "step_up_required"
    assert unmask_events() == []


def test_empty_field_says_so(world: World) -> None:
    with pytest.raises(ServiceError) as error:
        unmask_field(
            actor=actor_of("risk_officer_a"),
            customer_id=world.customer_a,
            field="email",
            reason_code="other",
            reason_text="Case 17",
            stepped_up=True,
        )
    assert error.value.code == "empty_field"
    assert unmask_events() == []


def test_a_grant_lifts_the_permission_for_its_fields_and_counts_uses(world: World) -> None:
    grant = approved_grant(world, "account_manager_a", ["mobile"])
    actor = actor_of("account_manager_a")
    shown = unmask_field(
        actor=actor,
        customer_id=world.customer_a,
        field="mobile",
        reason_code="customer_request",
        reason_text="Customer on the phone",
        stepped_up=True,
    )
    assert (shown.value, shown.grant_id) == (MOBILE, grant.pk)
    grant.refresh_from_db()
    assert grant.uses == 1
    assert grant.last_used_at is not None
    used = AuditEvent.objects.get(action="pii.grant.used")
    assert used.object_id == str(grant.pk)
    assert used.after == {"customer_id": world.customer_a, "field": "mobile", "uses": 1}
    assert unmask_events()[0].after["grant_id"] == grant.pk
    # Not the fields it does not name.
    with pytest.raises(NotFound):
        unmask_field(
            actor=actor,
            customer_id=world.customer_a,
            field="id_number",
            reason_code="customer_request",
            reason_text="Customer on the phone",
            stepped_up=True,
        )


def test_a_grant_does_not_widen_the_view_scope(world: World) -> None:
    grant = approved_grant(world, "account_manager_a", ["mobile"])
    SensitiveAccessGrant.objects.filter(pk=grant.pk).update(customer_id=world.customer_b)
    with pytest.raises(NotFound):
        unmask_field(
            actor=actor_of("account_manager_a"),
            customer_id=world.customer_b,
            field="mobile",
            reason_code="customer_request",
            reason_text="Customer on the phone",
            stepped_up=True,
        )


@pytest.mark.parametrize("state", ["expired_by_time", "expired", "requested", "refused", "other_user"])
def test_only_a_live_approved_grant_of_the_actor_counts(world: World, state: str) -> None:
    grant = approved_grant(world, "account_manager_a", ["mobile"])
    updates: dict[str, Any] = {
        "expired_by_time": {"expires_at": timezone.now() - timedelta(seconds=1)},
        "expired": {"status": "expired"},
        "requested": {"status": "requested"},
        "refused": {"status": "refused"},
        "other_user": {"requester": World.user("team_lead_a")},
    }[state]
    SensitiveAccessGrant.objects.filter(pk=grant.pk).update(**updates)
    with pytest.raises(NotFound):
        unmask_field(
            actor=actor_of("account_manager_a"),
            customer_id=world.customer_a,
            field="mobile",
            reason_code="customer_request",
            reason_text="Customer on the phone",
            stepped_up=True,
        )


@hypothesis_settings(max_examples=200, deadline=None)
@given(reason_code=st.sampled_from([*unmask.REASONS, "", "x", "OTHER"]), reason_text=st.text(max_size=600))
def test_reason_validation_accepts_exactly_the_allowed_shapes(reason_code: str, reason_text: str) -> None:
    stripped = reason_text.strip()
    expect_ok = (
        reason_code in unmask.REASONS and unmask.REASON_TEXT_MIN <= len(stripped) <= unmask.REASON_TEXT_MAX
    )
    if not expect_ok:
        with pytest.raises(ServiceError) as refused:
            unmask.validate_reason(reason_code, reason_text)
        assert refused.value.fields
        assert set(refused.value.fields) <= {"reason_code", "reason_text"}
        return
    assert unmask.validate_reason(reason_code, reason_text) == (reason_code, stripped)


# ---------------------------------------------------------------- pages


def unmask_url(customer_id: int, field: str = "mobile") -> str:
    return f"/sensitive/unmask/{customer_id}/{field}/"


HTMX = {"HTTP_HX_REQUEST": "true"}


def test_dialog_asks_for_reason_and_password_when_no_recent_step_up(world: World) -> None:
    client = client_for("compliance_officer_a")
    response = client.get(unmask_url(world.customer_a), **HTMX)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "data-unmask-dialog" in body
    assert 'name="reason_code"' in body
    assert 'name="reason_text"' in body
    assert 'name="secret"' in body
    assert 'type="password"' in body
    assert MOBILE not in body
    assert "138****8000" in body
    assert "<script" not in body  # an HTMX fragment: the script is already on the page
    assert " style=" not in body
    assert "onclick" not in body


def test_page_unmask_with_password_shows_value_no_store_and_audits(world: World) -> None:
    client = client_for("compliance_officer_a")
    response = client.post(
        unmask_url(world.customer_a),
        {"reason_code": "complaint", "reason_text": "Complaint C-88", "secret": PASSWORD},
        **HTMX,
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert MOBILE in body
    assert 'data-unmask-hide-after="30"' in body
    assert 'data-unmask-masked="138****8000"' in body
    assert "data-unmask-dialog" not in body
    [event] = unmask_events()
    assert event.after["field"] == "mobile"
    assert event.reason == "complaint: Complaint C-88"
    assert AuditEvent.objects.filter(action="security.step_up", after__result="success").count() == 1
    # Stepped up: the next dialog asks for no secret.
    again = client.get(unmask_url(world.customer_a), **HTMX).content.decode()
    assert 'name="secret"' not in again


def test_wrong_password_shows_no_value_and_keeps_the_dialog(world: World) -> None:
    client = client_for("compliance_officer_a")
    response = client.post(
        unmask_url(world.customer_a),
        {"reason_code": "complaint", "reason_text": "Complaint C-88", "secret": "not-my-password-1"},
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert MOBILE not in body
    assert "Your password is not correct." in body
    assert "data-unmask-dialog" in body
    assert unmask_events() == []


def test_missing_reason_keeps_the_dialog_and_asks_no_second_secret(world: World) -> None:
    client = client_for("compliance_officer_a", stepped_up=True)
    response = client.post(unmask_url(world.customer_a), {"reason_code": "", "reason_text": ""}, **HTMX)
    body = response.content.decode()
    assert "data-unmask-dialog" in body
    assert MOBILE not in body
    assert 'name="secret"' not in body
    assert unmask_events() == []


def test_user_with_a_second_factor_confirms_with_a_code(world: World) -> None:
    secret = pyotp.random_base32()
    MfaDevice.objects.create(user=World.user("risk_officer_a"), secret=secret, confirmed_at=timezone.now())
    client = client_for("risk_officer_a")
    dialog = client.get(unmask_url(world.customer_a), **HTMX).content.decode()
    assert 'autocomplete="one-time-code"' in dialog
    response = client.post(
        unmask_url(world.customer_a),
        {"reason_code": "kyc_review", "reason_text": "KYC file 9", "secret": pyotp.TOTP(secret).now()},
        **HTMX,
    )
    assert MOBILE in response.content.decode()


def test_without_htmx_the_dialog_is_a_page(world: World) -> None:
    response = client_for("compliance_officer_a").get(unmask_url(world.customer_a))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body
    assert "security/unmask.js" in body
    assert "data-unmask-dialog" in body


def test_page_unmask_with_a_grant(world: World) -> None:
    approved_grant(world, "account_manager_a", ["mobile"])
    client = client_for("account_manager_a", stepped_up=True)
    response = client.post(
        unmask_url(world.customer_a),
        {"reason_code": "customer_request", "reason_text": "On the phone"},
        **HTMX,
    )
    assert MOBILE in response.content.decode()
    assert SensitiveAccessGrant.objects.get().uses == 1
    # The grant names the mobile only.
    assert client.get(unmask_url(world.customer_a, "id_number"), **HTMX).status_code == 404


def test_unknown_field_is_not_found(world: World) -> None:
    client = client_for("compliance_officer_a")
    assert client.get(unmask_url(world.customer_a, "pin"), **HTMX).status_code == 404


# ---------------------------------------------------------------- the template tag


def render_tag(username: str, customer_id: int, field: str = "mobile") -> str:
    request = RequestFactory().get("/")
    request.actor = actor_of(username)  # type: ignore[attr-defined]
    customer = Customer.objects.get(pk=customer_id)
    template = Template(
        '{% load unmask %}{% unmask_control customer field %}{% unmask_control customer "id_number" %}'
    )
    return template.render(Context({"request": request, "customer": customer, "field": field}))


def test_tag_shows_the_mask_and_a_button_for_who_may_unmask(world: World) -> None:
    html = render_tag("compliance_officer_a", world.customer_a)
    assert "138****8000" in html
    assert MOBILE not in html
    assert "110***********002X" in html
    assert ID_NUMBER not in html
    assert html.count("data-unmask-show") == 2
    assert f'hx-get="/sensitive/unmask/{world.customer_a}/mobile/"' in html
    assert html.count("security/unmask.js") == 1  # the script once per page


def test_tag_shows_only_the_mask_without_the_right(world: World) -> None:
    html = render_tag("account_manager_a", world.customer_a)
    assert "138****8000" in html
    assert "data-unmask-show" not in html


def test_tag_button_for_granted_fields_only(world: World) -> None:
    approved_grant(world, "account_manager_a", ["mobile"])
    html = render_tag("account_manager_a", world.customer_a)
    assert html.count("data-unmask-show") == 1
    assert f"/sensitive/unmask/{world.customer_a}/mobile/" in html


def test_tag_for_an_empty_field_shows_a_dash(world: World) -> None:
    html = render_tag("compliance_officer_a", world.customer_a, "email")
    assert "&mdash;" in html or "—" in html


# ---------------------------------------------------------------- API


API = "/api/v1/customers/{}/unmask"
BODY = {"field": "mobile", "reason_code": "aml_investigation", "reason_text": "Case AML-7"}


def token_for(username: str) -> dict[str, str]:
    _token, plaintext = api_token_create(
        actor=Actor.cli(), owner_id=World.user(username).pk, name="unmask test"
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def test_api_token_needs_the_header_every_time(world: World) -> None:
    client = Client()
    auth = token_for("risk_officer_a")
    url = API.format(world.customer_a)
    refused = client.post(url, BODY, content_type="application/json", **auth)
    assert refused.status_code == 403, refused.content
    assert refused.json()["code"] == "step_up_required"
    shown = client.post(url, BODY, content_type="application/json", headers={HEADER: PASSWORD}, **auth)
    assert shown.status_code == 200, shown.content
    assert shown.json()["value"] == MOBILE
    assert "no-store" in shown["Cache-Control"]
    again = client.post(url, BODY, content_type="application/json", **auth)
    assert again.status_code == 403


def test_api_session_after_step_up(world: World) -> None:
    client = client_for("risk_officer_a", stepped_up=True)
    response = client.post(API.format(world.customer_a), BODY, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == {"field": "mobile", "value": MOBILE, "masked": "138****8000"}
    assert "no-store" in response["Cache-Control"]
    assert len(unmask_events()) == 1


def test_api_session_without_step_up_is_refused(world: World) -> None:
    client = client_for("risk_officer_a")
    response = client.post(API.format(world.customer_a), BODY, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "step_up_required"
    assert unmask_events() == []


def test_api_header_step_up(world: World) -> None:
    client = client_for("risk_officer_a")
    wrong = client.post(
        API.format(world.customer_a),
        BODY,
        content_type="application/json",
        headers={HEADER: "wrong-password-1"},
    )
    assert wrong.status_code == 403
    right = client.post(
        API.format(world.customer_a), BODY, content_type="application/json", headers={HEADER: PASSWORD}
    )
    assert right.status_code == 200
    assert right.json()["value"] == MOBILE
    results = [
        event.after for event in AuditEvent.objects.filter(action="security.step_up").order_by("sequence")
    ]
    assert results == [
        {"result": "failure", "method": "password", "channel": "api"},
        {"result": "success", "method": "password", "channel": "api"},
    ]
    # The header's step-up is for that request only: nothing is kept in the session.
    assert SESSION_STEP_UP_AT not in client.session


def test_api_without_permission_is_not_found_and_asks_no_secret(world: World) -> None:
    client = client_for("account_manager_a", stepped_up=True)
    response = client.post(
        API.format(world.customer_a), BODY, content_type="application/json", headers={HEADER: PASSWORD}
    )
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="security.step_up").exists()
    assert unmask_events() == []


def test_api_validation(world: World) -> None:
    client = client_for("risk_officer_a", stepped_up=True)
    response = client.post(
        API.format(world.customer_a), {**BODY, "reason_text": ""}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "reason_text" in response.json()["fields"]

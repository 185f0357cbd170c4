"""Two-factor sign-in: enrolment end to end, codes used once, recovery codes, confinement of
users whose role requires it, removal and new recovery codes."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import pyotp
import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent
from fincrm.platform.errors import ServiceError
from fincrm.users.actors import actor_for_user
from fincrm.users.models import LoginAttempt, MfaDevice, RecoveryCode, Role, RoleAssignment, User
from fincrm.users.services import mfa as mfa_services
from fincrm.users.services.signin import SESSION_MFA_PENDING_UNTIL
from fincrm.users.sessions import SESSION_MFA_OK
from tests.support.world import PASSWORD, World

pytestmark = pytest.mark.django_db

CODE_SHAPE = re.compile(r"^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$")


def new_client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def sign_in_with_password(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post("/signin/", {"username": username, "password": password})


def code_at(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def enroll(client: Client, username: str) -> tuple[str, list[str]]:
    """Sign in and enrol through the pages; returns the secret and the recovery codes shown."""
    assert sign_in_with_password(client, username).status_code == 302
    page = client.get("/account/mfa/")
    assert page.status_code == 200
    secret = MfaDevice.objects.get(user__username=username).secret
    response = client.post("/account/mfa/", {"code": code_at(secret)})
    assert response.status_code == 200
    codes = re.findall(r"data-recovery-code>([A-Z2-7-]+)<", response.content.decode())
    return secret, codes


def test_enrolment_end_to_end(world: World) -> None:
    client = new_client()
    assert sign_in_with_password(client, "peer_a").status_code == 302
    page = client.get("/account/mfa/")
    assert page.status_code == 200
    device = MfaDevice.objects.get(user__username="peer_a")
    assert device.confirmed_at is None
    body = page.content.decode()
    assert "<svg" in body
    assert "<img" not in body
    assert "<script" not in body.split("</main>")[0].split("<main")[-1]
    assert device.secret in body
    assert "no-store" in page["Cache-Control"]
    assert client.get("/account/mfa/").content.decode().count(device.secret) == 1  # same secret on reload

    wrong = client.post(
        "/account/mfa/", {"code": "000000" if code_at(device.secret) != "000000" else "111111"}
    )
    assert wrong.status_code == 200
    assert b"The code is not correct" in wrong.content
    assert MfaDevice.objects.get(pk=device.pk).confirmed_at is None

    response = client.post("/account/mfa/", {"code": code_at(device.secret)})
    assert response.status_code == 200
    codes = re.findall(r"data-recovery-code>([A-Z2-7-]+)<", response.content.decode())
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(CODE_SHAPE.match(code) for code in codes)
    stored = set(RecoveryCode.objects.filter(user__username="peer_a").values_list("code_hash", flat=True))
    assert stored == {hashlib.sha256(code.replace("-", "").encode()).hexdigest() for code in codes}
    assert MfaDevice.objects.get(pk=device.pk).confirmed_at is not None
    assert client.session[SESSION_MFA_OK] is True
    event = AuditEvent.objects.get(action="mfa.enrolled")
    assert event.after == {"recovery_codes": 10}
    assert device.secret not in str(event.after)
    assert codes[0] not in str(event.after)
    # Shown once: the page now manages the device and shows no codes and no secret.
    manage = client.get("/account/mfa/").content.decode()
    assert device.secret not in manage
    assert "data-recovery-code" not in manage

    client.post("/signout/")
    response = sign_in_with_password(client, "peer_a")
    assert response.status_code == 302
    assert response["Location"] == "/signin/verify/"
    assert "_auth_user_id" not in client.session  # the password alone signs nobody in
    assert client.get("/account/").status_code == 302
    response = client.post("/signin/verify/", {"code": code_at(device.secret, 1)})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session[SESSION_MFA_OK] is True
    assert client.get("/account/").status_code == 200


def test_replayed_code_is_refused(world: World) -> None:
    client = new_client()
    secret, _codes = enroll(client, "peer_a")
    client.post("/signout/")
    sign_in_with_password(client, "peer_a")
    code = code_at(secret, 1)
    assert client.post("/signin/verify/", {"code": code}).status_code == 302
    client.post("/signout/")
    sign_in_with_password(client, "peer_a")
    replay = client.post("/signin/verify/", {"code": code})
    assert replay.status_code == 200
    assert b"The code is not correct." in replay.content
    assert "_auth_user_id" not in client.session
    failure = LoginAttempt.objects.filter(user__username="peer_a", succeeded=False).get()
    assert failure.client_ip == "127.0.0.1"


def test_code_from_the_enrolment_step_cannot_sign_in(world: World) -> None:
    client = new_client()
    secret, _codes = enroll(client, "peer_a")
    client.post("/signout/")
    sign_in_with_password(client, "peer_a")
    assert client.post("/signin/verify/", {"code": code_at(secret)}).status_code == 200


def test_recovery_code_works_once(world: World) -> None:
    client = new_client()
    _secret, codes = enroll(client, "peer_a")
    client.post("/signout/")
    sign_in_with_password(client, "peer_a")
    assert client.post("/signin/verify/", {"code": codes[3].lower().replace("-", " ")}).status_code == 302
    assert RecoveryCode.objects.filter(user__username="peer_a", used_at__isnull=False).count() == 1
    assert AuditEvent.objects.get(action="mfa.recovery_code_used").after == {"codes_left": 9}
    client.post("/signout/")
    sign_in_with_password(client, "peer_a")
    again = client.post("/signin/verify/", {"code": codes[3]})
    assert again.status_code == 200
    assert "_auth_user_id" not in client.session


def test_second_factor_failures_count_toward_lockout(world: World, settings: Any) -> None:
    settings.FINCRM_LOCKOUT_FAILURES = 3
    client = new_client()
    secret, _codes = enroll(client, "peer_a")
    client.post("/signout/")
    sign_in_with_password(client, "peer_a")
    for _attempt in range(3):
        client.post("/signin/verify/", {"code": "12345678"})
    assert User.objects.get(username="peer_a").locked_at is not None
    # Locked: even the right code is refused.
    assert client.post("/signin/verify/", {"code": code_at(secret, 1)}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_pending_second_factor_expires(world: World) -> None:
    client = new_client()
    secret, _codes = enroll(client, "peer_a")
    client.post("/signout/")
    sign_in_with_password(client, "peer_a")
    session = client.session
    session[SESSION_MFA_PENDING_UNTIL] = int(time.time()) - 1
    session.save()
    response = client.post("/signin/verify/", {"code": code_at(secret, 1)})
    assert response.status_code == 302
    assert response["Location"] == "/signin/"
    assert "_auth_user_id" not in client.session


def test_verify_without_a_password_step_goes_back_to_sign_in(world: World) -> None:
    response = new_client().get("/signin/verify/")
    assert response.status_code == 302
    assert response["Location"] == "/signin/"


@pytest.mark.parametrize("username", ["system_admin_a", "branch_manager_a", "auditor_a"])
def test_user_whose_role_requires_mfa_is_confined_to_enrolment(world: World, username: str) -> None:
    client = new_client()
    response = sign_in_with_password(client, username)
    assert response.status_code == 302
    assert client.session[SESSION_MFA_OK] is False
    for path in ("/", "/account/", "/account/sessions/", "/security/alerts/"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/account/mfa/"), path
    assert client.get("/account/mfa/").status_code == 200
    secret = MfaDevice.objects.get(user__username=username).secret
    assert client.post("/account/mfa/", {"code": code_at(secret)}).status_code == 200
    assert client.get("/account/").status_code == 200


def test_privileged_permission_requires_mfa_even_without_the_flag(world: World) -> None:
    user = World.user("peer_a")
    assert mfa_services.user_requires_mfa(user_id=user.pk) is False
    role = Role.objects.create(code="exporter", name="Exporter", scope="own", mfa_required=False)
    role.permission_rows.create(permission="customer.export")
    RoleAssignment.objects.create(user=user, role=role)
    assert mfa_services.user_requires_mfa(user_id=user.pk) is True


def test_required_user_cannot_remove_mfa(world: World) -> None:
    client = new_client()
    enroll(client, "system_admin_a")
    actor = actor_for_user(World.user("system_admin_a"))
    with pytest.raises(ServiceError):
        mfa_services.mfa_remove(actor=actor, password=PASSWORD)
    client.post("/account/mfa/remove/", {"password": PASSWORD})
    assert MfaDevice.objects.filter(user__username="system_admin_a", confirmed_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(action="mfa.removed").exists()


def test_optional_user_removes_mfa_with_the_password(world: World) -> None:
    client = new_client()
    enroll(client, "peer_a")
    response = client.post("/account/mfa/remove/", {"password": "not-my-password"})
    assert response.status_code == 302
    assert MfaDevice.objects.filter(user__username="peer_a").exists()
    response = client.post("/account/mfa/remove/", {"password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert not MfaDevice.objects.filter(user__username="peer_a").exists()
    assert not RecoveryCode.objects.filter(user__username="peer_a").exists()
    assert AuditEvent.objects.filter(action="mfa.removed").count() == 1
    client.post("/signout/")
    assert sign_in_with_password(client, "peer_a")["Location"] == "/"  # no second step any more


def test_new_recovery_codes_need_a_current_code(world: World) -> None:
    client = new_client()
    secret, old_codes = enroll(client, "peer_a")
    refused = client.post("/account/mfa/recovery-codes/", {"code": "000000"})
    assert refused.status_code == 302
    response = client.post("/account/mfa/recovery-codes/", {"code": code_at(secret, 1)})
    assert response.status_code == 200
    new_codes = re.findall(r"data-recovery-code>([A-Z2-7-]+)<", response.content.decode())
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    assert AuditEvent.objects.filter(action="mfa.recovery_codes_regenerated").count() == 1
    client.post("/signout/")
    sign_in_with_password(client, "peer_a")
    assert client.post("/signin/verify/", {"code": old_codes[0]}).status_code == 200
    assert client.post("/signin/verify/", {"code": new_codes[0]}).status_code == 302


def test_codes_outside_the_window_are_refused(world: World) -> None:
    secret = pyotp.random_base32()
    now = mfa_services.timezone.now()
    step = pyotp.TOTP(secret).timecode(now)
    for offset, expected in ((-2, None), (-1, step - 1), (0, step), (1, step + 1), (2, None)):
        code = pyotp.TOTP(secret).generate_otp(step + offset)
        assert mfa_services._matching_step(secret, code, 0, now) == expected
    assert mfa_services._matching_step(secret, pyotp.TOTP(secret).generate_otp(step), step, now) is None


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16))
def test_recovery_code_digest_ignores_case_spaces_and_dashes(raw: str) -> None:
    grouped = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
    assert mfa_services.recovery_code_digest(grouped) == mfa_services.recovery_code_digest(raw.lower())
    assert (
        mfa_services.recovery_code_digest(" ".join(grouped.split("-")))
        == hashlib.sha256(raw.encode()).hexdigest()
    )


@given(st.text(max_size=12))
def test_arbitrary_text_is_never_a_totp_code_for_a_used_step(text: str) -> None:
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    now = mfa_services.timezone.now()
    step = pyotp.TOTP(secret).timecode(now)
    assert mfa_services._matching_step(secret, text, step + 1, now) is None

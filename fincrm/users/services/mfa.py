"""Second factor: TOTP devices (RFC 6238, 30-second steps, 6 digits) and one-time recovery codes.

A code is accepted one step either side of now, and never twice: the device remembers the last
accepted step. Recovery codes are stored as SHA-256 digests of their normalized text and shown
only once, when made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.platform import hooks, transaction
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, ServiceError
from fincrm.platform.permissions import any_privileged
from fincrm.users.models import MfaDevice, RecoveryCode, Role, RolePermission, User
from fincrm.users.services.sessions import own_user_id

STEP_SECONDS = 30
DIGITS = 6
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def user_requires_mfa(*, user_id: int) -> bool:
    """True when a role is flagged ``mfa_required`` or holds a privileged permission.

    No setting overrides it."""
    if Role.objects.filter(assignments__user_id=user_id, mfa_required=True).exists():
        return True
    permissions = RolePermission.objects.filter(role__assignments__user_id=user_id).values_list(
        "permission", flat=True
    )
    return any_privileged(permissions)


def confirmed_device(*, user_id: int) -> MfaDevice | None:
    return MfaDevice.objects.filter(user_id=user_id, confirmed_at__isnull=False).first()


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def _matching_step(secret: str, code: str, last_used_step: int, now: datetime) -> int | None:
    """The step a code belongs to (within the window, later than the last used one), or None."""
    cleaned = code.replace(" ", "").strip()
    if len(cleaned) != DIGITS or not cleaned.isdigit():
        return None
    totp = _totp(secret)
    current = totp.timecode(now)
    matched = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        # Compare every candidate (constant time each) so timing does not tell which one matched.
        if (
            hmac.compare_digest(totp.generate_otp(step), cleaned)
            and step > last_used_step
            and matched is None
        ):
            matched = step
    return matched


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def recovery_code_digest(code: str) -> str:
    return hashlib.sha256(normalize_recovery_code(code).encode("ascii", "ignore")).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_BASE32) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _replace_recovery_codes(user_id: int) -> list[str]:
    RecoveryCode.objects.filter(user_id=user_id).delete()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user_id=user_id, code_hash=recovery_code_digest(code)) for code in codes
    )
    return codes


@dataclass(frozen=True)
class Provisioning:
    secret: str
    uri: str
    qr_svg: str


def provisioning_for(*, device: MfaDevice, username: str) -> Provisioning:
    uri = _totp(device.secret).provisioning_uri(name=username, issuer_name=settings.FINCRM_MFA_ISSUER)
    # Drawn on the server as inline SVG: no script, no external image.
    svg = segno.make(uri, error="m").svg_inline(scale=4, omitsize=False)
    return Provisioning(secret=device.secret, uri=uri, qr_svg=svg)


@transaction.atomic
def mfa_setup_begin(*, actor: Actor) -> MfaDevice:
    """The pending (unconfirmed) device of the actor, made on first visit of the setup page."""
    device = MfaDevice.objects.select_for_update().filter(user_id=own_user_id(actor)).first()
    if device is not None and device.confirmed_at is not None:
        raise Conflict(_("A second factor is already set up."), code="mfa_already_enrolled")
    if device is None:
        device = MfaDevice.objects.create(user_id=own_user_id(actor), secret=pyotp.random_base32())
    return device


@transaction.atomic
def mfa_setup_confirm(*, actor: Actor, code: str) -> list[str]:
    """Confirm the pending device with a code from the app; returns the recovery codes (shown once)."""
    device = MfaDevice.objects.select_for_update().filter(user_id=own_user_id(actor)).first()
    if device is None or device.confirmed_at is not None:
        raise Conflict(_("There is no second factor waiting to be confirmed."), code="mfa_not_pending")
    step = _matching_step(device.secret, code, device.last_used_step, timezone.now())
    if step is None:
        raise ServiceError.field(
            "code", _("The code is not correct. Check the time on your phone and try again.")
        )
    device.confirmed_at = timezone.now()
    device.last_used_step = step
    device.save(update_fields=["confirmed_at", "last_used_step", "updated_at"])
    codes = _replace_recovery_codes(device.user_id)
    hooks.audit_recorder()(
        actor,
        "mfa.enrolled",
        object_type="user",
        object_id=str(actor.user_id),
        after={"recovery_codes": len(codes)},
    )
    return codes


@transaction.atomic
def mfa_code_check(*, actor: Actor, user_id: int, code: str) -> str | None:
    """Check a TOTP or recovery code of a confirmed device at sign-in.

    Returns "totp" or "recovery" when accepted (and uses it up), None otherwise.
    """
    device = MfaDevice.objects.select_for_update().filter(user_id=user_id, confirmed_at__isnull=False).first()
    if device is None:
        return None
    step = _matching_step(device.secret, code, device.last_used_step, timezone.now())
    if step is not None:
        device.last_used_step = step
        device.save(update_fields=["last_used_step", "updated_at"])
        return "totp"
    normalized = normalize_recovery_code(code)
    if len(normalized) != 16:
        return None
    used = RecoveryCode.objects.filter(
        user_id=user_id, code_hash=recovery_code_digest(normalized), used_at__isnull=True
    ).update(used_at=timezone.now())
    if not used:
        return None
    left = RecoveryCode.objects.filter(user_id=user_id, used_at__isnull=True).count()
    hooks.audit_recorder()(
        actor,
        "mfa.recovery_code_used",
        object_type="user",
        object_id=str(user_id),
        after={"codes_left": left},
    )
    return "recovery"


@transaction.atomic
def mfa_remove(*, actor: Actor, password: str) -> None:
    """Remove one's own second factor: only when no role requires it, and with the password."""
    user = User.objects.select_for_update().get(pk=own_user_id(actor))
    if user_requires_mfa(user_id=user.pk):
        raise ServiceError(
            _("One of your roles requires a second factor; it cannot be removed."),
            status=409,
            code="mfa_required",
        )
    if not user.check_password(password):
        raise ServiceError.field("password", _("Your password is not correct."))
    removed, _details = MfaDevice.objects.filter(user_id=user.pk).delete()
    if not removed:
        raise Conflict(_("You have no second factor set up."), code="mfa_not_enrolled")
    RecoveryCode.objects.filter(user_id=user.pk).delete()
    hooks.audit_recorder()(actor, "mfa.removed", object_type="user", object_id=str(user.pk))


@transaction.atomic
def mfa_recovery_codes_regenerate(*, actor: Actor, code: str) -> list[str]:
    """New recovery codes (the old ones stop working), confirmed with a current TOTP code."""
    device = (
        MfaDevice.objects.select_for_update()
        .filter(user_id=own_user_id(actor), confirmed_at__isnull=False)
        .first()
    )
    if device is None:
        raise Conflict(_("You have no second factor set up."), code="mfa_not_enrolled")
    step = _matching_step(device.secret, code, device.last_used_step, timezone.now())
    if step is None:
        raise ServiceError.field("code", _("The code is not correct."))
    device.last_used_step = step
    device.save(update_fields=["last_used_step", "updated_at"])
    codes = _replace_recovery_codes(device.user_id)
    hooks.audit_recorder()(
        actor,
        "mfa.recovery_codes_regenerated",
        object_type="user",
        object_id=str(actor.user_id),
        after={"recovery_codes": len(codes)},
    )
    return codes

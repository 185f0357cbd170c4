"""API tokens: made for a person or another system, shown once, stored as a SHA-256 digest.

A token reads ``fcrm_<prefix>_<secret>``: the 8-character prefix finds the row, the digest
of the whole token proves it. A token acts with its scopes intersected with its owner's
roles as they are at each request (fincrm.users.actors.actor_for_user).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.platform import transaction
from fincrm.platform.access import access_object, require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict, ServiceError
from fincrm.platform.permissions import exists as permission_exists
from fincrm.users.models import ApiToken, User
from fincrm.users.selectors.tokens import access_api_token, grantable_scopes, token_for_prefix

TOKEN_MARK = "fcrm_"  # noqa: S105 - the public marker, not a secret
PREFIX_LENGTH = 8
SECRET_MIN_LENGTH = 40
MAX_EXPIRY_DAYS = 365
NAME_MAX_LENGTH = 100
# last_used_at is written at most this often per token, so a busy integration does not
# turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits


def default_expiry_days() -> int:
    return int(settings.FINCRM_API_TOKEN_DEFAULT_DAYS)


def token_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _new_token() -> tuple[str, str]:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return prefix, f"{TOKEN_MARK}{prefix}_{secrets.token_urlsafe(32)}"


def split_token(plaintext: str) -> str | None:
    """The prefix of a well-formed token, else None."""
    if not plaintext.startswith(TOKEN_MARK):
        return None
    rest = plaintext[len(TOKEN_MARK) :]
    prefix, separator, secret = (
        rest[:PREFIX_LENGTH],
        rest[PREFIX_LENGTH : PREFIX_LENGTH + 1],
        rest[PREFIX_LENGTH + 1 :],
    )
    if separator != "_" or len(secret) < SECRET_MIN_LENGTH or not all(c in _PREFIX_ALPHABET for c in prefix):
        return None
    if len(prefix) != PREFIX_LENGTH:
        return None
    return prefix


def token_snapshot(token: ApiToken) -> dict[str, object]:
    """What the audit log keeps of a token: never the secret or its digest."""
    return {
        "owner_id": token.owner_id,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def _owner_for(actor: Actor, owner_id: int) -> User:
    if actor.is_operator:
        queryset = User.objects.select_related("org_unit")
        return access_object(queryset, owner_id, actor=actor, action="api.token.create", object_type="user")
    if owner_id == actor.user_id:
        require_permission(actor, "api.token.use")
        return User.objects.select_related("org_unit").get(pk=owner_id)
    managed = User.objects.visible_to(actor, "user.manage").select_related("org_unit")
    return access_object(managed, owner_id, actor=actor, action="user.manage", object_type="user")


def _clean_scopes(requested: Iterable[str] | None, grantable: list[str]) -> list[str]:
    if requested is None:
        if not grantable:
            raise ServiceError.field("scopes", _("The owner holds no permission a token could carry."))
        return grantable
    names = sorted({name.strip() for name in requested if name.strip()})
    if not names:
        raise ServiceError.field("scopes", _("Choose at least one permission."))
    unknown = [name for name in names if not permission_exists(name)]
    if unknown:
        raise ServiceError.field(
            "scopes", _("Unknown permissions: %(names)s.") % {"names": ", ".join(unknown)}
        )
    not_held = [name for name in names if name not in grantable]
    if not_held:
        raise ServiceError.field(
            "scopes",
            _("The token's owner does not hold these permissions: %(names)s.")
            % {"names": ", ".join(not_held)},
        )
    return names


@transaction.atomic
def api_token_create(
    *,
    actor: Actor,
    owner_id: int,
    name: str,
    scopes: Iterable[str] | None = None,
    expires_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Make a token; returns it with its plaintext, which is never shown again."""
    owner = _owner_for(actor, owner_id)
    clean_name = (name or "").strip()
    if not clean_name:
        raise ServiceError.field("name", _("Name the token, e.g. after the system that uses it."))
    if len(clean_name) > NAME_MAX_LENGTH:
        raise ServiceError.field("name", _("Use at most %(count)d characters.") % {"count": NAME_MAX_LENGTH})
    days = default_expiry_days() if expires_days is None else expires_days
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ServiceError.field(
            "expires_days", _("Choose from 1 to %(maximum)d days.") % {"maximum": MAX_EXPIRY_DAYS}
        )
    if not owner.is_active or owner.is_locked:
        raise ServiceError.field("owner", _("The owner is deactivated or locked."))
    clean_scopes = _clean_scopes(scopes, grantable_scopes(actor, owner.pk))

    prefix, plaintext = _new_token()
    while ApiToken.objects.filter(prefix=prefix).exists():  # pragma: no cover - 36**8 prefixes
        prefix, plaintext = _new_token()
    token = ApiToken.objects.create(
        owner=owner,
        name=clean_name,
        prefix=prefix,
        key_hash=token_digest(plaintext),
        scopes=clean_scopes,
        created_by=actor.label[:150],
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(
        actor,
        "api_token.created",
        object_type="api_token",
        object_id=str(token.pk),
        after=token_snapshot(token),
    )
    return token, plaintext


@transaction.atomic
def api_token_revoke(*, actor: Actor, token_id: object, reason: str = "") -> ApiToken:
    """Revoke one of the actor's tokens, or, with user.manage over its owner, another user's."""
    token = access_api_token(actor, token_id, for_update=True)
    if token.revoked_at is not None:
        raise Conflict(_("This token is already revoked."), code="already_revoked")
    before = token_snapshot(token)
    token.revoked_at = timezone.now()
    token.revoked_reason = (reason or "revoked by " + actor.label)[:200]
    token.save(update_fields=["revoked_at", "revoked_reason"])
    audit_record(
        actor,
        "api_token.revoked",
        object_type="api_token",
        object_id=str(token.pk),
        before=before,
        after=token_snapshot(token),
        reason=reason,
    )
    return token


@dataclass(frozen=True)
class Rejection:
    reason: str  # malformed | unknown | mismatch | revoked | expired | owner_inactive
    prefix: str = ""
    owner_id: int | None = None


def api_token_authenticate(plaintext: str, *, now: datetime | None = None) -> ApiToken | Rejection:
    """The live token this plaintext proves, or why not. Marks it used (at most once a minute)."""
    moment = now or timezone.now()
    prefix = split_token(plaintext)
    if prefix is None:
        return Rejection("malformed")
    token = token_for_prefix(prefix)
    if token is None:
        return Rejection("unknown", prefix)
    if not hmac.compare_digest(token.key_hash, token_digest(plaintext)):
        return Rejection("mismatch", prefix, token.owner_id)
    if token.revoked_at is not None:
        return Rejection("revoked", prefix, token.owner_id)
    if token.expires_at <= moment:
        return Rejection("expired", prefix, token.owner_id)
    if not token.owner.is_active or token.owner.is_locked:
        return Rejection("owner_inactive", prefix, token.owner_id)
    if token.last_used_at is None or moment - token.last_used_at >= LAST_USED_RESOLUTION:
        # Bookkeeping, not a change anyone made: no audit event.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=moment)
        token.last_used_at = moment
    return token

"""Key management: status, rotation, retirement, re-wrapping (docs/security-keys.md).

These are operator actions (the command line, ``fincrm keys``). Rotation is online: it works in
batches, each its own short transaction that locks only its rows (``SKIP LOCKED``), so reads and
writes continue; it is resumable because the work left is simply "values not under the active key".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.audit.services import audit_record
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Conflict
from fincrm.security.fields import (
    BlindIndexField,
    Ciphertext,
    EncryptedTextField,
    blind_index_columns,
    blind_index_with,
    encrypted_columns,
)
from fincrm.security.keyring import AesGcmMasterKey, MasterKeyProvider, keyring
from fincrm.security.models import DataKey

MANAGE_KEYS = "security.manage_keys"
Progress = Callable[[int], None]


def column_label(model: type[models.Model], column: EncryptedTextField | BlindIndexField) -> str:
    return f"{model._meta.label}.{column.name}"


@dataclass
class KeyStatus:
    key_id: str
    kind: str
    status: str
    created_at: datetime
    encryptions: int
    master_fingerprint: str
    uses: dict[str, int] = field(default_factory=dict)

    @property
    def values(self) -> int:
        return sum(self.uses.values())


def key_status() -> list[KeyStatus]:
    """Every key with its counts: values it encrypts per model and column, encryptions so far."""
    keys = list(DataKey.objects.order_by("kind", "created_at", "pk"))
    result = []
    for key in keys:
        status = KeyStatus(
            key_id=key.key_id,
            kind=key.kind,
            status=key.status,
            created_at=key.created_at,
            encryptions=key.encryptions + keyring.pending(key.key_id),
            master_fingerprint=key.master_fingerprint,
        )
        if key.kind == DataKey.Kind.DATA:
            for model, column in encrypted_columns():
                status.uses[column_label(model, column)] = model._base_manager.filter(
                    **{f"{column.attname}__key_id": key.key_id}
                ).count()
        else:
            for model, index in blind_index_columns():
                status.uses[column_label(model, index)] = model._base_manager.filter(
                    **{f"{index.attname}__startswith": f"{key.key_id}:"}
                ).count()
        result.append(status)
    return result


def values_not_under(key_id: str) -> int:
    """How many encrypted values (all columns) are under another key than ``key_id``."""
    total = 0
    for model, column in encrypted_columns():
        total += (
            model._base_manager.filter(**{f"{column.attname}__isnull": False})
            .exclude(**{f"{column.attname}__key_id": key_id})
            .count()
        )
    return total


def _write_tokens(model: type[models.Model], column: str, rows: list[tuple[Any, str]]) -> None:
    """Set ``column`` per primary key in one statement."""
    database = router.db_for_write(model)
    connection = connections[database]
    meta = model._meta
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        values = ", ".join(["(%s, %s)"] * len(rows))
        pk_type = meta.pk.db_type(connection)
        sql = (
            f"UPDATE {quote(meta.db_table)} AS t SET {quote(column)} = v.token "  # noqa: S608 - names quoted
            f"FROM (VALUES {values}) AS v(id, token) WHERE t.{quote(meta.pk.column)} = v.id::{pk_type}"
        )
        params = [part for row in rows for part in row]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    field = meta.get_field(column)
    assert isinstance(field, models.Field)
    model._base_manager.using(database).filter(pk__in=[pk for pk, _token in rows]).update(
        **{
            column: Case(
                *[When(pk=pk, then=Value(Ciphertext(token), output_field=field)) for pk, token in rows],
                output_field=field,
            )
        }
    )


def _reencrypt_batch(
    model: type[models.Model], column: EncryptedTextField, active_id: str, batch_size: int
) -> int:
    """Re-encrypt up to ``batch_size`` values of one column that are not under the active key."""
    with transaction.atomic(using=router.db_for_write(model)):
        rows = list(
            model._base_manager.select_for_update(skip_locked=True)
            .filter(**{f"{column.attname}__isnull": False})
            .exclude(**{f"{column.attname}__key_id": active_id})
            .order_by("pk")
            .values_list("pk", "row_uid", column.attname)[:batch_size]
        )
        if not rows:
            return 0
        fresh = [
            (pk, column.encrypt_for(row_uid, column.decrypt_for(row_uid, sealed.token)))
            for pk, row_uid, sealed in rows
        ]
        _write_tokens(model, column.column, fresh)
    return len(rows)


@dataclass
class RotationResult:
    key_id: str
    new_key: bool
    reencrypted: int
    remaining: int
    seconds: float


def key_rotate(
    *,
    actor: Actor,
    new_key: bool | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
    progress: Progress | None = None,
) -> RotationResult:
    """Make a new active data key (unless an earlier rotation is unfinished: then continue it;
    ``new_key=True`` forces one) and re-encrypt every value under an older key, in batches.

    ``max_batches`` stops early (the rest is done by running it again)."""
    require_permission(actor, MANAGE_KEYS)
    started = time.monotonic()
    active = keyring.active_key_id()
    unfinished = values_not_under(active)
    make_new = new_key if new_key is not None else unfinished == 0
    previous = active
    if make_new:
        active = keyring.new_active_key()
    done = 0
    batches = 0
    stopped = False
    for model, column in encrypted_columns():
        idle_passes = 0
        while True:
            if max_batches is not None and batches >= max_batches:
                stopped = True
                break
            count = _reencrypt_batch(model, column, active, batch_size)
            if count:
                batches += 1
                done += count
                idle_passes = 0
                if progress is not None:
                    progress(count)
                continue
            left = (
                model._base_manager.filter(**{f"{column.attname}__isnull": False})
                .exclude(**{f"{column.attname}__key_id": active})
                .count()
            )
            if not left or idle_passes >= 20:
                break
            idle_passes += 1  # rows locked by writers right now: let them finish, then look again
            time.sleep(0.05)
        if stopped:
            break
    keyring.flush()
    remaining = values_not_under(active)
    audit_record(
        actor,
        "keys.rotated",
        object_type="data_key",
        object_id=active,
        before={"active_key": previous},
        after={"active_key": active, "reencrypted": done, "remaining": remaining, "new_key": make_new},
    )
    return RotationResult(active, make_new, done, remaining, time.monotonic() - started)


@transaction.atomic
def key_retire(*, actor: Actor, key_id: str | None = None) -> list[str]:
    """Destroy retired data keys that no value uses any more (their wrapped material is erased).

    With ``key_id``, only that one, and it is an error if values still use it."""
    require_permission(actor, MANAGE_KEYS)
    candidates = DataKey.objects.select_for_update().filter(
        kind=DataKey.Kind.DATA, status=DataKey.Status.RETIRED
    )
    if key_id is not None:
        candidates = candidates.filter(key_id=key_id)
        if not candidates.exists():
            raise Conflict(f"{key_id} is not a retired data key", code="key_not_retired")
    destroyed = []
    for key in candidates:
        uses = sum(
            model._base_manager.filter(**{f"{column.attname}__key_id": key.key_id}).count()
            for model, column in encrypted_columns()
        )
        if uses:
            if key_id is not None:
                raise Conflict(
                    f"{uses} values still use {key.key_id}: finish `fincrm keys rotate` first",
                    code="key_in_use",
                )
            continue
        key.status = DataKey.Status.DESTROYED
        key.wrapped = b""
        key.destroyed_at = timezone.now()
        key.save(update_fields=["status", "wrapped", "destroyed_at"])
        destroyed.append(key.key_id)
        audit_record(
            actor,
            "keys.retired",
            object_type="data_key",
            object_id=key.key_id,
            after={"status": DataKey.Status.DESTROYED},
        )
    keyring.forget()
    return destroyed


@transaction.atomic
def key_rewrap(*, actor: Actor, new_provider: MasterKeyProvider) -> int:
    """Re-wrap every stored key under a new master key; the data is not touched."""
    require_permission(actor, MANAGE_KEYS)
    current = keyring.provider
    count = 0
    for key in DataKey.objects.select_for_update().exclude(status=DataKey.Status.DESTROYED):
        material = current.unwrap(key.key_id, bytes(key.wrapped))
        wrapped = new_provider.wrap(key.key_id, material)
        if new_provider.unwrap(key.key_id, wrapped) != material:  # pragma: no cover - defensive
            raise Conflict(_("The new master key does not round-trip."), code="rewrap_failed")
        key.wrapped = wrapped
        key.master_fingerprint = new_provider.fingerprint
        key.save(update_fields=["wrapped", "master_fingerprint"])
        count += 1
    audit_record(
        actor,
        "keys.rewrapped",
        object_type="master_key",
        object_id=new_provider.fingerprint,
        before={"master_fingerprint": current.fingerprint},
        after={"master_fingerprint": new_provider.fingerprint, "keys": count},
    )
    transaction.on_commit(lambda: keyring.use_provider(new_provider))
    return count


def _stale_indexes(model: type[models.Model], index: BlindIndexField, active: str) -> models.QuerySet[Any]:
    """Rows whose index is not under the active key and can be recomputed (the source is stored)."""
    return model._base_manager.filter(
        **{f"{index.attname}__isnull": False, f"{index.source}__isnull": False}
    ).exclude(**{f"{index.attname}__startswith": f"{active}:"})


def index_key_rotate(*, actor: Actor, batch_size: int = 1000, progress: Progress | None = None) -> int:
    """Make a new blind-index key and recompute every blind index with it (resumable: indexes
    already under the new key are skipped). Lookups miss rows not yet recomputed until it ends."""
    require_permission(actor, MANAGE_KEYS)
    active = keyring.active_key_id(DataKey.Kind.INDEX)
    stale = sum(_stale_indexes(model, index, active).count() for model, index in blind_index_columns())
    previous = active
    if stale == 0:
        active = keyring.new_active_key(DataKey.Kind.INDEX)
    key = keyring.index_key_material(active)
    done = 0
    for model, index in blind_index_columns():
        source = model._meta.get_field(index.source)
        assert isinstance(source, EncryptedTextField)
        while True:
            with transaction.atomic():
                rows = list(
                    _stale_indexes(model, index, active)
                    .select_for_update(skip_locked=True)
                    .order_by("pk")
                    .values_list("pk", "row_uid", source.attname)[:batch_size]
                )
                if not rows:
                    break
                for pk, row_uid, sealed in rows:
                    plaintext = source.decrypt_for(row_uid, sealed.token)
                    model._base_manager.filter(pk=pk).update(
                        **{index.attname: blind_index_with(active, key, plaintext, index.purpose)}
                    )
            done += len(rows)
            if progress is not None:
                progress(len(rows))
    # Indexes without a stored source (cards kept as BIN + last 4) cannot be recomputed: they stay
    # under their key, found through blind_indexes(), until a feed restates the full number.
    kept = sum(
        model._base_manager.filter(**{f"{index.attname}__isnull": False, f"{index.source}__isnull": True})
        .exclude(**{f"{index.attname}__startswith": f"{active}:"})
        .count()
        for model, index in blind_index_columns()
    )
    audit_record(
        actor,
        "keys.index_rotated",
        object_type="index_key",
        object_id=active,
        before={"active_key": previous},
        after={"active_key": active, "recomputed": done, "kept_without_source": kept},
    )
    return done


def master_key_from_file_or_env(*, key_file: str | None, env_value: str | None) -> AesGcmMasterKey:
    from pathlib import Path

    from fincrm.security.keyring import environment_master_key, file_master_key

    if key_file:
        return file_master_key(Path(key_file))
    if env_value:
        return environment_master_key(env_value, "the new master key")
    raise Conflict(_("Give the new master key with --new-key-file or --new-key-env."), code="no_new_key")

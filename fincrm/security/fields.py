"""Encrypted model fields and blind indexes (docs/security-keys.md).

``EncryptedTextField`` stores ``v1:<key id>:<b64 nonce>:<b64 ciphertext+tag>`` (AES-256-GCM). The
associated data binds the value to its table, its column and the row's immutable ``row_uid``, so a
value copied to another row or column does not decrypt. Models using it inherit ``RowUidMixin``.

How the clear value travels:

* Loading a row gives the attribute a sealed :class:`Ciphertext`; reading the attribute decrypts it
  (once, lazily: the descriptor knows the instance and so its ``row_uid``).
* Saving encrypts in ``pre_save`` (insert, update and ``bulk_create``); a value already sealed
  under the active key is written back as it is.
* Anything else that would put a clear value into SQL — ``QuerySet.update(field="…")``,
  ``filter(field="…")``, ``bulk_update`` — is refused with :class:`EncryptedFieldError`. Exact
  lookups use the companion ``BlindIndexField`` and :func:`blind_index`.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
import uuid
from collections.abc import Callable
from hashlib import sha256
from typing import Any

from django.core import checks
from django.db import models
from django.db.models.lookups import Lookup
from django.db.models.query_utils import DeferredAttribute

from fincrm.security.keyring import KEY_ID_PATTERN, keyring, token_key_id


class EncryptedFieldError(TypeError):
    """A clear value would have reached SQL outside a model save."""


class Ciphertext:
    """A stored encrypted value, with its clear text once decrypted (never pickled)."""

    __slots__ = ("plaintext", "token")

    def __init__(self, token: str, plaintext: str | None = None) -> None:
        self.token = token
        self.plaintext = plaintext

    @property
    def key_id(self) -> str:
        return token_key_id(self.token)

    def __repr__(self) -> str:
        return f"<Ciphertext under {self.key_id}>"

    def __str__(self) -> str:
        return self.token

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ciphertext) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __getstate__(self) -> dict[str, str]:
        return {"token": self.token}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.token = state["token"]
        self.plaintext = None


def associated_data(db_table: str, column: str, row_uid: uuid.UUID | str) -> bytes:
    return f"fincrm:v1:{db_table}:{column}:{uuid.UUID(str(row_uid))}".encode()


class _RowUidAttribute(DeferredAttribute):
    """Refuses to change a row's ``row_uid`` once the row exists: its encrypted values name it."""

    def __set__(self, instance: models.Model, value: Any) -> None:
        name = self.field.attname
        current = instance.__dict__.get(name)
        if (
            current is not None
            and value is not None
            and not instance._state.adding
            and uuid.UUID(str(value)) != uuid.UUID(str(current))
        ):
            raise ValueError("row_uid never changes: the row's encrypted values are bound to it")
        instance.__dict__[name] = value


class RowUidField(models.UUIDField):
    """``UUIDField(default=uuid.uuid4, editable=False, unique=True)`` that refuses reassignment."""

    descriptor_class = _RowUidAttribute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", uuid.uuid4)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("unique", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        # Field.deconstruct leaves out unique=False (Field's own default), and __init__ would then
        # turn it back on: migrations must say so explicitly.
        name, path, args, kwargs = super().deconstruct()
        if not self.unique:
            kwargs["unique"] = False
        return name, path, args, kwargs


class RowUidMixin(models.Model):
    """The immutable row id every model with encrypted fields carries (made before insert)."""

    row_uid = RowUidField()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Saving an encrypted field by name also saves its blind indexes, so they never go stale.
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            names = set(update_fields)
            for field in self._meta.concrete_fields:
                if isinstance(field, BlindIndexField) and field.source in names:
                    names.add(field.name)
            kwargs["update_fields"] = sorted(names)
        super().save(*args, **kwargs)


class _EncryptedAttribute(DeferredAttribute):
    """Decrypts on first read with the instance's ``row_uid``; stores whatever is assigned."""

    field: EncryptedTextField

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        name = self.field.attname
        if name not in instance.__dict__:
            super().__get__(instance, cls)  # a deferred field: load it
        value = instance.__dict__[name]
        if isinstance(value, Ciphertext):
            if value.plaintext is None:
                value.plaintext = self.field.decrypt_for(instance.row_uid, value.token)
            return value.plaintext
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


def _refuse(field: models.Field[Any, Any]) -> EncryptedFieldError:
    return EncryptedFieldError(
        f"{field.model.__name__}.{field.name} is encrypted: write it by saving the model, and look "
        "it up through its blind index, never with a clear value in a query"
    )


class EncryptedTextField(models.TextField):
    """Text stored AES-256-GCM encrypted, bound to table, column and ``row_uid``."""

    descriptor_class = _EncryptedAttribute
    description = "Encrypted text"

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        names = {field.name for field in self.model._meta.get_fields()}
        if "row_uid" not in names:
            errors.append(
                checks.Error(
                    "A model with an EncryptedTextField needs a row_uid (inherit RowUidMixin).",
                    obj=self,
                    id="security.E001",
                )
            )
        if self.unique or self.db_index:  # type: ignore[attr-defined]
            errors.append(
                checks.Error(
                    "An encrypted field cannot be unique or indexed; add a BlindIndexField.",
                    obj=self,
                    id="security.E002",
                )
            )
        return errors

    # -- encryption with the row's associated data ---------------------------------------------
    def _aad(self, row_uid: uuid.UUID | str) -> bytes:
        if row_uid is None:
            raise EncryptedFieldError(f"{self.model.__name__} has no row_uid yet")
        return associated_data(self.model._meta.db_table, self.column, row_uid)

    def encrypt_for(self, row_uid: uuid.UUID | str, plaintext: str) -> str:
        return keyring.encrypt(plaintext.encode("utf-8"), self._aad(row_uid))

    def decrypt_for(self, row_uid: uuid.UUID | str, token: str) -> str:
        return keyring.decrypt(token, self._aad(row_uid)).decode("utf-8")

    # -- the ORM ---------------------------------------------------------------------------------
    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = model_instance.__dict__.get(self.attname)
        if value is None:
            return None
        if isinstance(value, Ciphertext):
            if value.key_id == keyring.active_key_id():
                return value
            plaintext = getattr(model_instance, self.attname)  # re-encrypt under the active key
        else:
            plaintext = value if isinstance(value, str) else str(value)
        sealed = Ciphertext(self.encrypt_for(model_instance.row_uid, plaintext), plaintext)  # type: ignore[attr-defined]
        model_instance.__dict__[self.attname] = sealed
        return sealed

    def get_lookup(self, lookup_name: str) -> Any:
        # Pattern and range lookups would compare ciphertext (or leak clear text): not offered.
        if lookup_name not in {"exact", "in", "isnull", "key_id"}:
            return None
        return super().get_lookup(lookup_name)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Ciphertext | None:
        return None if value is None else Ciphertext(value)

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, Ciphertext):
            return value
        raise _refuse(self)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if isinstance(value, Ciphertext):
            return value.token
        raise _refuse(self)

    def value_to_string(self, obj: models.Model) -> str:
        """Serialized (dumpdata) as ciphertext: a dump never holds the clear value."""
        sealed = self.pre_save(obj, add=False)
        return "" if sealed is None else sealed.token


@EncryptedTextField.register_lookup
class KeyIdLookup(Lookup):
    """``filter(secret__key_id="k1")``: values encrypted under a key (no decryption)."""

    lookup_name = "key_id"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if not isinstance(self.rhs, str) or not KEY_ID_PATTERN.match(self.rhs):
            raise ValueError(f"not a key id: {self.rhs!r}")
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} LIKE %s", [*lhs_params, f"v1:{self.rhs}:%"]


# -- blind indexes ---------------------------------------------------------------------------------
Normalizer = Callable[[str], str]

_WHITESPACE = re.compile(r"\s+")


def _settled(step: Callable[[str], str], value: str) -> str:
    """Apply ``step`` until nothing changes (removing a character can let NFKC compose its
    neighbours), so every normalizer is idempotent."""
    for _round in range(8):
        following = step(value)
        if following == value:
            break
        value = following
    return value


def normalize_text(value: str) -> str:
    """NFKC, trimmed, inner whitespace collapsed to one space."""
    return _settled(lambda text: _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip(), value)


def normalize_id_number(value: str) -> str:
    """ID document numbers: NFKC (full-width digits become ASCII), no spaces or hyphens, upper case."""
    return _settled(lambda text: re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text)).upper(), value)


def normalize_digits(value: str) -> str:
    """Card and account numbers: the digits only."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch in "0123456789")


def normalize_email(value: str) -> str:
    return _settled(lambda text: normalize_text(text).replace(" ", "").lower(), value)


def normalize_mobile(value: str) -> str:
    """E.164: ``138 0013 8000``, ``+86-138-0013-8000`` and ``008613800138000`` → ``+8613800138000``.

    Numbers without a country code are taken as mainland China (+86)."""
    text = unicodedata.normalize("NFKC", value).strip()
    digits = normalize_digits(text)
    if not digits:
        return ""
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:] if digits[2:] else ""
    if len(digits) == 13 and digits.startswith("86"):
        return "+" + digits
    return "+86" + digits


_purposes: dict[str, Normalizer] = {}


def register_purpose(purpose: str, normalizer: Normalizer) -> None:
    """Name what a blind index is for and how its input is normalized (one normalizer per purpose)."""
    existing = _purposes.get(purpose)
    if existing is not None and existing is not normalizer:
        raise ValueError(f"the blind-index purpose {purpose!r} already has another normalizer")
    _purposes[purpose] = normalizer


for _purpose, _normalizer in (
    ("id_number", normalize_id_number),
    ("mobile", normalize_mobile),
    ("email", normalize_email),
    ("card_number", normalize_digits),
    ("account_number", normalize_digits),
    ("text", normalize_text),
):
    register_purpose(_purpose, _normalizer)


def normalizer_for(purpose: str) -> Normalizer:
    try:
        return _purposes[purpose]
    except KeyError:
        raise ValueError(f"unknown blind-index purpose {purpose!r}") from None


def blind_index_with(key_id: str, key: bytes, value: str, purpose: str) -> str:
    normalized = normalizer_for(purpose)(value)
    if not normalized:
        raise ValueError("an empty value has no blind index")
    digest = hmac.new(key, purpose.encode() + b"\x00" + normalized.encode("utf-8"), sha256).hexdigest()
    return f"{key_id}:{digest}"


def blind_index(value: str, purpose: str) -> str:
    """The blind index of ``value`` for exact-match lookups:
    ``Model.objects.filter(id_number_bidx=blind_index(v, "id_number"))``."""
    key_id, key = keyring.index_key()
    return blind_index_with(key_id, key, value, purpose)


def blind_indexes(value: str, purpose: str) -> list[str]:
    """The blind index of ``value`` under every index key not destroyed: for lookups of indexes
    that a rotation cannot recompute (a card kept as BIN + last 4 keeps its index under the key it
    was written with until a feed restates the full number)."""
    return [
        blind_index_with(key_id, keyring.index_key_material(key_id), value, purpose)
        for key_id in keyring.live_index_key_ids()
    ]


class BlindIndexField(models.CharField):
    """HMAC-SHA-256 (``<index key id>:<hex>``) of ``source`` normalized for ``purpose``, kept in step
    on save. Empty values have no index (NULL)."""

    def __init__(
        self,
        *args: Any,
        source: str,
        purpose: str,
        normalizer: Normalizer | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_length", 80)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        self.source = source
        self.purpose = purpose
        if normalizer is not None:
            register_purpose(purpose, normalizer)
        else:
            normalizer_for(purpose)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs["purpose"] = self.purpose
        kwargs["db_index"] = bool(getattr(self, "db_index", True))  # the default here is True, Django's False
        return name, path, args, kwargs

    def db_type(self, connection: Any) -> str | None:
        # Spelled out on PostgreSQL so that no second "varchar_pattern_ops" index is made for it:
        # a blind index is compared whole, never searched with LIKE.
        if connection.vendor == "postgresql":
            return f"character varying({self.max_length})"
        return super().db_type(connection)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        source = model_instance._meta.get_field(self.source)
        assert isinstance(source, models.Field)
        raw = model_instance.__dict__.get(source.attname)
        if isinstance(raw, Ciphertext) and raw.plaintext is None:
            return getattr(model_instance, self.attname)  # loaded and untouched: unchanged
        plaintext = raw.plaintext if isinstance(raw, Ciphertext) else raw
        value = None
        if plaintext is not None and normalizer_for(self.purpose)(str(plaintext)):
            value = blind_index(str(plaintext), self.purpose)
        setattr(model_instance, self.attname, value)
        return value


def encrypted_columns() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every encrypted column of every installed model (each once, on the model that owns it)."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        for field in model._meta.local_concrete_fields:
            if isinstance(field, EncryptedTextField):
                found.append((model, field))
    return found


def blind_index_columns() -> list[tuple[type[models.Model], BlindIndexField]]:
    from django.apps import apps

    found = []
    for model in apps.get_models():
        for field in model._meta.local_concrete_fields:
            if isinstance(field, BlindIndexField):
                found.append((model, field))
    return found


def drop_pattern_indexes(tables: dict[str, list[str]]) -> Any:
    """A migration step dropping the LIKE ("_like", varchar_pattern_ops) indexes PostgreSQL got
    for blind-index columns before BlindIndexField stopped asking for them."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for table, columns in tables.items():
                cursor.execute(
                    "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                    "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_attribute a ON a.attrelid = t.oid "
                    "AND a.attnum = x.indkey[0] WHERE t.relname = %s AND a.attname = ANY(%s) "
                    "AND x.indnatts = 1 AND i.relname LIKE %s",
                    [table, columns, "%\\_like"],
                )
                for (index,) in cursor.fetchall():
                    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(index)}")

    return forwards

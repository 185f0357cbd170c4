"""Personal financial information classes (JR/T 0171-2020) and the registry of personal-data fields.

Every model field that holds personal data is declared here, or in a ``personal_data.py`` of its
own app (loaded by ``load_declarations``), with its class, its display mask and whether it is
stored encrypted::

    # fincrm/customers/personal_data.py
    from fincrm.security.classification import C2, classify

    classify("customers.Customer.name", C2, "name")
    classify("customers.Customer.mobile", C2, "mobile", encrypted=True)

A field whose name looks personal (``unclassified_personal_fields``) but is neither classified nor
declared ``not_personal`` fails tests/security/test_classification.py. See docs/security-masking.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.utils.module_loading import autodiscover_modules

from fincrm.security.masking import MASKS, mask


class DataClass(StrEnum):
    """JR/T 0171-2020 section 4.2: C3 authentication data, C2 identifies the person or their
    finances, C1 internal information of the institution about the person."""

    C1 = "C1"
    C2 = "C2"
    C3 = "C3"


C1, C2, C3 = DataClass.C1, DataClass.C2, DataClass.C3

# JR/T 0197-2020 grades data in 5 levels; this mapping is the default (check against the official
# text). Override with settings.FINCRM_DATA_LEVELS = {"C1": 2, "C2": 3, "C3": 4}.
DEFAULT_LEVELS: dict[DataClass, int] = {C3: 4, C2: 3, C1: 2}


def data_levels() -> dict[DataClass, int]:
    levels = dict(DEFAULT_LEVELS)
    overrides = getattr(settings, "FINCRM_DATA_LEVELS", None) or {}
    if not isinstance(overrides, Mapping):
        raise ImproperlyConfigured("FINCRM_DATA_LEVELS must be a dict of class -> level")
    for name, level in overrides.items():
        if name not in DataClass.__members__:
            raise ImproperlyConfigured(f"FINCRM_DATA_LEVELS: unknown class {name!r}")
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise ImproperlyConfigured(f"FINCRM_DATA_LEVELS[{name!r}] must be a level from 1 to 5")
        levels[DataClass(name)] = level
    if not levels[C1] <= levels[C2] <= levels[C3]:
        raise ImproperlyConfigured("FINCRM_DATA_LEVELS: C3 must be graded at least as high as C2, C2 as C1")
    return levels


def data_level(data_class: DataClass | str) -> int:
    """The JR/T 0197 level (1-5) of a JR/T 0171 class."""
    return data_levels()[DataClass(data_class)]


@dataclass(frozen=True)
class Classification:
    data_class: DataClass
    # A kind from fincrm.security.masking.MASKS; None: shown as stored (C1 only).
    mask: str | None = None
    # Stored AES-256-GCM encrypted (fincrm.security.fields); DOMAIN.md lists which identifiers must be.
    encrypted: bool = False
    note: str = ""

    @property
    def level(self) -> int:
        return data_level(self.data_class)


# "app_label.Model.field" -> its classification; and fields that look personal but are not.
PERSONAL_DATA: dict[str, Classification] = {}
NOT_PERSONAL: dict[str, str] = {}

_LABEL = re.compile(r"[a-z_][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*\.[a-z_][a-z0-9_]*")


class ClassificationError(ImproperlyConfigured):
    """A declaration is malformed or contradicts an earlier one."""


def _check_label(label: str) -> None:
    if not _LABEL.fullmatch(label):
        raise ClassificationError(f"{label!r}: name a field as 'app_label.Model.field'")


def classify(
    label: str,
    data_class: DataClass | str,
    mask: str | None = None,
    *,
    encrypted: bool = False,
    note: str = "",
) -> Classification:
    """Declare ``label`` ("app_label.Model.field") personal data of ``data_class``, masked with ``mask``."""
    _check_label(label)
    try:
        data_class = DataClass(data_class)
    except ValueError as error:
        raise ClassificationError(f"{label}: unknown class {data_class!r} (C1, C2 or C3)") from error
    if mask is not None and mask not in MASKS:
        raise ClassificationError(f"{label}: unknown mask kind {mask!r}")
    if data_class != C1 and mask is None:
        raise ClassificationError(f"{label}: a {data_class} field must name a mask")
    if data_class == C3 and mask != "full":
        raise ClassificationError(f"{label}: C3 (authentication) data is always fully masked")
    if label in NOT_PERSONAL:
        raise ClassificationError(f"{label} is declared not personal")
    classification = Classification(data_class, mask, encrypted, note)
    existing = PERSONAL_DATA.get(label)
    if existing is not None and existing != classification:
        raise ClassificationError(f"{label} classified twice with different meanings")
    PERSONAL_DATA[label] = classification
    return classification


def not_personal(label: str, *, reason: str) -> None:
    """Declare that a field whose name looks personal holds no personal data, and why."""
    _check_label(label)
    if not reason.strip():
        raise ClassificationError(f"{label}: say why it is not personal data")
    if label in PERSONAL_DATA:
        raise ClassificationError(f"{label} is classified as personal data")
    NOT_PERSONAL[label] = reason


_declarations_loaded = False


def load_declarations() -> None:
    """Import every installed app's ``personal_data`` module (once per process)."""
    global _declarations_loaded
    if not _declarations_loaded:
        autodiscover_modules("personal_data")
        _declarations_loaded = True


def field_label(model: type[models.Model] | str, field_name: str) -> str:
    model_label = model if isinstance(model, str) else model._meta.label
    return f"{model_label}.{field_name}"


def classification_of(model: type[models.Model] | str, field_name: str) -> Classification | None:
    load_declarations()
    return PERSONAL_DATA.get(field_label(model, field_name))


def mask_value(model: type[models.Model] | str, field_name: str, value: Any) -> str:
    """A field's value as it may be displayed, logged or exported without the unmask permission."""
    classification = classification_of(model, field_name)
    if classification is not None and classification.mask is not None:
        return mask(classification.mask, value)
    return "" if value is None else str(value)


# ---------------------------------------------------------------- the checker

# Field names that suggest personal data (matched against the lower-case field name).
PERSONAL_FIELD_NAME = re.compile(
    r"""
    ^name$ | surname | (^|_)(full|first|last|given|family|middle|legal|maiden|nick|holder|customer
        |contact|spouse|beneficiary|counterparty|payer|payee|client|person)_?name$
    | mobile | phone | (^|_)tel(ephone)?(_|$) | (^|_)fax(_|$) | e_?mail
    | (^|_)id_?(number|no|card|document)(_|$) | passport | (^|_)permit(_|$) | identity | (^|_)ric(_|$)
    | (^|_)ssn(_|$) | tax_?id | document_number | certificate_(number|no)
    | address | (^|_)addr(_|$) | post_?code | zip_?code
    | (^|_)card(_|$) | (^|_)pan(_|$) | account_?(number|no)$ | (^|_)account$ | iban
    | birth | (^|_)dob(_|$) | gender | (^|_)sex(_|$) | nationality | ethnic | marital | occupation | employer
    | income | salary | (^|_)assets?(_|$) | (^|_)aum(_|$) | balance | net_worth
    | (^|_)(password|passwd|pwd)(_hash)?$ | (^|_)pin(_|$) | (^|_)(cvv|cvn|cvc)2?(_|$) | secret | biometric
    | (^|_)ip(_address)?$ | client_ip | user_agent | location | latitude | longitude | (^|_)gps(_|$)
    """,
    re.VERBOSE,
)


def _field_class_named(field: models.Field[Any, Any], fragment: str) -> bool:
    return any(
        cls.__module__.startswith("fincrm.security") and fragment in cls.__name__
        for cls in type(field).__mro__
    )


def is_encrypted_field(field: models.Field[Any, Any]) -> bool:
    return _field_class_named(field, "Encrypted")


def looks_personal(field: models.Field[Any, Any]) -> bool:
    # Relations point at rows (the row's own fields are checked); a yes/no flag holds no identifier.
    if field.is_relation or field.primary_key or isinstance(field, models.BooleanField):
        return False
    # A blind index is covered by the classification of the field it indexes.
    if _field_class_named(field, "BlindIndex"):
        return False
    return is_encrypted_field(field) or bool(PERSONAL_FIELD_NAME.search(field.name.lower()))


def project_models() -> list[type[models.Model]]:
    return [
        model
        for app_config in apps.get_app_configs()
        if app_config.name.startswith("fincrm.")
        for model in app_config.get_models()
    ]


def _fields(models_: Iterable[type[models.Model]]) -> Iterable[tuple[str, models.Field[Any, Any]]]:
    for model in models_:
        for field in model._meta.local_fields:
            yield field_label(model, field.name), field


def unclassified_personal_fields(models_: Iterable[type[models.Model]] | None = None) -> list[str]:
    """Fields that look personal but are neither classified nor declared not personal."""
    load_declarations()
    return sorted(
        label
        for label, field in _fields(project_models() if models_ is None else models_)
        if looks_personal(field) and label not in PERSONAL_DATA and label not in NOT_PERSONAL
    )


def stale_declarations() -> list[str]:
    """Declarations naming a model or field that does not exist (renamed or removed)."""
    load_declarations()
    stale = []
    for label in sorted([*PERSONAL_DATA, *NOT_PERSONAL]):
        model_label, field_name = label.rsplit(".", 1)
        try:
            apps.get_model(model_label)._meta.get_field(field_name)
        except (LookupError, FieldDoesNotExist):
            stale.append(label)
    return stale


def misdeclared_encryption(models_: Iterable[type[models.Model]] | None = None) -> list[str]:
    """Classified fields whose ``encrypted`` flag does not match how the field is stored."""
    load_declarations()
    return sorted(
        label
        for label, field in _fields(project_models() if models_ is None else models_)
        if label in PERSONAL_DATA and PERSONAL_DATA[label].encrypted != is_encrypted_field(field)
    )


def check_personal_data(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """System check: every personal-looking field is classified; no declaration is stale."""
    errors: list[checks.CheckMessage] = [
        checks.Error(
            f"{label} looks like personal data but has no JR/T 0171 classification",
            hint="Declare it with fincrm.security.classification.classify() or not_personal().",
            id="fincrm_security.E001",
        )
        for label in unclassified_personal_fields()
    ]
    errors += [
        checks.Error(f"{label} is declared but no such field exists", id="fincrm_security.E002")
        for label in stale_declarations()
    ]
    return errors


# ---------------------------------------------------------------- declarations of the existing apps
# Written here for now; an app may move its lines into its own personal_data.py.

_STAFF = "staff member's personal information (an employee is a natural person)"

classify("users.User.full_name", C2, "name", note=_STAFF)
classify("users.User.email", C2, "email", note=_STAFF)
classify("users.User.username", C1, note="staff sign-in name, shown to administrators and in audit")
classify("users.User.password", C3, "full", note="Argon2id hash; never shown")
classify("users.User.last_login", C1)
classify("users.LoginAttempt.username", C1, note="the name typed at sign-in")
classify("users.LoginAttempt.client_ip", C1)
classify("users.UserSession.client_ip", C1)
classify("users.UserSession.user_agent", C1)
classify("users.MfaDevice.secret", C3, "full", encrypted=True, note="TOTP secret")
classify("users.RecoveryCode.code_hash", C3, "full", note="SHA-256 of a recovery code")
classify("audit.AuditEvent.client_ip", C1)
classify("audit.AuditEvent.user_agent", C1)
classify("audit.SecurityEvent.client_ip", C1)
classify("audit.SecurityEvent.user_agent", C1)

not_personal("users.Role.name", reason="name of a role")
not_personal("users.ApiToken.name", reason="label of another system's API token")
not_personal("org.OrgUnit.name", reason="name of a branch or department")
not_personal("org.Team.name", reason="name of a team")

"""What each kind of import file holds: its fields, its key, and how one cell is read.

An import file (or a feed file) holds one entity. Its header names columns; a mapping says which
column feeds which field (feeds use the field names themselves). Every cell is parsed here, in
plain Python with no database access, so the importer can run this part in worker processes:
``Cells.parse`` returns the normalized value or raises ``Bad`` with a stable rule code and a
localized message. Sensitive fields (C2 identifiers) are masked in every report.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.customers.identity import check_email, check_id_number, check_mobile
from fincrm.customers.models import (
    AmlRiskRating,
    CustomerKind,
    Gender,
    IdType,
    IncomeBand,
    LifecycleStage,
    Relationship,
    RiskTolerance,
    SourceChannel,
    ValueTier,
)
from fincrm.integration.models import ImportEntity
from fincrm.portfolio.models import Account, Transaction
from fincrm.products.models import ProductType, RiskLevel
from fincrm.security.masking import mask

Message = str | Promise
CellParser = Callable[[object, str], Any]
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Bad(Exception):
    """One cell breaks one rule."""

    def __init__(self, code: str, message: Message) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: Message
    # text, code, address, date, datetime, decimal, int, bool, choice, currency,
    # id_number, mobile, email, account
    kind: str
    required: bool = False  # required when the row creates a record
    max_length: int = 200
    choices: tuple[str, ...] = ()
    mask_kind: str = ""  # a fincrm.security.masking kind: the field is sensitive (encrypted, masked)

    @property
    def sensitive(self) -> bool:
        return bool(self.mask_kind)


@dataclass(frozen=True)
class EntitySpec:
    code: str
    label: Message
    fields: tuple[FieldSpec, ...]
    key: tuple[str, ...]  # the fields that identify a record
    deletes: Message  # what a feed's delete ("D") does
    by_name: dict[str, FieldSpec] = dataclasses.field(init=False, repr=False, compare=False)
    required: tuple[str, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Looked up for every row: computed once.
        object.__setattr__(self, "by_name", {spec.name: spec for spec in self.fields})
        object.__setattr__(self, "required", tuple(spec.name for spec in self.fields if spec.required))

    def field(self, name: str) -> FieldSpec:
        return self.by_name[name]


def _values(choices: Any) -> tuple[str, ...]:
    return tuple(str(value) for value in choices.values)


def F(name: str, label: Message, kind: str = "text", **options: Any) -> FieldSpec:
    return FieldSpec(name, label, kind, **options)


CUSTOMER_FIELDS = (
    F("customer_number", _("customer number"), "code", required=True, max_length=32),
    F("kind", _("customer type"), "choice", required=True, choices=_values(CustomerKind)),
    F("name", _("name"), required=True, max_length=200),
    F("id_type", _("ID type"), "choice", choices=_values(IdType)),
    F("id_number", _("ID number"), "id_number", mask_kind="id_number"),
    F("id_expires_on", _("ID expiry date"), "date"),
    F("gender", _("gender"), "choice", choices=_values(Gender)),
    F("birth_date", _("date of birth"), "date"),
    F("nationality", _("nationality"), max_length=3),
    F("mobile", _("mobile number"), "mobile", mask_kind="mobile"),
    F("email", _("e-mail"), "email", mask_kind="email"),
    F("address", _("address"), "address", max_length=500, mask_kind="address"),
    F("occupation", _("occupation"), max_length=100),
    F("employer", _("employer"), max_length=200),
    F("income_band", _("income band"), "choice", choices=_values(IncomeBand)),
    F("source_of_funds", _("source of funds"), max_length=200),
    F("industry", _("industry"), max_length=100),
    F("aml_risk_rating", _("AML risk rating"), "choice", choices=_values(AmlRiskRating)),
    F("aml_next_review_on", _("next AML review"), "date"),
    F("risk_tolerance", _("risk tolerance"), "choice", choices=_values(RiskTolerance)),
    F("risk_assessed_on", _("risk assessment date"), "date"),
    F("risk_expires_on", _("risk assessment expiry"), "date"),
    F("is_professional_investor", _("professional investor"), "bool"),
    F("lifecycle_stage", _("lifecycle stage"), "choice", choices=_values(LifecycleStage)),
    F("source_channel", _("source channel"), "choice", choices=_values(SourceChannel)),
    F("value_tier", _("value tier"), "choice", choices=_values(ValueTier)),
    F("org_unit", _("home branch (org unit code)"), "code", required=True, max_length=32),
    F("primary_manager", _("primary account manager (user name)"), "code", max_length=150),
    F("covering_team", _("covering team (team code)"), "code", max_length=32),
    F("parent_company", _("parent company (customer number)"), "code", max_length=32),
)

CONTACT_FIELDS = (
    F("customer_number", _("customer number"), "code", required=True, max_length=32),
    F("related_customer_number", _("related customer number"), "code", required=True, max_length=32),
    F("kind", _("relationship"), "choice", required=True, choices=_values(Relationship.Kind)),
    F("starts_on", _("start date"), "date"),
    F("ends_on", _("end date"), "date"),
    F("note", _("note"), max_length=200),
)

ACCOUNT_FIELDS = (
    F("account_number", _("account number"), "account", required=True, max_length=34, mask_kind="account"),
    F("customer_number", _("customer number"), "code", required=True, max_length=32),
    F("kind", _("account type"), "choice", required=True, choices=_values(Account.Kind)),
    F("product", _("product (code)"), "code", max_length=32),
    F("currency", _("currency"), "currency"),
    F("balance", _("balance"), "decimal"),
    F("opened_on", _("opening date"), "date", required=True),
    F("status", _("status"), "choice", choices=_values(Account.Status)),
    F("org_unit", _("org unit code"), "code", max_length=32),
)

HOLDING_FIELDS = (
    F("source_ref", _("source reference"), "code", required=True, max_length=64),
    F("customer_number", _("customer number"), "code", required=True, max_length=32),
    F("account_number", _("account number"), "account", max_length=34, mask_kind="account"),
    F("product", _("product (code)"), "code", required=True, max_length=32),
    F("amount", _("principal"), "decimal", required=True),
    F("currency", _("currency"), "currency"),
    F("market_value", _("market value"), "decimal", required=True),
    F("cash_value", _("cash value"), "decimal"),
    F("start_date", _("start date"), "date", required=True),
    F("maturity_date", _("maturity date"), "date"),
)

TRANSACTION_FIELDS = (
    F("source_ref", _("source reference"), "code", required=True, max_length=64),
    F("account_number", _("account number"), "account", required=True, max_length=34, mask_kind="account"),
    F("booked_at", _("booked at"), "datetime", required=True),
    F("business_date", _("business date"), "date"),
    F("amount", _("amount"), "decimal", required=True),
    F("currency", _("currency"), "currency"),
    F("direction", _("direction"), "choice", required=True, choices=_values(Transaction.Direction)),
    F("channel", _("channel"), "choice", required=True, choices=_values(Transaction.Channel)),
    F("transaction_type", _("transaction type"), "choice", required=True, choices=_values(Transaction.Type)),
    F("counterparty_account", _("counterparty account"), "account", max_length=34, mask_kind="account"),
    F("cross_border", _("cross-border"), "bool"),
)

PRODUCT_FIELDS = (
    F("code", _("product code"), "code", required=True, max_length=32),
    F("name", _("product name"), required=True, max_length=200),
    F("product_type", _("product type"), "choice", required=True, choices=_values(ProductType)),
    F("issuer", _("issuer"), max_length=200),
    F("risk_level", _("risk level"), "choice", required=True, choices=_values(RiskLevel)),
    F("currency", _("currency"), "currency"),
    F("term_days", _("term (days)"), "int"),
    F("is_private", _("private placement"), "bool"),
    F("is_active", _("on sale"), "bool"),
)

ENTITIES: dict[str, EntitySpec] = {
    spec.code: spec
    for spec in (
        EntitySpec(
            ImportEntity.CUSTOMERS,
            ImportEntity.CUSTOMERS.label,
            CUSTOMER_FIELDS,
            ("customer_number",),
            _("not allowed: customers are closed or restricted, never deleted by a file"),
        ),
        EntitySpec(
            ImportEntity.CONTACTS,
            ImportEntity.CONTACTS.label,
            CONTACT_FIELDS,
            ("customer_number", "related_customer_number", "kind"),
            _("ends the relationship on the day the feed is applied"),
        ),
        EntitySpec(
            ImportEntity.ACCOUNTS,
            ImportEntity.ACCOUNTS.label,
            ACCOUNT_FIELDS,
            ("account_number",),
            _("closes the account (status closed)"),
        ),
        EntitySpec(
            ImportEntity.HOLDINGS,
            ImportEntity.HOLDINGS.label,
            HOLDING_FIELDS,
            ("source_ref",),
            _("removes the holding (the position is closed)"),
        ),
        EntitySpec(
            ImportEntity.TRANSACTIONS,
            ImportEntity.TRANSACTIONS.label,
            TRANSACTION_FIELDS,
            ("account_number", "source_ref"),
            _("removes the transaction (reversed in the core system)"),
        ),
        EntitySpec(
            ImportEntity.PRODUCTS,
            ImportEntity.PRODUCTS.label,
            PRODUCT_FIELDS,
            ("code",),
            _("takes the product off sale"),
        ),
    )
}


def default_mapping(entity: str) -> dict[str, str]:
    """Every field of ``entity`` read from the column of the same name (the feed format)."""
    return {spec.name: spec.name for spec in ENTITIES[entity].fields}


def masked(spec: FieldSpec, value: object) -> str:
    """A cell as it may appear in a report: masked when the field is sensitive, clipped to 200."""
    text = "" if value is None else str(value)
    if spec.sensitive and text:
        return mask(spec.mask_kind, text)[:200]
    return text[:200]


# ---------------------------------------------------------------- cell parsers

_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.\-@]*")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,2})?")
_INT = re.compile(r"-?[0-9]{1,9}")
_DATE_SHAPES = (
    re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"),
    re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})"),
    re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"),
)
_TRUE = frozenset({"true", "1", "y", "yes", "t", "是"})
_FALSE = frozenset({"false", "0", "n", "no", "f", "否"})
# Identifier cells that a spreadsheet stored as numbers have lost digits beyond the 15th.
_IDENTIFIER_KINDS = frozenset({"id_number", "account", "mobile"})


@lru_cache(maxsize=65_536)
def parse_date_text(text: str) -> date:
    for shape in _DATE_SHAPES:
        match = shape.fullmatch(text)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                break
    raise Bad("date", _("Not a date: write it as YYYY-MM-DD, e.g. 2026-01-31."))


def _date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return parse_date_text(str(value).strip())


def _datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            raise Bad(
                "date", _("Not a date and time: write it as YYYY-MM-DDTHH:MM:SS (optionally +08:00).")
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise Bad("decimal", _("Not an amount: write digits with at most 2 decimals, e.g. 1234.50."))
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        text = str(value).strip()
        if not _DECIMAL.fullmatch(text):
            raise Bad("decimal", _("Not an amount: write digits with at most 2 decimals, e.g. 1234.50."))
        return Decimal(text)
    if number != number.quantize(Decimal("0.01")) or abs(number) >= Decimal("1e18"):
        raise Bad("decimal", _("Not an amount: write digits with at most 2 decimals, e.g. 1234.50."))
    return number


def _int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if not _INT.fullmatch(text):
        raise Bad("format", _("Not a whole number."))
    return int(text)


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Bad("choice", _("Write true or false (also 1/0, Y/N, 是/否)."))


def checked_value(checked: Any, *, code: str = "format") -> str:
    """The value of a fincrm.customers.identity check, or Bad: ``checksum`` for a failed check
    digit, else ``code``. A warning staff could override with a reason (a USCC check character)
    refuses the row: a file carries no reason."""
    if checked.error is not None:
        raise Bad("checksum" if checked.error.code in ("checksum", "luhn") else code, checked.error.message)
    blocking = checked.blocking_warnings
    if blocking:
        raise Bad("checksum", blocking[0].message)
    return str(checked.value)


def _account(value: object) -> str:
    text = re.sub(r"[\s\-]", "", str(value))
    if not text.isascii() or not text.isdigit() or not 6 <= len(text) <= 34:
        raise Bad("format", _("An account number has 6 to 34 digits."))
    return text


_NUMBER_CELL = _(
    "The spreadsheet stored this identifier as a number (digits after the 15th are lost): "
    "format the column as text."
)
_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def _text_parser(spec: FieldSpec) -> CellParser:
    limit, is_code = spec.max_length, spec.kind == "code"

    def parse(value: object, _id_type: str) -> str:
        text = (value if type(value) is str else str(value)).strip()
        if len(text) > limit:
            raise Bad("too_long", _("At most %(count)d characters.") % {"count": limit})
        if is_code and not _CODE.fullmatch(text):
            raise Bad("format", _("Letters, digits, '.', '_', '-' and '@' only, no spaces."))
        return text

    return parse


def _choice_parser(spec: FieldSpec) -> CellParser:
    allowed = frozenset(spec.choices)

    def parse(value: object, _id_type: str) -> str:
        text = str(value).strip()
        if text not in allowed:
            raise Bad(
                "choice",
                _("Not one of the allowed values: %(values)s.") % {"values": ", ".join(spec.choices)},
            )
        return text

    return parse


def _currency(value: object, _id_type: str) -> str:
    text = str(value).strip().upper()
    if not _CURRENCY.fullmatch(text):
        raise Bad("format", _("A currency is a 3-letter ISO 4217 code, e.g. CNY."))
    return text


def _mobile(value: object, _id_type: str) -> str:
    if type(value) is str:  # the common cases, by pattern
        if _MAINLAND_MOBILE.fullmatch(value):
            return "+86" + value
        if value.startswith("+86") and _MAINLAND_MOBILE.fullmatch(value, 3):
            return value
    return checked_value(check_mobile(value), code="mobile")


def _identifier(parse: CellParser) -> CellParser:
    def checked(value: object, id_type: str) -> Any:
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            raise Bad("number_cell", _NUMBER_CELL)
        return parse(value, id_type)

    return checked


def parser_for(spec: FieldSpec, *, today: date | None = None) -> CellParser:
    """The parser of ``spec``'s cells: (value, id type of the row) → normalized value, or Bad."""
    kind = spec.kind
    if kind in ("text", "code", "address"):
        return _text_parser(spec)
    if kind == "choice":
        return _choice_parser(spec)
    if kind == "currency":
        return _currency
    if kind == "id_number":

        def id_number(value: object, id_type: str) -> str:
            if not id_type:
                raise Bad("required", _("Give the ID type with the ID number."))
            return checked_value(check_id_number(id_type, value, today=today))

        return _identifier(id_number)
    if kind == "mobile":
        return _identifier(_mobile)
    if kind == "email":
        return lambda value, _id_type: checked_value(check_email(value), code="email")
    if kind == "account":
        return _identifier(lambda value, _id_type: _account(value))
    simple: dict[str, Callable[[object], Any]] = {
        "date": _date,
        "datetime": _datetime,
        "decimal": _decimal,
        "int": _int,
        "bool": _bool,
    }
    function = simple[kind]
    return lambda value, _id_type: function(value)


def parse_cell(spec: FieldSpec, value: object, *, id_type: str = "") -> Any:
    """The normalized value of one non-empty cell, or Bad."""
    return parser_for(spec)(value, id_type)


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())

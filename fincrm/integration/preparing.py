"""Rows of an import file made ready for the staging table: validated, normalized, encrypted.

Pure Python with no database access (the importer runs it in worker processes on PostgreSQL):
what it needs from the database (org unit, user, team and product codes; the data and index keys)
arrives in a ``Context`` made once per batch. A row becomes either one staging tuple (ciphertext
and blind indexes only, never a clear identifier) or a list of issues. What repeats is memoized:
pinyin per name (``synth_rows.name_terms`` for Chinese names), region codes in the resident-ID
check, parsed dates.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext_lazy as _

from fincrm.customers.identity import (
    CORPORATE_ID_TYPES,
    INDIVIDUAL_ID_TYPES,
    check_bank_card,
)
from fincrm.customers.models import CustomerKind, IdType
from fincrm.customers.search_terms import name_pinyin, normalize_name, terms_for_name
from fincrm.customers.services.profile import add_months
from fincrm.integration import synth_rows
from fincrm.integration.entities import (
    ENTITIES,
    SHANGHAI,
    Bad,
    CellParser,
    EntitySpec,
    FieldSpec,
    checked_value,
    masked,
    parser_for,
)
from fincrm.integration.synth_rows import Keys, Sealer, _copy_value
from fincrm.portfolio.models import Account
from fincrm.security.fields import normalizer_for

# (row number, column header, masked value, rule code, message)
Issue = tuple[int, str, str, str, Any]


@dataclass
class Context:
    """What preparing one batch's rows needs, picklable for worker processes."""

    entity: str
    mapping: dict[str, str]  # field -> column header
    header: list[str]
    keys: Keys
    today: date
    deletes: bool = False  # the file has an "op" column (feeds)
    org_units: dict[str, int] = field(default_factory=dict)  # code -> id, every unit
    creatable_units: frozenset[int] | None = None  # units the actor may create customers in (None: all)
    users: dict[str, int] = field(default_factory=dict)  # username -> id (active staff)
    teams: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    aml_review_months: dict[str, int] = field(default_factory=dict)
    risk_validity_months: int = 12
    store_full_card_numbers: bool = False
    # customer number -> row id of a customer that exists (feeds): its values are sealed for its own
    # row at once, so the merge need not seal them again (loading.Checker.reseal)
    row_uids: dict[str, str] = field(default_factory=dict)
    copy_text: bool = False  # the rows go to PostgreSQL's COPY: a row may be written as COPY text at once

    def __post_init__(self) -> None:
        self.spec: EntitySpec = ENTITIES[self.entity]
        position = {name: index for index, name in enumerate(self.header)}
        # Mapped fields in the spec's order (id_type before id_number), with their column index.
        self.columns: list[tuple[FieldSpec, int]] = [
            (spec, position[self.mapping[spec.name]])
            for spec in self.spec.fields
            if spec.name in self.mapping
        ]
        self.op_position = position.get("op", -1) if self.deletes else -1


@dataclass
class Prepared:
    """One chunk's output: staging tuples per stage table, and the rows' issues."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    terms: list[tuple[Any, ...]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    invalid_rows: list[int] = field(default_factory=list)
    # Rows written as COPY lines (no newline) as they were prepared (``Context.copy_text``).
    lines: list[str] = field(default_factory=list)
    # The same rows as COPY text, made by a worker process (then ``rows`` and ``terms`` are empty).
    copy_rows: bytes = b""
    copy_terms: bytes = b""
    staged: int = 0

    def as_copy_text(self) -> Prepared:
        self.staged = len(self.rows) + len(self.lines)
        self.copy_rows = fast_copy_text(self.rows) + "".join([line + "\n" for line in self.lines]).encode()
        self.copy_terms = terms_copy_text(self.terms)
        self.rows, self.terms, self.lines = [], [], []
        return self


def _copy_line(row: tuple[Any, ...]) -> str:
    """One row as ``synth_rows.copy_text`` writes it: cells are joined as they are and escaped
    one by one only when the line shows that one needs it (a backslash other than the NULL
    markers, or a tab, newline or carriage return inside a cell)."""
    line = "\t".join(
        ["\\N" if value is None else value if type(value) is str else _copy_value(value) for value in row]
    )
    if (
        line.count("\\") != row.count(None)
        or line.count("\t") != len(row) - 1
        or "\n" in line
        or "\r" in line
    ):
        return "\t".join(map(_copy_value, row))
    return line


def fast_copy_text(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """``synth_rows.copy_text``, byte for byte, with no function call per cell in the common case."""
    return "".join([_copy_line(row) + "\n" for row in rows]).encode("utf-8")


def terms_copy_text(terms: Sequence[tuple[int, str, str]]) -> bytes:
    """``fast_copy_text`` of (row number, kind, term) rows, byte for byte, about seven per customer:
    formatted directly when the chunk shows that no cell needs escaping (terms come from a
    normalized name, which keeps no space or control character, only a rare backslash)."""
    text = "".join([f"{row_number}\t{kind}\t{term}\n" for row_number, kind, term in terms])
    if "\\" in text or "\r" in text or text.count("\t") != 2 * len(terms) or text.count("\n") != len(terms):
        return fast_copy_text(terms)
    return text.encode("utf-8")


_HAN_NAME = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]+")  # CJK unified ideographs (and extension A)
# Values a customer's cell parser returns that are already in their blind index's normal form (ASCII
# is NFKC-stable): the normalizer would give them back unchanged, so the index skips it.
_NORMAL_ID_NUMBER = re.compile(r"[0-9A-Z]+")  # no spaces, hyphens or lower case
_NORMAL_MOBILE = re.compile(r"\+[0-9]+")  # E.164
_NORMAL_EMAIL = re.compile(r"[!-@\[-~]+")  # printable ASCII without spaces or upper case


@lru_cache(maxsize=4096)
def _expiry(assessed: date, months: int) -> date:
    return add_months(assessed, months)


# Small on purpose: an entry is ~1.4 KB and a million customers hold ~250,000 distinct names, so a
# 200,000-entry cache grew each worker by ~270 MB with the file (the import's peak memory) to save
# under 2 us a row; the pinyin is memoized by surname and given name underneath anyway.
@lru_cache(maxsize=16_384)
def customer_terms(name: str) -> tuple[str, list[tuple[str, str]]]:
    """(name_pinyin, search terms): the memoized path for Chinese personal names, else the general one."""
    text = normalize_name(name)
    if 2 <= len(text) <= 4 and _HAN_NAME.fullmatch(text):
        return synth_rows.name_terms(text)
    return name_pinyin(name), sorted(terms_for_name(name))


class RowUids:
    """Row ids in time order, made without randomness per id: the UUID version 7 layout (RFC
    9562), 48 bits of Unix milliseconds, then 42 random bits drawn per chunk (``renew``) and a
    32-bit counter per id. Customers are inserted by the hundred thousand into a table whose
    row_uid index is unique: ids newer than every one already there land at the index's right
    edge, where random (version 4) ids would each touch a random leaf page of a large index.
    Transactions (no row_uid index) use the same ids."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        millis = time.time_ns() // 1_000_000
        bits = int.from_bytes(os.urandom(6), "big")
        text = (
            f"{millis:012x}7{bits & 0xFFF:03x}{0x8000 | (bits >> 12) & 0x3FFF:04x}{bits >> 26 & 0xFFFF:04x}"
        )
        self.prefix = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
        self.counter = 0

    def __call__(self) -> str:
        self.counter += 1
        return f"{self.prefix}{self.counter:08x}"


# Cell kinds whose columns hold a handful of distinct values in a transactions file (codes of a
# choice, currencies, booleans, the business date): parsed once per distinct cell.
_FEW_VALUES = frozenset({"choice", "currency", "bool", "date"})
_MEMO_SIZE = 4096


def _memoized(parse: CellParser) -> CellParser:
    """``parse`` remembering what text cells it accepted (a refused cell raises Bad every time):
    6 of a transaction row's 11 cells come from a few dozen distinct values."""
    known: dict[str, Any] = {}

    def memo(raw: object, id_type: str) -> Any:
        if type(raw) is str:
            found = known.get(raw, known)
            if found is not known:
                return found
            value = parse(raw, id_type)
            if len(known) < _MEMO_SIZE:
                known[raw] = value
            return value
        return parse(raw, id_type)

    return memo


class Preparer:
    """Turns raw rows into staging tuples for one entity (``prepare`` per chunk)."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.sealer = Sealer(context.keys)
        self.index_normalizers = {
            purpose: normalizer_for(purpose)
            for purpose in ("id_number", "mobile", "email", "text", "account_number")
        }
        self.method = getattr(self, f"_{context.entity}")
        self.account_indexes: dict[str, str] = {}
        self.parsers = [
            (spec.name, position, context.mapping[spec.name], spec, parser_for(spec, today=context.today))
            for spec, position in context.columns
        ]
        self.reviews = {
            rating: add_months(context.today, months) for rating, months in context.aml_review_months.items()
        }
        self.uids = RowUids()
        self.transaction_parsers = self._transaction_parsers()

    def index(self, value: str, purpose: str) -> str:
        return self.sealer.index(self.index_normalizers[purpose](value), purpose)

    def _normal_index(self, value: str, purpose: str, normal: re.Pattern[str]) -> str:
        """``index``, without the normalizer when ``value`` already has the normal form."""
        if normal.fullmatch(value):
            return self.sealer.index(value, purpose)
        return self.sealer.index(self.index_normalizers[purpose](value), purpose)

    def account_index(self, number: str) -> str:
        """The blind index of a parsed account number (ASCII digits: already its normal form),
        memoized: a transactions file names the same accounts again and again."""
        found = self.account_indexes.get(number)
        if found is None:
            if len(self.account_indexes) >= 500_000:
                self.account_indexes.clear()
            found = self.account_indexes[number] = self.sealer.index(number, "account_number")
        return found

    def prepare(self, rows: Sequence[tuple[int, Sequence[object]]]) -> Prepared:
        out = Prepared()
        width = len(self.context.header)
        self.uids.renew()
        transaction_line = self._transaction_line if self.transaction_parsers else None
        for row_number, cells in rows:
            if len(cells) != width:
                out.issues.append(
                    (
                        row_number,
                        "",
                        "",
                        "columns",
                        _("This row has %(found)d cells; the header has %(expected)d.")
                        % {"found": len(cells), "expected": width},
                    )
                )
                out.invalid_rows.append(row_number)
                continue
            if transaction_line is not None and (line := transaction_line(row_number, cells)) is not None:
                out.lines.append(line)
                continue
            issues: list[Issue] = []
            values = self._parse(row_number, cells, issues)
            op = "U"
            if self.context.op_position >= 0:
                op = str(cells[self.context.op_position] or "").strip().upper()
                if op not in ("U", "D"):
                    issues.append((row_number, "op", op[:20], "choice", _("op is U (upsert) or D (delete).")))
            if not issues:
                self.method(row_number, op, values, out, issues)
            if issues:
                out.issues.extend(issues)
                out.invalid_rows.append(row_number)
        return out

    def _parse(self, row_number: int, cells: Sequence[object], issues: list[Issue]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, position, column, spec, parse in self.parsers:
            raw = cells[position]
            if raw is None or (type(raw) is str and (not raw or raw.isspace())):
                values[name] = None
                continue
            try:
                values[name] = parse(raw, values.get("id_type") or "")
            except Bad as bad:
                issues.append((row_number, column, masked(spec, raw), bad.code, bad.message))
        return values

    def issue(self, row_number: int, name: str, value: object, code: str, message: Any) -> Issue:
        spec = self.context.spec.field(name)
        return (row_number, self.context.mapping.get(name, name), masked(spec, value), code, message)

    def _required(self, row_number: int, op: str, values: dict[str, Any], issues: list[Issue]) -> None:
        """A required field that is mapped must not be empty (a row may create the record)."""
        if op == "D":
            key = self.context.spec.key
            names: Sequence[str] = key
        else:
            names = self.context.spec.required
        for name in names:
            if name in self.context.mapping and values.get(name) is None:
                issues.append(self.issue(row_number, name, "", "required", _("This field is required.")))

    def _reference(
        self, row_number: int, name: str, table: dict[str, int], values: dict[str, Any], issues: list[Issue]
    ) -> int | None:
        code = values.get(name)
        if code is None:
            return None
        found = table.get(code)
        if found is None:
            issues.append(
                self.issue(
                    row_number,
                    name,
                    code,
                    "unknown_reference",
                    _("No such code in fincrm: %(code)s.") % {"code": code},
                )
            )
        return found

    # ------------------------------------------------------------ customers

    def _customers(
        self, row_number: int, op: str, values: dict[str, Any], out: Prepared, issues: list[Issue]
    ) -> None:
        context = self.context
        self._required(row_number, op, values, issues)
        if op == "D":
            issues.append(
                self.issue(
                    row_number,
                    "customer_number",
                    values.get("customer_number"),
                    "delete_not_allowed",
                    _("Customers are never deleted by a file: set their lifecycle stage or status instead."),
                )
            )
        kind = values.get("kind")
        id_type = values.get("id_type")
        if id_type and kind:
            allowed = INDIVIDUAL_ID_TYPES if kind == CustomerKind.INDIVIDUAL else CORPORATE_ID_TYPES
            if id_type not in allowed:
                issues.append(
                    self.issue(
                        row_number,
                        "id_type",
                        id_type,
                        "choice",
                        _("This ID type does not fit the customer type."),
                    )
                )
        if values.get("birth_date") and values["birth_date"] > context.today:
            issues.append(
                self.issue(
                    row_number,
                    "birth_date",
                    values["birth_date"],
                    "date",
                    _("A date of birth cannot be in the future."),
                )
            )
        unit = self._reference(row_number, "org_unit", context.org_units, values, issues)
        if unit is not None and context.creatable_units is not None and unit not in context.creatable_units:
            issues.append(
                self.issue(
                    row_number,
                    "org_unit",
                    values["org_unit"],
                    "out_of_scope",
                    _("This org unit is outside your data scope."),
                )
            )
        manager = self._reference(row_number, "primary_manager", context.users, values, issues)
        team = self._reference(row_number, "covering_team", context.teams, values, issues)
        if issues:
            return
        uid = context.row_uids.get(values.get("customer_number") or "") or self.uids()
        seal = self.sealer.seal
        table = "customers_customer"
        id_number = values.get("id_number")
        if id_number and id_type == IdType.RESIDENT_ID:  # checked: 18 characters, a real birth date
            if values.get("birth_date") is None and "birth_date" not in context.mapping:
                values["birth_date"] = date(
                    int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])
                )
            if not values.get("gender") and "gender" not in context.mapping:
                values["gender"] = "male" if int(id_number[16]) % 2 else "female"
        name = values.get("name")
        pinyin = None
        if name:
            pinyin, terms = customer_terms(name)
            out.terms.extend((row_number, term_kind, term) for term_kind, term in terms)
        rating = values.get("aml_risk_rating")
        derived_review = self.reviews.get(rating) if rating else None
        assessed = values.get("risk_assessed_on")
        derived_expiry = _expiry(assessed, context.risk_validity_months) if assessed else None
        mobile, email, address = values.get("mobile"), values.get("email"), values.get("address")
        out.rows.append(
            (
                row_number,
                op,
                uid,
                values.get("customer_number"),
                kind,
                name,
                pinyin,
                id_type or "",
                seal(table, "id_number", uid, id_number) if id_number else None,
                self._normal_index(id_number, "id_number", _NORMAL_ID_NUMBER) if id_number else None,
                values.get("id_expires_on"),
                values.get("gender") or "",
                values.get("birth_date"),
                values.get("nationality"),
                seal(table, "mobile", uid, mobile) if mobile else None,
                self._normal_index(mobile, "mobile", _NORMAL_MOBILE) if mobile else None,
                seal(table, "email", uid, email) if email else None,
                self._normal_index(email, "email", _NORMAL_EMAIL) if email else None,
                seal(table, "address", uid, address) if address else None,
                self.index(address, "text") if address else None,
                values.get("occupation") or "",
                values.get("employer") or "",
                values.get("income_band") or "",
                values.get("source_of_funds") or "",
                values.get("industry") or "",
                rating,
                values.get("aml_next_review_on"),
                derived_review,
                values.get("risk_tolerance") or "",
                assessed,
                values.get("risk_expires_on"),
                derived_expiry,
                values.get("is_professional_investor"),
                values.get("lifecycle_stage"),
                values.get("source_channel"),
                values.get("value_tier"),
                unit,
                manager,
                team,
                values.get("parent_company"),
            )
        )

    # ------------------------------------------------------------ contacts

    def _contacts(
        self, row_number: int, op: str, values: dict[str, Any], out: Prepared, issues: list[Issue]
    ) -> None:
        self._required(row_number, op, values, issues)
        if values.get("customer_number") and values.get("customer_number") == values.get(
            "related_customer_number"
        ):
            issues.append(
                self.issue(
                    row_number,
                    "related_customer_number",
                    values["related_customer_number"],
                    "format",
                    _("A customer cannot be related to itself."),
                )
            )
        starts, ends = values.get("starts_on"), values.get("ends_on")
        if starts and ends and ends < starts:
            issues.append(
                self.issue(row_number, "ends_on", ends, "date", _("The end date is before the start date."))
            )
        if issues:
            return
        out.rows.append(
            (
                row_number,
                op,
                values.get("customer_number"),
                values.get("related_customer_number"),
                values.get("kind"),
                starts,
                ends,
                values.get("note") or "",
            )
        )

    # ------------------------------------------------------------ accounts

    def _account_parts(self, kind: str, number: str, uid: str, table: str, column: str) -> tuple[Any, ...]:
        """(ciphertext or None, blind index, last 4, first 6) as fincrm.portfolio stores a number."""
        index = self.index(number, "account_number")
        if kind == Account.Kind.CREDIT_CARD:
            stored = (
                self.sealer.seal(table, column, uid, number) if self.context.store_full_card_numbers else None
            )
            return stored, index, number[-4:], number[:6]
        return self.sealer.seal(table, column, uid, number), index, number[-4:], ""

    def _accounts(
        self, row_number: int, op: str, values: dict[str, Any], out: Prepared, issues: list[Issue]
    ) -> None:
        self._required(row_number, op, values, issues)
        product = self._reference(row_number, "product", self.context.products, values, issues)
        unit = self._reference(row_number, "org_unit", self.context.org_units, values, issues)
        number = values.get("account_number") or ""
        kind = values.get("kind") or ""
        if kind == Account.Kind.CREDIT_CARD and number:
            try:  # a card number carries a Luhn check digit (a feed's legacy card only warns)
                checked_value(check_bank_card(number, origin="feed" if self.context.deletes else "staff"))
            except Bad as bad:
                issues.append(self.issue(row_number, "account_number", number, bad.code, bad.message))
        if issues:
            return
        uid = synth_rows.row_uid()
        stored, index, last4, first6 = self._account_parts(
            kind, number, uid, "portfolio_account", "account_number"
        )
        out.rows.append(
            (
                row_number,
                op,
                uid,
                index,
                stored,
                last4,
                first6,
                values.get("customer_number"),
                kind or None,
                product,
                values.get("currency"),
                values.get("balance"),
                values.get("opened_on"),
                values.get("status"),
                unit,
            )
        )

    # ------------------------------------------------------------ holdings

    def _holdings(
        self, row_number: int, op: str, values: dict[str, Any], out: Prepared, issues: list[Issue]
    ) -> None:
        self._required(row_number, op, values, issues)
        product = self._reference(row_number, "product", self.context.products, values, issues)
        start, maturity = values.get("start_date"), values.get("maturity_date")
        if start and maturity and maturity < start:
            issues.append(
                self.issue(
                    row_number,
                    "maturity_date",
                    maturity,
                    "date",
                    _("The maturity date is before the start date."),
                )
            )
        if issues:
            return
        number = values.get("account_number")
        out.rows.append(
            (
                row_number,
                op,
                values.get("source_ref"),
                values.get("customer_number"),
                self.index(number, "account_number") if number else None,
                product,
                values.get("amount"),
                values.get("currency"),
                values.get("market_value"),
                values.get("cash_value"),
                start,
                maturity,
            )
        )

    # ------------------------------------------------------------ transactions

    def _transactions(
        self, row_number: int, op: str, values: dict[str, Any], out: Prepared, issues: list[Issue]
    ) -> None:
        self._required(row_number, op, values, issues)
        if issues:
            return
        uid = self.uids()
        number = values.get("account_number") or ""
        counterparty = values.get("counterparty_account")
        booked = values.get("booked_at")
        business = values.get("business_date") or (booked.astimezone(SHANGHAI).date() if booked else None)
        out.rows.append(
            (
                row_number,
                op,
                uid,
                values.get("source_ref"),
                self.account_index(number),
                booked,
                business,
                values.get("amount"),
                values.get("currency"),
                values.get("direction"),
                values.get("channel"),
                values.get("transaction_type"),
                self.sealer.seal("portfolio_transaction", "counterparty_account", uid, counterparty)
                if counterparty
                else None,
                self.sealer.index(counterparty, "account_number") if counterparty else None,
                values.get("cross_border"),
            )
        )

    def _transaction_parsers(self) -> list[tuple[CellParser | None, int, bool]] | None:
        """(parser, column index, required) per transaction field in the order of the entity's
        fields (no parser and index -1 when unmapped), for ``_transaction_line``; None when it
        does not apply: another entity, rows not bound for COPY, a required field the file does
        not carry, or key ids that would need escaping in COPY text."""
        context = self.context
        if context.entity != "transactions" or not context.copy_text:
            return None
        required = context.spec.required
        if any(name not in context.mapping for name in required):
            return None
        if any(character in self.sealer.prefix + self.sealer.index_prefix for character in "\\\t\n\r"):
            return None
        mapped = {
            name: (_memoized(parse) if spec.kind in _FEW_VALUES else parse, position)
            for name, position, _column, spec, parse in self.parsers
        }
        return [(*mapped.get(spec.name, (None, -1)), spec.name in required) for spec in context.spec.fields]

    def _transaction_line(self, row_number: int, cells: Sequence[object]) -> str | None:
        """The common row of a transactions file as its stage's COPY line, in one step: what
        ``_parse``, ``_transactions`` and ``_copy_line`` make of it (the same parsers), without the
        dictionary, the issue lists and the escaping checks per row. Parsed values are codes,
        digits, dates, amounts, ciphertext and blind indexes, which COPY takes as they are. None
        when a row deletes (a feed's "D"), a booking cell is empty or any cell does not parse:
        the general path then prepares the row or reports its issues."""
        op_position = self.context.op_position
        if op_position >= 0 and cells[op_position] != "U":
            return None
        values: list[Any] = []
        for parse, position, required in self.transaction_parsers or ():
            raw = None if parse is None else cells[position]
            if parse is None or raw is None or (type(raw) is str and (not raw or raw.isspace())):
                if required:
                    return None
                values.append(None)
                continue
            try:
                values.append(parse(raw, ""))
            except Bad:
                return None
        ref, number, booked, business, amount, currency, direction, channel, kind, counterparty, cross = (
            values
        )
        uid = self.uids()
        if business is None:
            business = booked.astimezone(SHANGHAI).date()
        if counterparty:
            sealed = self.sealer.seal("portfolio_transaction", "counterparty_account", uid, counterparty)
            counterparty_index = self.sealer.index(counterparty, "account_number")
        else:
            sealed = counterparty_index = "\\N"
        return "\t".join(
            (
                str(row_number),
                "U",
                uid,
                ref,
                self.account_index(number),
                booked.isoformat(),
                business.isoformat(),
                str(amount),
                currency or "\\N",
                direction,
                channel,
                kind,
                sealed,
                counterparty_index,
                "\\N" if cross is None else "t" if cross else "f",
            )
        )

    # ------------------------------------------------------------ products

    def _products(
        self, row_number: int, op: str, values: dict[str, Any], out: Prepared, issues: list[Issue]
    ) -> None:
        self._required(row_number, op, values, issues)
        if issues:
            return
        out.rows.append(
            (
                row_number,
                op,
                values.get("code"),
                values.get("name"),
                values.get("product_type"),
                values.get("issuer"),
                values.get("risk_level"),
                values.get("currency"),
                values.get("term_days"),
                values.get("is_private"),
                values.get("is_active"),
            )
        )

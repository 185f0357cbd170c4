# ruff: noqa: S608 - statements are built from this module's constants and quoted names; values are parameters
"""The set-based half of an import: checks over the staging table, then the merge into real tables.

Every statement works on the whole batch at once (no loop over rows in Python, except re-sealing the
few encrypted values that change on an existing record, whose associated data names that record's
row id). Checks fill the stage's working columns: ``target_id`` (the matched record), ``action``
(insert, update, unchanged, skip, delete, invalid), ``changed`` (the fields that differ), ``ref_id``
/ ``ref2_id`` (resolved references) and ``hold`` (a new customer held for duplicate review).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fincrm.customers.models import Customer
from fincrm.customers.selectors import scope_candidates
from fincrm.integration.entities import ENTITIES
from fincrm.integration.staging import Stage, is_postgresql, same
from fincrm.platform.actor import Actor
from fincrm.security.fields import EncryptedTextField

EDIT = "customer.edit"
VIEW = "customer.view"


@dataclass
class Merged:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0
    customer_ids: set[int] = field(default_factory=set)  # whose AUM the merge changed
    # where the per-record audit events come from: rows of the stage, by action
    sources: list[RecordSource] = field(default_factory=list)


@dataclass(frozen=True)
class RecordSource:
    action: str  # insert, update, delete
    object_type: str
    key_sql: str  # the record's key as the audit event names it (an expression over the stage)

    def rows(self, stage: Stage) -> Iterator[tuple[str, str | None, list[str]]]:
        """(object id, key, changed fields) of every row with this action, in file order, read
        through a server-side cursor in batches (memory stays bounded)."""
        sql = f"SELECT target_id, {self.key_sql}, changed FROM {{s}} WHERE action = %s ORDER BY row_number"
        for object_id, key, changed in stage.stream(sql, [self.action]):
            yield str(object_id), _text(key), [name for name in str(changed or "").split(",") if name]

    def groups(self, stage: Stage, size: int) -> Iterator[list[list[str | None]]]:
        """[object id, key] of every row with this action, in file order, ``size`` at a time.
        PostgreSQL builds each group as one JSON array: a million-record import hands Python a
        thousand values instead of a million rows (its audit step at commit 11.4 -> 9.5 s)."""
        if not is_postgresql():
            records = ((object_id, key) for object_id, key, _changed in self.rows(stage))
            while part := [list(record) for record in itertools.islice(records, size)]:
                yield part
            return
        sql = (
            "SELECT json_agg(json_build_array(target_id::text, key) ORDER BY row_number)::text FROM "
            f"(SELECT target_id, ({self.key_sql})::text AS key, row_number, (row_number() OVER "
            "(ORDER BY row_number) - 1) / %s AS part FROM {s} WHERE action = %s) x "
            "GROUP BY part ORDER BY part"
        )
        for (part,) in stage.stream(sql, [size, self.action], size=10):
            yield json.loads(part)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# (row number, column, value, code, message): value is already masked
SqlIssue = tuple[int, str, str, str, Any]
# What an import sets, per mapped field: ((column, expression), ...) where {x} is the stage row and
# {c} the record as it is. The same expression decides whether a row changes anything (the first
# column is compared), so a file imported twice changes nothing the second time. An empty cell
# clears a field that may be empty and keeps the others.
Sets = dict[str, tuple[tuple[str, str], ...]]


def _blank(name: str) -> str:
    return f"COALESCE({{x}}.{name}, '')"


def _keep(name: str) -> str:
    return f"COALESCE({{x}}.{name}, {{c}}.{name})"


def _given(name: str) -> str:
    return f"{{x}}.{name}"


def _scope_sql(actor: Actor, action: str) -> tuple[str, list[Any]] | None:
    """SQL selecting the ids of customers ``actor`` may ``action``; None: every customer."""
    candidates = scope_candidates(actor, action)
    if candidates is None:
        if not actor.scopes_for(action):
            return "SELECT id FROM customers_customer WHERE 1 = 0", []
        return None
    sql, params = candidates.query.get_compiler(connection.alias).as_sql()
    return sql, list(params)


class Checker:
    """Checks and merge for one entity's stage."""

    def __init__(
        self, stage: Stage, *, actor: Actor, mapping: dict[str, str], on_match: str, today: date
    ) -> None:
        self.stage = stage
        self.actor = actor
        self.mapping = mapping
        self.on_match = on_match
        self.today = today
        self.spec = ENTITIES[stage.entity]
        self.now = timezone.now()
        self.issues: list[SqlIssue] = []

    def check(self) -> None:
        """Fill the stage's working columns and ``issues``."""
        raise NotImplementedError

    def merge(self) -> Merged:
        """Write the rows the checks accepted; inside the caller's transaction."""
        raise NotImplementedError

    # ------------------------------------------------------------ helpers

    def column(self, name: str) -> str:
        return self.mapping.get(name, name)

    def flag(
        self, sql: str, params: list[Any], column: str, code: str, message: Any, *, value_sql: str = "''"
    ) -> None:
        """Record an issue for every stage row selected by ``sql`` (a WHERE clause on alias s) and
        mark those rows invalid."""
        rows = self.stage.fetch(
            f"SELECT s.row_number, {value_sql} FROM {{s}} s WHERE (s.action IS NULL OR s.action <> "
            f"'invalid') AND ({sql})",
            params,
        )
        if not rows:
            return
        for row_number, value in rows:
            self.issues.append((row_number, self.column(column), str(value or "")[:200], code, message))
        self.stage.execute(
            f"UPDATE {{s}} SET action = 'invalid' WHERE row_number IN (SELECT s.row_number FROM {{s}} s "
            f"WHERE {sql})",
            params,
        )

    def duplicates(self, key_sql: str, column: str, message: Any, *, value_sql: str = "''") -> None:
        """Rows sharing ``key_sql`` inside the file (all of them are refused): one GROUP BY."""
        other = key_sql.replace("s.", "o.")
        self.flag(
            f"{key_sql} IN (SELECT {other} FROM {{s}} o WHERE {other} IS NOT NULL GROUP BY {other} "
            "HAVING COUNT(*) > 1)",
            [],
            column,
            "duplicate_in_file",
            message,
            value_sql=value_sql,
        )

    def classify(self, compare: dict[str, tuple[str, str]], table: str, *, new_rows: bool = True) -> None:
        """Set ``changed`` and ``action`` for matched rows: ``compare`` maps a field to
        (stage expression, target expression); only mapped fields count. The other rows become
        ``insert``, unless ``new_rows`` is False: then ``merge`` classifies them itself (a row with
        neither ``target_id`` nor ``action`` is a new record)."""
        pieces = [
            f"COALESCE(CASE WHEN NOT ({same(stage_sql, 't.' + target_sql)}) THEN '{name},' END, '')"
            for name, (stage_sql, target_sql) in compare.items()
            if name in self.mapping
        ]
        changed = " || ".join(pieces) if pieces else "''"
        self.stage.execute(
            f"UPDATE {{s}} SET changed = (SELECT {changed.replace('s.', '{s}.')} FROM {table} t WHERE t.id "
            f"= {{s}}.target_id) "
            "WHERE target_id IS NOT NULL AND action IS NULL"
        )
        self.stage.execute(
            "UPDATE {s} SET action = CASE WHEN changed = '' THEN 'unchanged' WHEN %s = 'skip' THEN 'skip' "
            "ELSE 'update' END WHERE target_id IS NOT NULL AND action IS NULL",
            [self.on_match],
        )
        if new_rows:
            self.classify_new_rows()

    def classify_new_rows(self) -> None:
        """Rows that matched no record and are not otherwise classified create one."""
        self.stage.execute("UPDATE {s} SET action = 'insert' WHERE target_id IS NULL AND action IS NULL")

    def deletes(self) -> None:
        """A feed's "D" rows: delete what exists; deleting what does not is nothing to do."""
        self.stage.execute(
            "UPDATE {s} SET action = 'delete' WHERE op = 'D' AND action IS NULL AND target_id IS NOT NULL"
        )
        self.stage.execute("UPDATE {s} SET action = 'unchanged' WHERE op = 'D' AND action IS NULL")

    def required_for_new(self, fields: Sequence[tuple[str, str]], message: Any) -> None:
        """Rows that create a record need these stage columns (pairs: column, field it comes from)."""
        for column, field_name in fields:
            self.flag(
                f"s.target_id IS NULL AND s.op = 'U' AND s.{column} IS NULL",
                [],
                field_name,
                "required",
                message,
            )

    def customers_in_scope(
        self, column: str, field_name: str, *, when: str = "TRUE", message: Any = None
    ) -> None:
        """Rows whose customer (resolved into ``column``) is unknown or outside the actor's edit
        scope are refused alike: the file learns nothing about customers it may not touch."""
        editable = _scope_sql(self.actor, EDIT)
        outside = f" OR s.{column} NOT IN ({editable[0]})" if editable is not None else ""
        self.flag(
            f"({when}) AND (s.{column} IS NULL{outside})",
            editable[1] if editable is not None else [],
            field_name,
            "unknown_reference",
            message or _("No customer with this number in your data scope."),
            value_sql=f"s.{field_name}" if field_name != "account_number" else "''",
        )

    def classify_sets(self, sets: Sets, table: str, *, new_rows: bool = True) -> None:
        """``classify`` with the expressions the update will write (the first column of each field)."""
        self.classify(
            {name: (columns[0][1].format(x="s", c="t"), columns[0][0]) for name, columns in sets.items()},
            table,
            new_rows=new_rows,
        )

    def update_sets(self, sets: Sets, table: str, now: Any, fields: Sequence[str] | None = None) -> int:
        """One UPDATE of the rows classified ``update``, setting the mapped fields' columns."""
        names = [name for name in sets if name in self.mapping] if fields is None else fields
        parts = [
            f"{column} = {expression.format(x='x', c=table)}"
            for name in names
            for column, expression in sets[name]
        ]
        if not parts:
            return 0
        return self.stage.execute(
            f"UPDATE {table} SET updated_at = %s, {', '.join(parts)} FROM {{s}} AS x "
            f"WHERE x.action = 'update' AND x.target_id = {table}.id",
            [now],
        )

    def count(self, action: str) -> int:
        return int(self.stage.fetch("SELECT COUNT(*) FROM {s} WHERE action = %s", [action])[0][0])

    def reseal(self, model: type[Any], table: str, columns: list[str]) -> None:
        """Encrypted values of updated rows sealed for another row id than the matched record's
        (a new one, staged): seal them again for the record's (their associated data), only where
        the value changed."""
        for column in columns:
            if column not in self.mapping and column != "account_number":
                continue
            field_ = model._meta.get_field(column)
            assert isinstance(field_, EncryptedTextField)
            rows = self.stage.fetch(
                f"SELECT s.row_number, s.row_uid, s.{column}, t.row_uid FROM {{s}} s JOIN {table} t ON t.id "
                "= s.target_id "
                f"WHERE s.action = 'update' AND s.{column} IS NOT NULL AND s.changed LIKE %s "
                f"AND NOT ({same('s.row_uid', 't.row_uid')})",
                [f"%{column},%"],
            )
            resealed = [
                (
                    row_number,
                    field_.encrypt_for(_uuid(target_uid), field_.decrypt_for(_uuid(staged_uid), token)),
                )
                for row_number, staged_uid, token, target_uid in rows
            ]
            self.stage.update_column(column, resealed)

    def tally(
        self,
        merged: Merged,
        object_type: str,
        key_sql: str,
        actions: tuple[str, ...] = ("insert", "update", "delete"),
    ) -> Merged:
        """Count the rows left as they were, and name where the audit events of the rows that
        changed come from (the stage is read when they are written)."""
        merged.unchanged = self.count("unchanged")
        merged.skipped = self.count("skip")
        merged.sources.extend(RecordSource(action, object_type, key_sql) for action in actions)
        return merged


def _uuid(value: Any) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _now_param() -> Any:
    moment = timezone.now()
    return moment if is_postgresql() else connection.ops.adapt_datetimefield_value(moment)


# ---------------------------------------------------------------- customers


_AML_REVIEW = (
    "COALESCE({x}.aml_next_review_on, CASE WHEN {x}.aml_risk_rating IS NOT NULL AND {x}.aml_risk_rating "
    "<> {c}.aml_risk_rating THEN {x}.derived_review ELSE {c}.aml_next_review_on END)"
)
_RISK_EXPIRY = (
    "COALESCE({x}.risk_expires_on, CASE WHEN {x}.risk_assessed_on IS NOT NULL AND ({c}.risk_assessed_on "
    "IS NULL OR {x}.risk_assessed_on <> {c}.risk_assessed_on) THEN {x}.derived_expiry "
    "ELSE {c}.risk_expires_on END)"
)
_BLANKS = (
    "id_type", "gender", "occupation", "employer", "income_band", "source_of_funds", "industry",
    "risk_tolerance",
)  # fmt: skip
_KEPT = ("kind", "aml_risk_rating", "lifecycle_stage", "source_channel", "value_tier", "nationality")
CUSTOMER_SETS: Sets = {
    **{name: ((name, _blank(name)),) for name in _BLANKS},
    **{name: ((name, _keep(name)),) for name in _KEPT},
    "name": (("name", _keep("name")), ("name_pinyin", _keep("name_pinyin"))),
    **{name: ((name, _given(name)),) for name in ("id_expires_on", "birth_date", "risk_assessed_on")},
    "is_professional_investor": (
        ("is_professional_investor", "COALESCE({x}.is_professional_investor, FALSE)"),
    ),
    # Compared through their blind indexes (never ciphertext): the index column comes first.
    **{
        name: ((f"{name}_bidx", _given(f"{name}_bidx")), (name, _given(name)))
        for name in ("id_number", "mobile", "email", "address")
    },
    "org_unit": (("org_unit_id", _keep("org_unit_id")),),
    "primary_manager": (("primary_manager_id", _given("primary_manager_id")),),
    "covering_team": (("covering_team_id", _given("covering_team_id")),),
    "parent_company": (("parent_company_id", _given("ref_id")),),
    "aml_next_review_on": (("aml_next_review_on", _AML_REVIEW),),
    "risk_expires_on": (("risk_expires_on", _RISK_EXPIRY),),
}
# A derived date follows its source even when the date's own column is not in the file.
DERIVED = {"aml_risk_rating": "aml_next_review_on", "risk_assessed_on": "risk_expires_on"}


class CustomerChecker(Checker):
    def check(self) -> None:
        s = self.stage
        self.duplicates(
            "s.customer_number",
            "customer_number",
            _("The same customer number appears on more than one row of the file."),
            value_sql="s.customer_number",
        )
        self.duplicates(
            "s.id_number_bidx", "id_number", _("The same ID number appears on more than one row of the file.")
        )
        s.execute(
            "UPDATE {s} SET target_id = c.id FROM customers_customer c WHERE c.customer_number = "
            "{s}.customer_number"
        )
        self.flag(
            "s.target_id IS NOT NULL AND EXISTS (SELECT 1 FROM customers_customer c WHERE c.id = s.target_id "
            "AND c.status = 'merged')",
            [],
            "customer_number",
            "conflict",
            _("This customer was merged into another one: import onto the surviving customer's number."),
            value_sql="s.customer_number",
        )
        editable = _scope_sql(self.actor, EDIT)
        if editable is not None:
            sql, params = editable
            self.flag(
                f"s.target_id IS NOT NULL AND s.target_id NOT IN ({sql})",
                params,
                "customer_number",
                "out_of_scope",
                _("This customer number belongs to a customer outside your data scope."),
                value_sql="s.customer_number",
            )
        if "id_number" in self.mapping:  # without the column no row names an ID number to compare
            self._id_number_conflicts()
        # New customers need what a customer cannot be without.
        self.required_for_new(
            (("kind", "kind"), ("name", "name"), ("org_unit_id", "org_unit")),
            _("A new customer needs this field."),
        )
        if "parent_company" in self.mapping:
            s.execute(
                "UPDATE {s} SET ref_id = (SELECT c.id FROM customers_customer c WHERE c.customer_number = "
                "{s}.parent_company) WHERE parent_company IS NOT NULL"
            )
            self.flag(
                "s.parent_company IS NOT NULL AND s.ref_id IS NULL AND NOT EXISTS (SELECT 1 FROM {s} o "
                "WHERE o.customer_number = s.parent_company)",
                [],
                "parent_company",
                "unknown_reference",
                _("No customer has this number (as parent company)."),
                value_sql="s.parent_company",
            )
        # New customers are classified by the merge, which numbers them in the same UPDATE.
        self.classify_sets(CUSTOMER_SETS, "customers_customer", new_rows=False)

    def _id_number_conflicts(self) -> None:
        """An ID number another customer already holds: named when visible, held for review if not."""
        s = self.stage
        s.execute(
            "UPDATE {s} SET ref2_id = c.id FROM customers_customer c WHERE c.id_number_bidx = "
            "{s}.id_number_bidx "
            "AND c.status <> 'merged' AND ({s}.target_id IS NULL OR c.id <> {s}.target_id)"
        )
        visible = _scope_sql(self.actor, VIEW)
        if visible is None:
            outside_sql, outside_params = "1 = 0", []
            inside_sql, inside_params = "s.ref2_id IS NOT NULL", []
        else:
            outside_sql, outside_params = f"s.ref2_id NOT IN ({visible[0]})", visible[1]
            inside_sql, inside_params = f"s.ref2_id IN ({visible[0]})", visible[1]
        rows = s.fetch(
            f"SELECT s.row_number, c.customer_number FROM {{s}} s JOIN customers_customer c ON c.id = "
            "s.ref2_id "
            f"WHERE s.ref2_id IS NOT NULL AND (s.action IS NULL OR s.action <> 'invalid') AND {inside_sql}",
            inside_params,
        )
        for row_number, number in rows:
            self.issues.append(
                (
                    row_number,
                    self.column("id_number"),
                    "",
                    "conflict",
                    _("Customer %(number)s already has this ID number.") % {"number": number},
                )
            )
        if rows:
            s.execute(
                f"UPDATE {{s}} SET action = 'invalid' WHERE row_number IN (SELECT s.row_number FROM {{s}} s "
                f"WHERE s.ref2_id IS NOT NULL AND {inside_sql})",
                inside_params,
            )
        self.flag(
            f"s.target_id IS NOT NULL AND s.ref2_id IS NOT NULL AND {outside_sql}",
            outside_params,
            "id_number",
            "conflict",
            _(
                "This ID number cannot be given to an existing customer here: ask a colleague with wider "
                "scope."
            ),
        )
        s.execute(
            f"UPDATE {{s}} SET hold = TRUE WHERE row_number IN (SELECT s.row_number FROM {{s}} s WHERE "
            f"s.target_id IS NULL AND s.ref2_id IS NOT NULL AND {outside_sql})",
            outside_params,
        )

    def merge(self) -> Merged:
        s = self.stage
        merged = Merged()
        now = _now_param()
        self.reseal(Customer, "customers_customer", ["id_number", "mobile", "email", "address"])
        numbered = self._classify_new()
        merged.inserted = s.execute(
            f"INSERT INTO customers_customer ({'id, ' if numbered else ''}created_at, updated_at, row_uid, "
            "customer_number, kind, "
            "status, name, "
            "name_pinyin, id_type, id_number, id_number_bidx, id_expires_on, gender, birth_date, "
            "nationality, "
            "mobile, mobile_bidx, email, email_bidx, address, address_bidx, occupation, employer, "
            "income_band, "
            "source_of_funds, industry, aml_risk_rating, aml_next_review_on, risk_tolerance, "
            "risk_assessed_on, "
            "risk_expires_on, is_professional_investor, professional_evidence, lifecycle_stage, "
            "source_channel, "
            "value_tier, aum, org_unit_id, primary_manager_id, covering_team_id, parent_company_id) "
            f"SELECT {'target_id, ' if numbered else ''}%s, %s, row_uid, customer_number, kind, "
            "CASE WHEN hold THEN 'needs_review' ELSE "
            "'active' END, "
            "name, COALESCE(name_pinyin, ''), COALESCE(id_type, ''), id_number, id_number_bidx, "
            "id_expires_on, "
            "COALESCE(gender, ''), birth_date, COALESCE(nationality, CASE WHEN kind = 'individual' THEN "
            "'CHN' "
            "ELSE '' END), mobile, mobile_bidx, email, email_bidx, address, address_bidx, "
            "COALESCE(occupation, ''), COALESCE(employer, ''), COALESCE(income_band, ''), "
            "COALESCE(source_of_funds, ''), COALESCE(industry, ''), COALESCE(aml_risk_rating, 'low'), "
            "COALESCE(aml_next_review_on, derived_review), COALESCE(risk_tolerance, ''), risk_assessed_on, "
            "COALESCE(risk_expires_on, derived_expiry), COALESCE(is_professional_investor, FALSE), '', "
            "COALESCE(lifecycle_stage, 'customer'), COALESCE(source_channel, 'branch'), "
            "COALESCE(value_tier, 'mass'), 0, org_unit_id, primary_manager_id, covering_team_id, ref_id "
            "FROM {s} WHERE action = 'insert' ORDER BY row_number",
            [now, now],
        )
        if merged.inserted:
            if not numbered:
                s.execute(
                    "UPDATE {s} SET target_id = c.id FROM customers_customer c WHERE c.customer_number = "
                    "{s}.customer_number AND {s}.action = 'insert'"
                )
            # Parents created by this same file
            s.execute(
                "UPDATE customers_customer SET parent_company_id = (SELECT p.id FROM {s} x JOIN "
                "customers_customer p ON p.customer_number = x.parent_company WHERE x.target_id = "
                "customers_customer.id) WHERE id IN (SELECT target_id FROM {s} WHERE action = 'insert' AND "
                "parent_company IS NOT NULL AND ref_id IS NULL)"
            )
            s.execute(
                "INSERT INTO customers_duplicatecandidate (created_at, updated_at, first_id, second_id, "
                "reason, "
                "status, resolved_by) SELECT %s, %s, CASE WHEN target_id < ref2_id THEN target_id ELSE "
                "ref2_id END, "
                "CASE WHEN target_id < ref2_id THEN ref2_id ELSE target_id END, 'held_for_review', 'open', "
                "'' "
                "FROM {s} WHERE action = 'insert' AND hold",
                [now, now],
            )
        updates = self.count("update")
        if updates:
            self._history(now)
            fields = [name for name in CUSTOMER_SETS if name in self.mapping]
            fields += [
                derived
                for source, derived in DERIVED.items()
                if source in self.mapping and derived not in fields
            ]
            self.update_sets(CUSTOMER_SETS, "customers_customer", now, fields)
            merged.updated = updates
        # Search terms of new customers and of renamed ones
        if "name" in self.mapping:
            s.execute(
                "DELETE FROM customers_customersearchterm WHERE customer_id IN (SELECT target_id FROM {s} "
                "WHERE action = 'update' AND changed LIKE '%%name,%%')"
            )
        # PostgreSQL: in the order of the terms' rank index (bytes, as its pattern operator class
        # compares), so consecutive terms land on the same leaf pages of a large index instead of a
        # random page each (at 200,000 customers: a fifth of the buffer reads, a third less time).
        # SQLite needs no order.
        in_index_order = ' ORDER BY t.kind COLLATE "C", t.term COLLATE "C"' if is_postgresql() else ""
        s.execute(
            # rank: the customer's AUM, the order search reads terms in (a new customer's is 0)
            "INSERT INTO customers_customersearchterm (customer_id, kind, term, rank) SELECT x.target_id, "
            "t.kind, t.term, CASE WHEN x.action = 'update' THEN (SELECT c.aum FROM customers_customer c "
            "WHERE c.id = x.target_id) ELSE 0 END "
            "FROM {t} t JOIN {s} x ON x.row_number = t.row_number WHERE x.action = 'insert' OR "
            f"(x.action = 'update' AND x.changed LIKE '%%name,%%'){in_index_order}"
        )
        self.tally(merged, "customer", "customer_number", ("insert", "update"))
        return merged

    def _classify_new(self) -> bool:
        """Make the rows that create a customer ``insert``; on PostgreSQL also give each its id
        from the customers' sequence, in file order, in the same UPDATE (True), so the merge
        inserts them with their ids instead of looking a million ids up again afterwards. Done
        here, not in ``check``: a dry run takes no ids."""
        if not is_postgresql():
            self.classify_new_rows()
            return False
        self.stage.execute(
            "UPDATE {s} SET action = 'insert', target_id = n.id FROM (SELECT row_number, "
            "nextval(pg_get_serial_sequence('customers_customer', 'id')) AS id FROM (SELECT row_number "
            "FROM {s} WHERE target_id IS NULL AND action IS NULL ORDER BY row_number) o) n "
            "WHERE {s}.row_number = n.row_number"
        )
        return True

    def _history(self, now: Any) -> None:
        """Lifecycle and coverage history of updated customers, written before the update."""
        label = self.actor.label[:150]
        if "lifecycle_stage" in self.mapping:
            self.stage.execute(
                "INSERT INTO customers_lifecyclechange (customer_id, from_stage, to_stage, changed_by, "
                "reason, "
                "changed_at) SELECT c.id, c.lifecycle_stage, x.lifecycle_stage, %s, %s, %s FROM {s} x JOIN "
                "customers_customer c ON c.id = x.target_id WHERE x.action = 'update' AND x.changed LIKE "
                "'%%lifecycle_stage,%%' AND x.lifecycle_stage IS NOT NULL",
                [label, "import", now],
            )
        if "primary_manager" in self.mapping or "covering_team" in self.mapping:
            to_manager = (
                "x.primary_manager_id" if "primary_manager" in self.mapping else "c.primary_manager_id"
            )
            to_team = "x.covering_team_id" if "covering_team" in self.mapping else "c.covering_team_id"
            self.stage.execute(
                "INSERT INTO customers_coveragechange (customer_id, from_manager_id, to_manager_id, "
                "from_team_id, "
                "to_team_id, changed_by, reason, changed_at) SELECT c.id, c.primary_manager_id, "
                f"{to_manager}, "
                f"c.covering_team_id, {to_team}, %s, %s, %s FROM {{s}} x JOIN customers_customer c ON "
                "c.id = x.target_id WHERE x.action = 'update' AND (x.changed LIKE '%%primary_manager,%%' OR "
                "x.changed LIKE '%%covering_team,%%')",
                [label, "import", now],
            )


# ---------------------------------------------------------------- the other entities


CONTACT_SETS: Sets = {
    "starts_on": (("starts_on", _given("starts_on")),),
    "ends_on": (("ends_on", _given("ends_on")),),
    "note": (("note", _blank("note")),),
}


class ContactChecker(Checker):
    """Relationships between customers (contact person, legal representative, spouse …)."""

    def check(self) -> None:
        s = self.stage
        self.duplicates(
            "(s.customer_number || '|' || s.related_customer_number || '|' || s.kind)",
            "customer_number",
            _("The same relationship appears on more than one row of the file."),
        )
        s.execute(
            "UPDATE {s} SET ref_id = (SELECT c.id FROM customers_customer c WHERE c.customer_number = "
            "{s}.customer_number), ref2_id = (SELECT c.id FROM customers_customer c WHERE "
            "c.customer_number = "
            "{s}.related_customer_number)"
        )
        self.customers_in_scope("ref_id", "customer_number")
        self.customers_in_scope("ref2_id", "related_customer_number")
        s.execute(
            "UPDATE {s} SET target_id = (SELECT r.id FROM customers_relationship r WHERE "
            "r.from_customer_id = "
            "{s}.ref_id AND r.to_customer_id = {s}.ref2_id AND r.kind = {s}.kind) WHERE action IS NULL"
        )
        self.deletes()
        self.classify_sets(CONTACT_SETS, "customers_relationship")

    def merge(self) -> Merged:
        s = self.stage
        merged = Merged()
        now = _now_param()
        merged.inserted = s.execute(
            "INSERT INTO customers_relationship (created_at, updated_at, from_customer_id, to_customer_id, "
            "kind, "
            "starts_on, ends_on, note) SELECT %s, %s, ref_id, ref2_id, kind, starts_on, ends_on, "
            "COALESCE(note, '') "
            "FROM {s} WHERE action = 'insert'",
            [now, now],
        )
        s.execute(
            "UPDATE {s} SET target_id = (SELECT r.id FROM customers_relationship r WHERE "
            "r.from_customer_id = "
            "{s}.ref_id AND r.to_customer_id = {s}.ref2_id AND r.kind = {s}.kind) WHERE action = 'insert'"
        )
        merged.updated = self.update_sets(CONTACT_SETS, "customers_relationship", now)
        merged.deleted = s.execute(
            "UPDATE customers_relationship SET ends_on = %s, updated_at = %s WHERE id IN (SELECT target_id "
            "FROM {s} "
            "WHERE action = 'delete') AND ends_on IS NULL",
            [self.today, now],
        )
        self.tally(merged, "relationship", "customer_number || '→' || related_customer_number")
        return merged


ACCOUNT_SETS: Sets = {
    name: ((column, _keep(column)),)
    for name, column in (
        ("kind", "kind"), ("product", "product_id"), ("currency", "currency"), ("balance", "balance"),
        ("opened_on", "opened_on"), ("status", "status"), ("org_unit", "org_unit_id"),
    )
}  # fmt: skip


class AccountChecker(Checker):
    def check(self) -> None:
        s = self.stage
        self.duplicates(
            "s.account_number_bidx",
            "account_number",
            _("The same account number appears on more than one row."),
        )
        s.execute(
            "UPDATE {s} SET target_id = a.id FROM portfolio_account a WHERE a.account_number_bidx = "
            "{s}.account_number_bidx"
        )
        s.execute(
            "UPDATE {s} SET ref_id = c.id FROM customers_customer c WHERE c.customer_number = "
            "{s}.customer_number"
        )
        self.customers_in_scope("ref_id", "customer_number", when="s.customer_number IS NOT NULL")
        self.flag(
            "s.target_id IS NOT NULL AND s.ref_id IS NOT NULL AND EXISTS (SELECT 1 FROM portfolio_account a "
            "WHERE a.id = s.target_id AND a.customer_id <> s.ref_id)",
            [],
            "account_number",
            "conflict",
            _("This account belongs to another customer."),
        )
        self.required_for_new(
            (("kind", "kind"), ("ref_id", "customer_number"), ("opened_on", "opened_on")),
            _("A new account needs this field."),
        )
        self.deletes()
        self.classify_sets(ACCOUNT_SETS, "portfolio_account")

    def merge(self) -> Merged:
        s = self.stage
        merged = Merged()
        now = _now_param()
        merged.inserted = s.execute(
            "INSERT INTO portfolio_account (created_at, updated_at, row_uid, customer_id, kind, product_id, "
            "account_number, account_number_bidx, number_last4, card_first6, currency, balance, opened_on, "
            "org_unit_id, status) SELECT %s, %s, x.row_uid, x.ref_id, x.kind, x.product_id, "
            "x.account_number, "
            "x.account_number_bidx, x.number_last4, COALESCE(x.card_first6, ''), COALESCE(x.currency, "
            "'CNY'), "
            "COALESCE(x.balance, 0), x.opened_on, COALESCE(x.org_unit_id, c.org_unit_id), "
            "COALESCE(x.status, 'active') FROM {s} x JOIN customers_customer c ON c.id = x.ref_id "
            "WHERE x.action = 'insert'",
            [now, now],
        )
        s.execute(
            "UPDATE {s} SET target_id = (SELECT a.id FROM portfolio_account a WHERE a.account_number_bidx = "
            "{s}.account_number_bidx) WHERE action = 'insert'"
        )
        merged.updated = self.update_sets(ACCOUNT_SETS, "portfolio_account", now)
        merged.deleted = s.execute(
            "UPDATE portfolio_account SET status = 'closed', updated_at = %s WHERE id IN (SELECT target_id "
            "FROM {s} "
            "WHERE action = 'delete') AND status <> 'closed'",
            [now],
        )
        merged.customer_ids = {
            row[0]
            for row in s.fetch(
                "SELECT ref_id FROM {s} WHERE action IN ('insert', 'update', 'delete') AND ref_id IS NOT "
                "NULL "
                "UNION SELECT a.customer_id FROM portfolio_account a JOIN {s} x ON x.target_id = a.id "
                "WHERE x.action = 'delete'"
            )
        }
        self.tally(merged, "account", "number_last4")
        return merged


HOLDING_SETS: Sets = {
    "account_number": (("account_id", _given("ref2_id")),),
    **{name: ((column, _keep(column)),) for name, column in (
        ("product", "product_id"), ("amount", "amount"), ("currency", "currency"),
        ("market_value", "market_value"), ("start_date", "start_date"),
    )},
    "cash_value": (("cash_value", _given("cash_value")),),
    "maturity_date": (("maturity_date", _given("maturity_date")),),
}  # fmt: skip


class HoldingChecker(Checker):
    def check(self) -> None:
        s = self.stage
        self.duplicates(
            "s.source_ref",
            "source_ref",
            _("The same source reference appears on more than one row."),
            value_sql="s.source_ref",
        )
        s.execute(
            "UPDATE {s} SET target_id = (SELECT h.id FROM portfolio_holding h WHERE h.source_ref = "
            "{s}.source_ref), "
            "ref_id = (SELECT c.id FROM customers_customer c WHERE c.customer_number = {s}.customer_number), "
            "ref2_id = (SELECT a.id FROM portfolio_account a WHERE a.account_number_bidx = "
            "{s}.account_number_bidx)"
        )
        self.customers_in_scope("ref_id", "customer_number", when="s.customer_number IS NOT NULL")
        self.flag(
            "s.account_number_bidx IS NOT NULL AND (s.ref2_id IS NULL OR NOT EXISTS (SELECT 1 FROM "
            "portfolio_account a WHERE a.id = s.ref2_id AND a.customer_id = s.ref_id))",
            [],
            "account_number",
            "unknown_reference",
            _("No account with this number belongs to this customer."),
        )
        self.flag(
            "s.target_id IS NOT NULL AND s.ref_id IS NOT NULL AND EXISTS (SELECT 1 FROM portfolio_holding h "
            "WHERE h.id = s.target_id AND h.customer_id <> s.ref_id)",
            [],
            "source_ref",
            "conflict",
            _("This holding belongs to another customer."),
            value_sql="s.source_ref",
        )
        self.required_for_new(
            (
                ("ref_id", "customer_number"),
                ("product_id", "product"),
                ("amount", "amount"),
                ("market_value", "market_value"),
                ("start_date", "start_date"),
            ),
            _("A new holding needs this field."),
        )
        self.deletes()
        self.classify_sets(HOLDING_SETS, "portfolio_holding")

    def merge(self) -> Merged:
        s = self.stage
        merged = Merged()
        now = _now_param()
        merged.customer_ids = {
            row[0]
            for row in s.fetch(
                "SELECT ref_id FROM {s} WHERE action IN ('insert', 'update', 'delete') AND ref_id IS NOT NULL"
            )
        }
        merged.customer_ids |= {
            row[0]
            for row in s.fetch(
                "SELECT h.customer_id FROM portfolio_holding h JOIN {s} x ON x.target_id = h.id "
                "WHERE x.action = 'delete'"
            )
        }
        merged.inserted = s.execute(
            "INSERT INTO portfolio_holding (created_at, updated_at, customer_id, account_id, product_id, "
            "amount, "
            "currency, market_value, cash_value, start_date, maturity_date, source_ref) SELECT %s, %s, "
            "ref_id, "
            "ref2_id, product_id, amount, COALESCE(currency, 'CNY'), market_value, cash_value, start_date, "
            "maturity_date, source_ref FROM {s} WHERE action = 'insert'",
            [now, now],
        )
        s.execute(
            "UPDATE {s} SET target_id = (SELECT h.id FROM portfolio_holding h WHERE h.source_ref = "
            "{s}.source_ref) "
            "WHERE action = 'insert'"
        )
        merged.updated = self.update_sets(HOLDING_SETS, "portfolio_holding", now)
        self.tally(merged, "holding", "source_ref")
        merged.deleted = s.execute(
            "DELETE FROM portfolio_holding WHERE id IN (SELECT target_id FROM {s} WHERE action = 'delete')"
        )
        return merged


class TransactionChecker(Checker):
    """Transactions are facts: a booked one is never changed by a file, only added or reversed.

    Built for files of millions of rows: no statement rewrites every row of the stage. The accounts
    the file names are resolved once, into a small side table (the stage's second table, ``{t}``,
    which transactions do not otherwise use; dropped with the stage): account number blind index
    → account id and customer id, only for accounts of customers the actor may edit. Checks read
    the stage; only the rows that are refused or already booked get an ``action``. A row left
    with no action is booked by ``merge``, in one INSERT … SELECT whose rows are in final form.
    """

    # Fields the preparer already refuses when mapped and empty on a row that books a transaction:
    # the check in SQL is only needed for those the file does not carry.
    REQUIRED = ("booked_at", "business_date", "amount", "direction", "channel", "transaction_type")

    def check(self) -> None:
        with self._roomy_work_mem():
            self._check()

    @contextmanager
    def _roomy_work_mem(self) -> Iterator[None]:
        """The sorts and hashes over a file of millions of rows (duplicates, the accounts it names,
        the insert's order) stay in memory, not in temporary files; the rest of the caller's
        transaction runs as before (on an error the transaction rolls the setting back itself)."""
        if not is_postgresql():
            yield
            return
        work_mem = self.stage.fetch("SELECT current_setting('work_mem')")[0][0]
        self.stage.execute("SELECT set_config('work_mem', '256MB', TRUE)")
        yield
        self.stage.execute("SELECT set_config('work_mem', %s, TRUE)", [work_mem])

    def _check(self) -> None:
        s = self.stage
        self.duplicates(
            "(s.account_number_bidx || '|' || s.source_ref)",
            "source_ref",
            _("The same transaction (account and source reference) appears on more than one row."),
            value_sql="s.source_ref",
        )
        editable = _scope_sql(self.actor, EDIT)
        in_scope = f" AND a.customer_id IN ({editable[0]})" if editable is not None else ""
        s.execute("DROP TABLE IF EXISTS {t}")
        s.execute(
            "CREATE " + ("UNLOGGED " if is_postgresql() else "") + "TABLE {t} AS SELECT "
            "a.account_number_bidx AS account_number_bidx, a.id AS account_id, a.customer_id AS customer_id "
            "FROM portfolio_account a WHERE a.account_number_bidx IN (SELECT DISTINCT x.account_number_bidx "
            f"FROM {{s}} x){in_scope}",
            editable[1] if editable is not None else [],
        )
        if is_postgresql():
            s.execute("ANALYZE {t}")
        # An unknown account and an account outside the actor's scope are refused alike.
        self.flag(
            "NOT EXISTS (SELECT 1 FROM {t} r WHERE r.account_number_bidx = s.account_number_bidx)",
            [],
            "account_number",
            "unknown_reference",
            _("No account with this number in your data scope."),
        )
        missing = [
            name
            for name in self.REQUIRED
            if name not in self.mapping and (name != "business_date" or "booked_at" not in self.mapping)
        ]  # a business date is taken from booked_at when its cell is empty
        self.required_for_new(  # every row books a transaction: the file must carry these
            tuple((name, name) for name in missing), _("A transaction needs this field.")
        )
        # Already booked (same account and source reference): unchanged, or deleted by a "D" row.
        s.execute(
            "UPDATE {s} SET target_id = t.id, action = CASE WHEN {s}.op = 'D' THEN 'delete' ELSE "
            "'unchanged' END FROM {t} r, portfolio_transaction t WHERE r.account_number_bidx = "
            "{s}.account_number_bidx AND t.account_id = r.account_id AND t.source_ref = {s}.source_ref "
            "AND t.source_ref <> '' AND {s}.action IS NULL"
        )
        s.execute("UPDATE {s} SET action = 'unchanged' WHERE op = 'D' AND action IS NULL")

    def merge(self) -> Merged:
        with self._roomy_work_mem():
            return self._merge()

    def _merge(self) -> Merged:
        s = self.stage
        merged = Merged()
        # Rows go in by customer and account, so the (customer, booked_at) and (account, …) indexes
        # and the foreign-key checks at commit touch each customer's pages once, not once per row.
        merged.inserted = s.execute(
            "INSERT INTO portfolio_transaction (row_uid, customer_id, account_id, booked_at, "
            "business_date, amount, currency, direction, channel, transaction_type, "
            "counterparty_account, counterparty_account_bidx, cross_border, source_ref) "
            "SELECT x.row_uid, r.customer_id, r.account_id, x.booked_at, x.business_date, x.amount, "
            "COALESCE(x.currency, 'CNY'), x.direction, x.channel, x.transaction_type, "
            "x.counterparty_account, x.counterparty_account_bidx, COALESCE(x.cross_border, FALSE), "
            "x.source_ref FROM {s} x JOIN {t} r ON r.account_number_bidx = x.account_number_bidx "
            "WHERE x.action IS NULL "
            "ORDER BY r.customer_id, r.account_id, x.booked_at, x.row_number"
        )
        merged.deleted = s.execute(
            "DELETE FROM portfolio_transaction WHERE id IN (SELECT target_id FROM {s} WHERE action = "
            "'delete')"
        )
        merged.unchanged = self.count("unchanged")
        # No customer_ids: transactions are not part of AUM (importer.AUM_ENTITIES), and finding the
        # customers of millions of booked rows took seconds for nobody.
        return merged


PRODUCT_SETS: Sets = {
    **{name: ((name, _keep(name)),) for name in (
        "name", "product_type", "issuer", "risk_level", "currency", "is_private", "is_active",
    )},
    "term_days": (("term_days", _given("term_days")),),
}  # fmt: skip


class ProductChecker(Checker):
    def check(self) -> None:
        s = self.stage
        self.duplicates(
            "s.code", "code", _("The same product code appears on more than one row."), value_sql="s.code"
        )
        s.execute("UPDATE {s} SET target_id = (SELECT p.id FROM products_product p WHERE p.code = {s}.code)")
        self.required_for_new(
            (("name", "name"), ("product_type", "product_type"), ("risk_level", "risk_level")),
            _("A new product needs this field."),
        )
        self.deletes()
        self.classify_sets(PRODUCT_SETS, "products_product")

    def merge(self) -> Merged:
        s = self.stage
        merged = Merged()
        now = _now_param()
        merged.inserted = s.execute(
            "INSERT INTO products_product (created_at, updated_at, code, name, product_type, issuer, "
            "risk_level, "
            "currency, term_days, is_private, is_active) SELECT %s, %s, code, name, product_type, "
            "COALESCE(issuer, ''), risk_level, COALESCE(currency, 'CNY'), term_days, COALESCE(is_private, "
            "FALSE), "
            "COALESCE(is_active, TRUE) FROM {s} WHERE action = 'insert'",
            [now, now],
        )
        s.execute(
            "UPDATE {s} SET target_id = (SELECT p.id FROM products_product p WHERE p.code = {s}.code) "
            "WHERE action = 'insert'"
        )
        merged.updated = self.update_sets(PRODUCT_SETS, "products_product", now)
        merged.deleted = s.execute(
            "UPDATE products_product SET is_active = FALSE, updated_at = %s WHERE id IN (SELECT target_id "
            "FROM {s} "
            "WHERE action = 'delete') AND is_active",
            [now],
        )
        self.tally(merged, "product", "code")
        return merged


CHECKERS: dict[str, type[Checker]] = {
    "customers": CustomerChecker,
    "contacts": ContactChecker,
    "accounts": AccountChecker,
    "holdings": HoldingChecker,
    "transactions": TransactionChecker,
    "products": ProductChecker,
}

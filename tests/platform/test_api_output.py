"""platform.api_output: a response serialized from its rows exactly as ninja's schema would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from django.db import models
from ninja import Field, Schema
from pydantic import field_validator

from fincrm.platform.api import RENDERER
from fincrm.platform.api_output import schema_dumper


class Inner(Schema):
    code: str
    amount: Decimal


class Outer(Schema):
    id: int
    on: date | None
    at: datetime
    flag: bool
    inner: Inner | None
    rows: list[Inner]
    mix: dict[str, Decimal]
    extra: list[dict[str, Any]]
    note: str = "none"


class Kind(models.TextChoices):
    A = "a", "A"


@dataclass
class Row:
    code: Any
    amount: Any
    hidden: str = "never sent"


@dataclass
class Source:
    id: int
    on: date | None
    at: datetime
    flag: bool
    inner: Row | None
    rows: list[Row]
    mix: dict[str, Decimal]
    extra: list[dict[str, Any]]


def _source(**changes: Any) -> Source:
    values: dict[str, Any] = {
        "id": 7,
        "on": date(2026, 1, 31),
        "at": datetime(2026, 1, 31, 8, 30, tzinfo=UTC),
        "flag": True,
        "inner": Row(Kind.A, 5),
        "rows": [Row("x", Decimal("1.50")), Row("y", Decimal("0.00"))],
        "mix": {"deposit": Decimal("2.00")},
        "extra": [{"any": "thing"}],
    }
    return Source(**{**values, **changes})


@pytest.mark.parametrize(
    "source",
    [_source(), _source(on=None, inner=None, rows=[]), {**_source().__dict__, "note": "given"}],
)
def test_the_same_dump_as_pydantic(source: Any) -> None:
    expected = Outer.model_validate(source).model_dump()
    dumped = schema_dumper(Outer)(source)
    assert dumped == expected
    assert list(dumped) == list(expected)  # the schema's order
    if dumped["inner"] is not None:
        assert type(dumped["inner"]["code"]) is str  # a TextChoices member leaves as plain text


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"on": None, "inner": None, "rows": []},
        # What the encoder rounds or rewrites: microseconds (to milliseconds), another zone
        {"at": datetime(2026, 1, 31, 8, 30, 15, 123456, tzinfo=UTC)},
        {"at": datetime(2026, 1, 31, 8, 30, tzinfo=timezone(timedelta(hours=8)))},
        {"at": datetime(2026, 1, 31, 8, 30, 0, 999, tzinfo=UTC)},
        {"rows": [Row("x", Decimal("1E+3")), Row("y", Decimal("-0.00")), Row("z", 12)]},
        {"mix": {"deposit": Decimal("123456789012345678.90")}},
    ],
)
def test_the_json_ready_dump_renders_the_same_bytes(changes: dict[str, Any]) -> None:
    source = _source(**changes)
    expected = RENDERER.render(None, Outer.model_validate(source).model_dump(), response_status=200)
    dumped = schema_dumper(Outer, json_ready=True)(source)
    assert RENDERER.render(None, dumped, response_status=200) == expected
    assert type(dumped["at"]) is str  # already text: the encoder has nothing left to convert


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "7"},  # pydantic would coerce text; the rows must carry the declared type
        {"flag": 1},
        {"on": datetime(2026, 1, 31, tzinfo=UTC)},
        {"rows": ({"code": "x", "amount": 1.5},)},  # a float is not an exact amount
        {"mix": [("deposit", Decimal(1))]},
    ],
)
@pytest.mark.parametrize("json_ready", [False, True])
def test_a_value_of_another_type_is_refused(changes: dict[str, Any], json_ready: bool) -> None:
    with pytest.raises(TypeError):
        schema_dumper(Outer, json_ready=json_ready)(_source(**changes))


def test_a_missing_field_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Inner\.amount is missing"):
        schema_dumper(Outer)(_source(inner={"code": "x"}))


class Aliased(Schema):
    code: str = Field(alias="kode")


class Validated(Schema):
    code: str

    @field_validator("code")
    @classmethod
    def upper(cls, value: str) -> str:
        return value.upper()


class Resolved(Schema):
    code: str

    @staticmethod
    def resolve_code(obj: Any) -> str:
        return "resolved"


class Unhandled(Schema):
    when: tuple[int, int]


@pytest.mark.parametrize("schema", [Aliased, Validated, Resolved, Unhandled])
def test_schemas_it_cannot_mirror_are_refused(schema: type[Schema]) -> None:
    with pytest.raises(TypeError):
        schema_dumper(schema)

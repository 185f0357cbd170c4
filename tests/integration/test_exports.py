"""The hostile-safe CSV/XLSX writer: formula neutralization, text columns, watermark."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from fincrm.integration.exports import Column, cell_value, write_csv, write_xlsx

COLUMNS = [Column("number", "Number", text=True), Column("name", "Name"), Column("aum", "AUM")]
HOSTILE = ["=1+1", "+1", "-1", "@SUM(A1)", "\tcmd", "\rcmd", '=HYPERLINK("http://x","y")']


def _csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


@given(st.text())
def test_no_text_cell_starts_a_formula(value: str) -> None:
    cell = cell_value(value)
    assert isinstance(cell, str)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


@given(st.one_of(st.none(), st.integers(), st.decimals(), st.floats(), st.booleans(), st.text(), st.dates()))
def test_cell_value_never_raises(value: object) -> None:
    cell_value(value)
    cell_value(value, text=True)


def test_numbers_stay_numbers_and_text_columns_are_text() -> None:
    assert cell_value(Decimal("-5.20")) == Decimal("-5.20")
    assert cell_value(42) == 42
    assert cell_value(6222021234561234, text=True) == "6222021234561234"
    assert cell_value(None) is None


def test_csv_has_watermark_header_and_neutralized_cells() -> None:
    rows = [["0012", value, Decimal("1.50")] for value in HOSTILE]
    content = write_csv(COLUMNS, rows, watermark="Exported by alice on 2025-01-01 10:00:00")
    parsed = _csv_rows(content)
    assert parsed[0] == ["Exported by alice on 2025-01-01 10:00:00"]
    assert parsed[1] == ["Number", "Name", "AUM"]
    assert [row[1] for row in parsed[2:]] == ["'" + value for value in HOSTILE]
    assert parsed[2][0] == "0012"
    assert parsed[2][2] == "1.50"


def test_xlsx_has_watermark_row_header_footer_and_text_cells() -> None:
    rows = [["11010519491231002X", "=cmd|' /C calc'!A0", Decimal("-3.25")], ["0012", "张三", None]]
    content = write_xlsx(COLUMNS, rows, watermark="Exported by alice & bob", sheet_title="Customers")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    assert sheet["A1"].value == "Exported by alice & bob"
    assert [cell.value for cell in sheet[2]] == ["Number", "Name", "AUM"]
    assert sheet["A3"].value == "11010519491231002X"
    assert sheet["A3"].data_type == "s"
    assert sheet["A3"].number_format == "@"
    assert sheet["A4"].value == "0012"
    assert sheet["B3"].value == "'=cmd|' /C calc'!A0"
    assert sheet["B3"].data_type == "s"
    assert sheet["C3"].value == -3.25
    assert sheet.oddHeader.center.text == "Exported by alice && bob"
    assert sheet.oddFooter.center.text == "Exported by alice && bob"


def test_xlsx_drops_characters_xml_cannot_carry() -> None:
    content = write_xlsx(COLUMNS, [["1", "a\x00b\x1fc", 1]], watermark="w")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    assert sheet["B3"].value == "abc"

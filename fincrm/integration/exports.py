"""Hostile-safe CSV and XLSX writing, shared by every export (customer lists, reports, imports' error files).

A cell a spreadsheet would read as a formula (OWASP "CSV injection") is neutralized: a text value
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so Excel,
LibreOffice and WPS show it as text. Numbers stay numbers (a negative Decimal is a number, not a
formula); columns declared text (ID, card and account numbers) are always written as text, so a
spreadsheet never turns ``622202…`` into ``6.22E+18`` or drops a leading zero.

Every file carries a watermark: CSV files start with one line naming who exported what and when;
XLSX files put it in the first row and in the printed header and footer.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from fincrm.platform.spreadsheets import neutralize

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
# The content type of a file written in each format (exports, rejected rows).
CONTENT_TYPES = {"csv": CSV_CONTENT_TYPE, "xlsx": XLSX_CONTENT_TYPE}
# Excel limits: 32,767 characters per cell; the header and footer 255 characters.
MAX_CELL = 32_767
MAX_HEADER_FOOTER = 250
# Characters XML 1.0 cannot carry: openpyxl refuses them, so they are dropped.
_ILLEGAL_XML = {c: None for c in range(32) if c not in (9, 10, 13)}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    text: bool = False  # always written as text (identifiers: ID, card, account numbers)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    try:
        return str(value)
    except Exception:  # a hostile __str__ must not break an export
        return ""


def cell_value(value: Any, *, text: bool = False) -> str | int | decimal.Decimal | None:
    """What a cell holds: a number for ints and Decimals (unless the column is text), else
    neutralized text without characters XML cannot carry, at most MAX_CELL characters."""
    if value is None:
        return None
    if not text and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if isinstance(value, decimal.Decimal) and value.is_finite():
            return value
        if isinstance(value, float):
            # Money is never a float; anything else is shown as written.
            return neutralize(repr(value))
    cleaned = _text(value).translate(_ILLEGAL_XML)[:MAX_CELL]
    return neutralize(cleaned)


def write_csv(columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, watermark: str) -> bytes:
    """UTF-8 with a byte-order mark (Excel then reads Chinese correctly), a watermark line, a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([cell_value(watermark)])
    writer.writerow([cell_value(column.label) for column in columns])
    for row in rows:
        writer.writerow(
            [
                "" if (cell := cell_value(value, text=column.text)) is None else cell
                for column, value in zip(columns, row, strict=True)
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _header_footer_text(watermark: str) -> str:
    # In header/footer codes "&" starts a command: double it so the watermark is shown literally.
    return watermark.translate(_ILLEGAL_XML).replace("&", "&&")[:MAX_HEADER_FOOTER]


def _xlsx(value: str | int | decimal.Decimal | None) -> Any:
    # openpyxl writes Decimals as numbers; its stubs only list float.
    return value


def write_xlsx(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    watermark: str,
    sheet_title: str = "export",
) -> bytes:
    """One sheet (write-only mode: memory stays flat for big files): the watermark in row 1 and in
    the printed header and footer, then the header row and the data; text columns formatted "@"."""
    workbook = Workbook(write_only=True)
    sheet: Worksheet = workbook.create_sheet(title=neutralize(sheet_title)[:31] or "export")
    mark = _header_footer_text(watermark)
    for item in (sheet.oddHeader, sheet.oddFooter, sheet.evenHeader, sheet.evenFooter):
        if item is not None:
            item.center.text = mark
    sheet.freeze_panes = "A3"

    mark_cell = WriteOnlyCell(sheet, value=_xlsx(cell_value(watermark)))
    mark_cell.font = Font(italic=True, color="808080")
    sheet.append([mark_cell])
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=_xlsx(cell_value(column.label, text=True)))
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        cells = []
        for column, value in zip(columns, row, strict=True):
            cell = WriteOnlyCell(sheet, value=_xlsx(cell_value(value, text=column.text)))
            if column.text:
                cell.number_format = "@"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

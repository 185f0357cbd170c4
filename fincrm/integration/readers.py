"""Strict, bounded reading of import files (CSV and XLSX): files are hostile.

``open_table(stream, options)`` returns a :class:`Table`: its ``header`` (stripped names, checked
unique and non-blank) and ``rows()``, yielding ``(row_number, cells)`` where ``row_number`` is the row
as a person sees it in Excel or an editor (the header is usually row 1, the first data row 2).
Anything wrong with the file as a whole raises :class:`FileRejected` (nothing is imported) with a
stable ``code``, a localized message naming the rule and where, and the row when there is one.

CSV is decoded strictly with the declared encoding, block by block, never guessing; a UTF-8
byte-order mark is accepted. Memory is bounded: a record may hold at most ``max_columns`` fields of
``max_field_chars`` characters, and a line is never read further than that bound allows, so a 1 GB
file, a 10 MB field or a line of millions of columns cannot fill the memory.

XLSX is inspected with :mod:`zipfile` before openpyxl touches it (entry count, total uncompressed
size and compression ratio: zip bombs), then read in openpyxl's read-only, streaming mode (its XML is
parsed through defusedxml, which openpyxl uses when it is installed: no entity expansion). Only the
first worksheet is read; cells come as openpyxl gives them, numbers stay numbers, so an ID number
typed as a number is visible downstream (spreadsheets keep 15 significant digits).
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar, cast
from xml.etree.ElementTree import ParseError

from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

MiB = 1024 * 1024
# Read size for CSV: the stream is consumed this much at a time.
BLOCK_BYTES = 1 * MiB
# A header name longer than this cannot be a column name (an import issue stores at most 100).
MAX_HEADER_NAME = 100
# An XLSX holds a handful of parts; thousands of entries are not a workbook.
MAX_XLSX_ENTRIES = 10_000
# Below this uncompressed size an entry's compression ratio is not checked (tiny, repetitive XML
# compresses well and is harmless).
RATIO_CHECK_FROM = 1 * MiB

Cell = TypeVar("Cell")
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class FileRejected(Exception):
    """A problem with the file as a whole: nothing of it is imported.

    ``message`` is rendered in the active language each time it is read.
    """

    def __init__(self, code: str, template: Any, *, row: int = 0, column: str = "", **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.template = template
        self.row = row
        self.column = column
        self.params = {"row": row, "column": column, **params}

    @property
    def message(self) -> str:
        text = str(self.template)
        if "%(" not in text:
            return text
        try:
            return text % self.params
        except (KeyError, ValueError, TypeError):  # a caller's ready-made text holding a stray "%("
            return text

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class ReadOptions:
    file_format: str  # "csv" or "xlsx"
    encoding: str = "utf-8"
    delimiter: str = ","
    max_columns: int = 500
    max_field_chars: int = 10_000
    max_rows: int | None = None
    max_xlsx_uncompressed: int = 200 * MiB
    max_xlsx_ratio: int = 100

    @property
    def max_record_chars(self) -> int:
        """No valid record is longer: every field at its cap, quoted, with its delimiter."""
        return self.max_columns * (self.max_field_chars + 3)


class Table:
    """A file opened for import: its header and its rows."""

    header: list[str]

    def rows(self) -> Iterator[tuple[int, list[object]]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the table holds open (idempotent; rows() also does it when exhausted)."""


def open_table(stream: BinaryIO, options: ReadOptions) -> Table:
    """Open ``stream`` as ``options`` say; the header is read and checked before this returns."""
    if options.file_format == "csv":
        return CsvTable(stream, options)
    if options.file_format == "xlsx":
        return XlsxTable(stream, options)
    raise FileRejected(
        "format",
        _("The file format %(file_format)s is not supported: choose CSV or XLSX."),
        file_format=options.file_format,
    )


def _is_empty(cells: Sequence[object]) -> bool:
    if cells and type(cells[0]) is str and cells[0].strip():  # the common row, at once (every row asks)
        return False
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _header_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value).strip()


def _check_header(cells: Sequence[object], row: int, options: ReadOptions) -> list[str]:
    names = [_header_text(cell) for cell in cells]
    while names and not names[-1]:  # spreadsheets pad the used range with empty cells
        names.pop()
    if len(names) > options.max_columns:
        raise FileRejected(
            "too_many_columns",
            _("The header (row %(row)s) has %(count)s columns; at most %(limit)s are allowed."),
            row=row,
            count=len(names),
            limit=options.max_columns,
        )
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            raise FileRejected(
                "header",
                _("The header (row %(row)s) has no name in column %(position)s: every column needs a name."),
                row=row,
                position=position,
            )
        if len(name) > MAX_HEADER_NAME:
            raise FileRejected(
                "header",
                _(
                    "The header (row %(row)s) has a column name longer than %(limit)s characters "
                    "(column %(position)s)."
                ),
                row=row,
                position=position,
                limit=MAX_HEADER_NAME,
            )
        if name in seen:
            raise FileRejected(
                "header",
                _(
                    "The header (row %(row)s) names the column “%(column)s” twice: "
                    "column names must be unique."
                ),
                row=row,
                column=name,
            )
        seen.add(name)
    return names


def _fit(cells: list[Cell], width: int) -> list[Cell]:
    """Drop empty cells beyond the header's width (the padding of a spreadsheet's used range)."""
    if len(cells) > width:
        end = len(cells)
        while end > width and (cells[end - 1] is None or cells[end - 1] == ""):
            end -= 1
        if end < len(cells):
            return cells[:end]
    return cells


def _empty_file() -> FileRejected:
    return FileRejected("empty", _("The file is empty: it has no header row and no data."))


def _header_only(row: int) -> FileRejected:
    return FileRejected("empty", _("The file has a header (row %(row)s) but no data rows."), row=row)


def _too_many_rows(row: int, limit: int) -> FileRejected:
    return FileRejected(
        "too_large", _("The file has more than %(limit)s data rows (row %(row)s)."), row=row, limit=limit
    )


# -- CSV ---------------------------------------------------------------------------------------------


class _CsvLines:
    """The decoded lines of a CSV byte stream, read a block at a time, strictly decoded.

    Lines keep their terminator (``\\r\\n``, ``\\n`` or ``\\r``) as :mod:`csv` expects. A problem is
    raised when the csv reader asks for the offending line, so it names the record it belongs to.
    """

    def __init__(self, stream: BinaryIO, options: ReadOptions, table: CsvTable) -> None:
        self.stream = stream
        self.options = options
        self.table = table
        try:
            self.decoder = codecs.getincrementaldecoder(options.encoding)("strict")
        except LookupError:
            raise FileRejected(
                "encoding",
                _("The encoding %(encoding)s is not known: choose UTF-8 or GB18030."),
                encoding=options.encoding,
            ) from None
        self.is_utf8 = codecs.lookup(options.encoding).name == "utf-8"
        self.carry = b""
        self.started = False
        self.eof = False
        self.lines: list[str] = []
        self.position = 0
        # (code, template, params) of a problem met past the lines still to hand out.
        self.pending: tuple[str, Any, dict[str, Any]] | None = None
        self.record_chars = 0  # characters handed out for the record being parsed
        self.record_delimiters = 0
        self.plain = False  # every line of ``lines`` is one whole record within the bounds

    def __iter__(self) -> Iterator[str]:
        while True:
            if self.position >= len(self.lines):
                if self.pending is not None:
                    code, template, params = self.pending
                    raise FileRejected(code, template, row=self.table.record + 1, **params)
                if self.eof:
                    return
                self._fill()
                continue
            if self.plain and not self.record_chars:
                # At a record's start in a block whose every line is a whole record within the
                # bounds (no quote, no line too long): the lines need no accounting one by one.
                lines, self.lines, self.position = self.lines, [], 0
                yield from lines
                continue
            line = self.lines[self.position]
            self.position += 1
            self.record_chars += len(line)
            self.record_delimiters += line.count(self.options.delimiter)
            if self.record_chars > self.options.max_record_chars:
                code, template, params = self._oversized(self.record_delimiters)
                raise FileRejected(code, template, row=self.table.record + 1, **params)
            yield line

    def record_done(self) -> None:
        self.record_chars = 0
        self.record_delimiters = 0

    def _oversized(self, delimiters: int) -> tuple[str, Any, dict[str, Any]]:
        if delimiters >= self.options.max_columns:
            return "too_many_columns", TOO_MANY_COLUMNS, {"limit": self.options.max_columns}
        return "field_too_large", FIELD_TOO_LARGE, {"limit": self.options.max_field_chars}

    def _fill(self) -> None:
        self.lines = []
        self.position = 0
        block = self.stream.read(BLOCK_BYTES)
        if not block:
            self.eof = True
            data, self.carry = self.carry, b""
        else:
            data = self.carry + block
            end = _last_line_end(data)
            if end == 0:
                # No line ends within the bound a valid record allows: read no further.
                if len(data) > self.options.max_record_chars:
                    self.pending = self._oversized(data.count(self.options.delimiter.encode("utf-8")))
                else:
                    self.carry = data
                return
            data, self.carry = data[:end], data[end:]
        if not self.started and data:
            self.started = True
            if self.is_utf8:
                data = data.removeprefix(codecs.BOM_UTF8)
        if b"\x00" in data:
            data = self._good_prefix(data, data.index(b"\x00"))
            self.pending = ("binary", BINARY, {})
        try:
            text = self.decoder.decode(data, final=self.eof)
        except UnicodeDecodeError as error:
            data = self._good_prefix(data, error.start)
            self.pending = ("encoding", WRONG_ENCODING, {"encoding": self.options.encoding.upper()})
            text = self.decoder.decode(data)
        self.lines = _LINES.findall(text)
        self.plain = '"' not in text and max(map(len, self.lines), default=0) <= self.options.max_record_chars

    def _good_prefix(self, data: bytes, position: int) -> bytes:
        """The whole lines before ``position``, with a fresh decoder to read them."""
        self.decoder = codecs.getincrementaldecoder(self.options.encoding)("strict")
        return data[: _last_line_end(data[:position], final=True)]


BINARY = _(
    "Row %(row)s holds binary data (NUL bytes): this is not a text (CSV) file. "
    "An XLSX workbook must be imported as XLSX."
)
TOO_MANY_COLUMNS = _("Row %(row)s has more than %(limit)s columns.")
FIELD_TOO_LARGE = _("Row %(row)s has a field longer than %(limit)s characters.")
WRONG_ENCODING = _(
    "Row %(row)s is not valid %(encoding)s text: the file is in another encoding. "
    "Declare its real encoding (UTF-8 or GB18030) in the import settings."
)


def _last_line_end(data: bytes, *, final: bool = False) -> int:
    """The index just after the last complete line terminator in ``data`` (0 if none).

    A ``\\r`` in the last byte may be the first half of ``\\r\\n``: it ends a line only at the end.
    The bytes 0x0A and 0x0D never occur inside a UTF-8 or GB18030 character, so a split there never
    cuts a character in two.
    """
    newline = data.rfind(b"\n")
    carriage = data.rfind(b"\r")
    if carriage == len(data) - 1 and not final:
        carriage = data.rfind(b"\r", 0, len(data) - 1)
    return max(newline, carriage) + 1


class CsvTable(Table):
    def __init__(self, stream: BinaryIO, options: ReadOptions) -> None:
        if len(options.delimiter) != 1 or options.delimiter in '\r\n"\x00':
            raise FileRejected(
                "format",
                _(
                    "The delimiter %(delimiter)s cannot separate CSV columns: "
                    "use one character such as , ; | or a tab."
                ),
                delimiter=repr(options.delimiter),
            )
        self.options = options
        self.record = 0  # records read so far (blank lines included): the row number of the last one
        self._lines = _CsvLines(stream, options, self)
        # The limit is process-wide in the csv module; every import uses the same caps.
        csv.field_size_limit(options.max_field_chars)
        self._reader = csv.reader(self._lines, delimiter=options.delimiter, strict=True)
        self._started = False
        self.header = []
        self.header_row = 0
        while True:
            cells = self._next()
            if cells is None:
                raise _empty_file()
            if not _is_empty(cells):
                break
        self.header_row = self.record
        self.header = _check_header(list(cells), self.record, options)
        self._first: tuple[int, list[object]] | None = None
        row = self._next_data()
        if row is None:
            raise _header_only(self.header_row)
        self._first = row

    def _next(self) -> list[str] | None:
        try:
            cells = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as error:
            row = self.record + 1
            if "field limit" in str(error):
                raise FileRejected(
                    "field_too_large",
                    FIELD_TOO_LARGE,
                    row=row,
                    limit=self.options.max_field_chars,
                ) from None
            raise FileRejected(
                "format",
                _(
                    "Row %(row)s is not valid CSV: a quoted field must end with a quote followed by the "
                    "delimiter or the end of the line, and a quote inside it must be doubled."
                ),
                row=row,
            ) from None
        self.record += 1
        self._lines.record_done()
        if len(cells) > self.options.max_columns and len(_fit(list(cells), len(self.header))) > (
            self.options.max_columns
        ):
            raise FileRejected(
                "too_many_columns",
                TOO_MANY_COLUMNS,
                row=self.record,
                limit=self.options.max_columns,
            )
        return cells

    def _next_data(self) -> tuple[int, list[object]] | None:
        while True:
            cells = self._next()
            if cells is None:
                return None
            if _is_empty(cells):
                continue
            if self.options.max_rows is not None and self.record - self.header_row > self.options.max_rows:
                # Rows are counted as the user sees them, blank lines included: a conservative cap.
                raise _too_many_rows(self.record, self.options.max_rows)
            # csv gives a new list per record, handed on without a copy (never written as list[str])
            return self.record, cast("list[object]", _fit(cells, len(self.header)))

    def rows(self) -> Iterator[tuple[int, list[object]]]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        while (row := self._next_data()) is not None:
            yield row


# -- XLSX --------------------------------------------------------------------------------------------


def _broken(detail: str = "") -> FileRejected:
    return FileRejected(
        "xlsx_broken",
        _("The file is not a readable XLSX workbook (damaged, truncated or another format)."),
        detail=detail,
    )


# What a damaged or hostile workbook makes zipfile, zlib, the XML parser or openpyxl raise.
_XLSX_ERRORS: tuple[type[BaseException], ...] = (
    InvalidFileException,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    KeyError,
    IndexError,
    ValueError,  # includes defusedxml's refusals (entities, DTDs) and openpyxl's bad values
    TypeError,
    AttributeError,
    NotImplementedError,  # unsupported compression or encryption
    RuntimeError,  # an encrypted entry
    ParseError,
    SyntaxError,
)


class XlsxTable(Table):
    def __init__(self, stream: BinaryIO, options: ReadOptions) -> None:
        self.options = options
        if not stream.seekable():
            stream = io.BytesIO(stream.read())
        self._inspect(stream)
        stream.seek(0)
        try:
            self._workbook: Workbook | None = load_workbook(
                stream, read_only=True, data_only=True, keep_links=False
            )
        except _XLSX_ERRORS as error:
            raise _broken(type(error).__name__) from None
        try:
            sheets = self._workbook.worksheets
            if not sheets:
                raise _broken("no worksheet")
            sheet: Any = sheets[0]
            sheet.reset_dimensions()  # a lying <dimension> must not make empty rows and columns
            self._rows = self._iterate(sheet)
            self.header = []
            self.header_row = 0
            for number, cells in self._rows:
                if not _is_empty(cells):
                    self.header_row = number
                    self.header = _check_header(cells, number, options)
                    break
            else:
                raise _empty_file()
            self._first: tuple[int, list[object]] | None = self._next_data()
            if self._first is None:
                raise _header_only(self.header_row)
        except BaseException:
            self.close()
            raise

    def _inspect(self, stream: BinaryIO) -> None:
        try:
            archive = zipfile.ZipFile(stream)
        except _XLSX_ERRORS as error:
            raise _broken(type(error).__name__) from None
        with archive:
            entries = archive.infolist()
            if len(entries) > MAX_XLSX_ENTRIES:
                raise self._bomb()
            total = sum(entry.file_size for entry in entries)
            packed = sum(entry.compress_size for entry in entries)
            if total > self.options.max_xlsx_uncompressed:
                raise self._bomb()
            for entry in entries:
                if entry.file_size > RATIO_CHECK_FROM and (
                    entry.compress_size == 0
                    or entry.file_size / entry.compress_size > self.options.max_xlsx_ratio
                ):
                    raise self._bomb()
            if total > RATIO_CHECK_FROM and (packed == 0 or total / packed > self.options.max_xlsx_ratio):
                raise self._bomb()
            names = {entry.filename for entry in entries}
            if "xl/workbook.xml" not in names and "[Content_Types].xml" not in names:
                raise _broken("no workbook")

    def _bomb(self) -> FileRejected:
        return FileRejected(
            "zip_bomb",
            _(
                "The XLSX file expands to more than %(limit)s MB or is compressed more than %(ratio)s "
                "times: it is refused as a possible zip bomb."
            ),
            limit=self.options.max_xlsx_uncompressed // MiB,
            ratio=self.options.max_xlsx_ratio,
        )

    def _iterate(self, sheet: Any) -> Iterator[tuple[int, list[object]]]:
        number = 0
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = list(values)
                while cells and (cells[-1] is None or cells[-1] == ""):
                    cells.pop()
                if len(cells) > self.options.max_columns:
                    raise FileRejected(
                        "too_many_columns",
                        TOO_MANY_COLUMNS,
                        row=number,
                        limit=self.options.max_columns,
                    )
                yield number, cells
        except _XLSX_ERRORS as error:
            raise FileRejected(
                "xlsx_broken",
                _("The XLSX workbook is damaged at row %(row)s: it cannot be read further."),
                row=number + 1,
                detail=type(error).__name__,
            ) from None

    def _next_data(self) -> tuple[int, list[object]] | None:
        width = len(self.header)
        for number, cells in self._rows:
            if _is_empty(cells):
                continue
            if self.options.max_rows is not None and number - self.header_row > self.options.max_rows:
                raise _too_many_rows(number, self.options.max_rows)
            if len(cells) < width:
                cells.extend([None] * (width - len(cells)))  # an empty cell is absent from the XML
            return number, cells
        return None

    def rows(self) -> Iterator[tuple[int, list[object]]]:
        try:
            if self._first is not None:
                first, self._first = self._first, None
                yield first
            while (row := self._next_data()) is not None:
                yield row
        finally:
            self.close()

    def close(self) -> None:
        workbook = getattr(self, "_workbook", None)
        if workbook is not None:
            self._workbook = None
            workbook.close()

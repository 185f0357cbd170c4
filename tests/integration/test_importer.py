"""The import pipeline's hand-over to worker processes: a CSV's rows travel packed (one string per
chunk) and arrive exactly as the reader gave them; other tables' rows travel as they are."""

from __future__ import annotations

import csv
import io
import pickle
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from fincrm.integration import importer
from fincrm.integration.readers import ReadOptions, open_table

# Any text a CSV cell may hold (the reader refuses NUL), quotes, delimiters and line breaks included.
CELL = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def travelled(data: bytes, options: ReadOptions) -> list[tuple[int, list[object]]]:
    """The rows as a worker gets them: pickled, sent, unpickled and unpacked."""
    rows: list[tuple[int, list[object]]] = []
    for chunk in importer._worker_chunks(open_table(io.BytesIO(data), options)):
        arrived = pickle.loads(pickle.dumps(chunk))  # noqa: S301 - our own bytes
        rows.extend(arrived.unpack() if isinstance(arrived, importer.PackedRows) else arrived)
    return rows


@given(
    rows=st.lists(st.lists(CELL, min_size=1, max_size=5), min_size=1, max_size=25),
    chunk=st.integers(min_value=1, max_value=7),
)
def test_packed_csv_rows_arrive_as_the_reader_gave_them(rows: list[list[str]], chunk: int) -> None:
    """Ragged rows, empty cells, quotes, commas and line breaks inside cells, blank lines."""
    data = csv_bytes(["a", "b", "c"], [*rows, ["x", "y", "z"]])
    options = ReadOptions(file_format="csv")
    with mock.patch.object(importer, "CHUNK_ROWS", chunk):
        chunks = list(importer._worker_chunks(open_table(io.BytesIO(data), options)))
        assert all(isinstance(packed, importer.PackedRows) for packed in chunks)
        assert travelled(data, options) == list(open_table(io.BytesIO(data), options).rows())


def test_spreadsheet_rows_travel_as_they_are() -> None:
    """XLSX cells are numbers and dates too: never joined into a string."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["customer_number", "amount"])
    sheet.append(["C-1", 12.5])
    stream = io.BytesIO()
    workbook.save(stream)
    options = ReadOptions(file_format="xlsx")
    table = open_table(io.BytesIO(stream.getvalue()), options)
    (chunk,) = importer._worker_chunks(table)
    assert chunk == [(2, ["C-1", 12.5])]

"""Reading import files: strict, bounded, and every refusal a clear, localized report."""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from decimal import Decimal
from typing import BinaryIO, cast

import pytest
from django.utils import translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openpyxl import Workbook

from fincrm.integration.readers import FileRejected, ReadOptions, Table, open_table

CSV = ReadOptions(file_format="csv")
GB = ReadOptions(file_format="csv", encoding="gb18030")
XLSX = ReadOptions(file_format="xlsx")


def read(data: bytes, options: ReadOptions = CSV) -> tuple[list[str], list[tuple[int, list[object]]]]:
    table = open_table(io.BytesIO(data), options)
    return table.header, list(table.rows())


def rejected(data: bytes, options: ReadOptions = CSV) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        read(data, options)
    return caught.value


def xlsx(rows: list[list[object]], *, title: str = "customers") -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# -- CSV ------------------------------------------------------------------------------------------


def test_csv_rows_are_numbered_as_an_editor_shows_them() -> None:
    data = '\ufeffcustomer_number , name\r\nC001,张三\r\n\r\n,\r\nC002,"李四\n(备注)"\r\nC003,王五\r\n'
    header, rows = read(data.encode("utf-8"))
    assert header == ["customer_number", "name"]  # BOM dropped, names stripped
    assert rows == [(2, ["C001", "张三"]), (5, ["C002", "李四\n(备注)"]), (6, ["C003", "王五"])]


def test_gb18030_declared_reads_chinese() -> None:
    header, rows = read("客户号,姓名\nC001,张三\n".encode("gb18030"), GB)
    assert header == ["客户号", "姓名"]
    assert rows == [(2, ["C001", "张三"])]


def test_gb18030_bytes_declared_utf8_name_the_row() -> None:
    data = "customer_number,name\nC001,Alice\nC002,Bob\nC003,张三\n".encode("gb18030")
    error = rejected(data)
    assert (error.code, error.row) == ("encoding", 4)
    assert "Row 4" in error.message
    assert "UTF-8" in error.message


def test_a_bad_byte_far_into_a_big_file_names_its_row() -> None:
    lines = ["customer_number,name"] + [f"C{i:07d},name {i}" for i in range(1, 200_000)]
    data = ("\n".join(lines) + "\n").encode() + b"C9,\xff\xfe\n"
    error = rejected(data)
    assert (error.code, error.row) == ("encoding", 200_001)


def test_a_truncated_character_at_the_end_is_an_encoding_error() -> None:
    error = rejected("a,b\n1,张".encode()[:-1])
    assert (error.code, error.row) == ("encoding", 2)


def test_other_line_endings_are_read() -> None:
    assert read(b"a,b\r1,2\r3,4")[1] == [(2, ["1", "2"]), (3, ["3", "4"])]
    assert read(b"a,b\n1,2\r\n3,4")[1] == [(2, ["1", "2"]), (3, ["3", "4"])]


def test_another_delimiter() -> None:
    header, rows = read(b"a;b\n1;2,5\n", ReadOptions(file_format="csv", delimiter=";"))
    assert header == ["a", "b"]
    assert rows == [(2, ["1", "2,5"])]


def test_rows_wider_or_narrower_than_the_header_are_given_as_they_are() -> None:
    _header, rows = read(b"a,b,,\n1,2,,\n1,2,3\n1\n")
    # Trailing empty header cells (a spreadsheet's padding) are dropped, and so are empty cells past
    # the header's width; real extra values and short rows are left for the importer to report.
    assert rows == [(2, ["1", "2"]), (3, ["1", "2", "3"]), (4, ["1"])]


@pytest.mark.parametrize(
    ("data", "code", "row"),
    [
        (b"", "empty", 0),
        (b"\n\n\r\n", "empty", 0),
        (b"\xef\xbb\xbf", "empty", 0),
        (b"a,b\n", "empty", 1),
        (b"a,b\n,\n\n", "empty", 1),
        (b"a,,b\n1,2,3\n", "header", 1),
        (b"a, a\n1,2\n", "header", 1),
        (b"\n" + b"x" * 101 + b",b\n1,2\n", "header", 2),
        (b"a,b\n1,2\n3,4\x00\n", "binary", 3),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "binary", 1),
        (b'a,b\n1,"2"x\n', "format", 2),
    ],
)
def test_file_level_problems(data: bytes, code: str, row: int) -> None:
    error = rejected(data)
    assert (error.code, error.row) == (code, row)
    assert error.message


def test_a_ten_megabyte_field_is_refused_with_its_row_without_reading_it_all() -> None:
    data = b"a,b\n1,2\n3," + b"x" * 10_000_000 + b"\n"
    stream = io.BytesIO(data)
    with pytest.raises(FileRejected) as caught:
        list(open_table(stream, CSV).rows())
    assert (caught.value.code, caught.value.row) == ("field_too_large", 3)
    assert "10000" in caught.value.message
    # One block past the bound a valid record allows, not the whole field.
    assert stream.tell() <= CSV.max_record_chars + 2 * 1024 * 1024


def test_a_field_just_over_the_limit_is_refused_by_the_parser() -> None:
    error = rejected(b"a,b\n1," + b"x" * 10_001 + b"\n")
    assert (error.code, error.row) == ("field_too_large", 2)
    assert read(b"a,b\n1," + b"x" * 10_000 + b"\n")[1][0][1][1] == "x" * 10_000


def test_a_quoted_field_left_open_is_refused_not_swallowed() -> None:
    error = rejected(b'a,b\n1,"open\n' + b"2,3\n" * 5000)
    assert (error.code, error.row) == ("field_too_large", 2)


def test_millions_of_columns_are_refused_without_reading_the_line() -> None:
    data = b"c" + b",c" * 5_000_000 + b"\n1\n"
    stream = io.BytesIO(data)
    with pytest.raises(FileRejected) as caught:
        open_table(stream, CSV)
    assert (caught.value.code, caught.value.row) == ("too_many_columns", 1)
    assert stream.tell() <= CSV.max_record_chars + 2 * 1024 * 1024 < len(data)


def test_a_wide_header_under_the_byte_bound_is_refused() -> None:
    error = rejected(b",".join(b"c%d" % i for i in range(501)) + b"\n1\n")
    assert (error.code, error.row) == ("too_many_columns", 1)
    assert "500" in error.message


def test_a_data_row_of_thousands_of_columns_is_refused() -> None:
    error = rejected(b"a,b\n1,2\n" + b"x," * 100_000 + b"\n")
    assert (error.code, error.row) == ("too_many_columns", 3)


def test_max_rows() -> None:
    options = ReadOptions(file_format="csv", max_rows=2)
    assert len(read(b"a\n1\n2\n", options)[1]) == 2
    error = rejected(b"a\n1\n2\n3\n", options)
    assert (error.code, error.row) == ("too_large", 4)


def test_unknown_encoding_and_bad_delimiter() -> None:
    assert rejected(b"a\n1\n", ReadOptions(file_format="csv", encoding="klingon")).code == "encoding"
    assert rejected(b"a\n1\n", ReadOptions(file_format="csv", delimiter='"')).code == "format"
    assert rejected(b"a\n1\n", ReadOptions(file_format="ods")).code == "format"


def test_messages_are_localized() -> None:
    error = rejected("a,b\n张,三\n".encode("gb18030"))
    with translation.override("en"):
        english = error.message
    with translation.override("zh-hans"):
        chinese = error.message
    assert "2" in english
    assert "2" in chinese


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.lists(
        st.text(alphabet=st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=12),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    body=st.lists(st.lists(_text, min_size=1, max_size=6), min_size=1, max_size=20),
    encoding=st.sampled_from(["utf-8", "gb18030"]),
    bom=st.booleans(),
)
def test_any_text_written_by_csv_writer_reads_back_identical(
    header: list[str], body: list[list[str]], encoding: str, bom: bool
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in body:
        writer.writerow(row)
    data = buffer.getvalue().encode(encoding)
    if bom and encoding == "utf-8":
        data = b"\xef\xbb\xbf" + data
    options = ReadOptions(file_format="csv", encoding=encoding)
    expected = []
    for number, row in enumerate(body, start=2):
        if all(not cell.strip() for cell in row):
            continue  # a fully empty row is skipped
        cells = list(row)
        while len(cells) > len(header) and cells[-1] == "":
            cells.pop()
        expected.append((number, cells))
    if not expected:
        assert rejected(data, options).code == "empty"
        return
    got_header, rows = read(data, options)
    assert got_header == [name.strip() for name in header]
    assert [(number, cells) for number, cells in rows] == expected


@hypothesis_settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), file_format=st.sampled_from(["csv", "xlsx"]))
def test_random_bytes_never_raise_anything_but_file_rejected(data: bytes, file_format: str) -> None:
    options = ReadOptions(file_format=file_format, max_columns=20, max_field_chars=200)
    error: FileRejected | None = None
    try:
        table = open_table(io.BytesIO(data), options)
        for _number, _cells in table.rows():
            pass
    except FileRejected as rejected_error:
        error = rejected_error
    if error is not None:
        assert error.code
        assert error.message


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([b",", b'"', b"\n", b"\r", b"a", "张".encode(), b"\xff", b" ", b"\x00", b";"]),
        max_size=400,
    )
)
def test_csv_shaped_garbage_never_raises_anything_but_file_rejected(data: list[bytes]) -> None:
    test_random_bytes_never_raise_anything_but_file_rejected.hypothesis.inner_test(  # type: ignore[attr-defined]
        b"".join(data), "csv"
    )


def _outcome(data: bytes, options: ReadOptions) -> object:
    try:
        return read(data, options)
    except FileRejected as error:
        return (error.code, error.row)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    data=st.lists(
        st.sampled_from(
            [b",", b'"', b"\n", b"\r", b"\r\n", b"a", b"bc", "张".encode(), b"\xff", b" ", b"\x00"]
        ),
        max_size=300,
    ),
    block=st.integers(min_value=1, max_value=40),
)
def test_rows_and_refusals_do_not_depend_on_where_blocks_end(data: list[bytes], block: int) -> None:
    """Blocks of whole lines without a quote are handed to the parser at once, others line by line
    (a quoted field may span lines and blocks): the rows, their numbers and any refusal are the
    same whatever the block size."""
    from unittest import mock

    from fincrm.integration import readers

    options = ReadOptions(file_format="csv", max_columns=4, max_field_chars=12)  # records over 60 characters
    whole = _outcome(b"a,b\n" + b"".join(data), options)
    with mock.patch.object(readers, "BLOCK_BYTES", block):
        assert _outcome(b"a,b\n" + b"".join(data), options) == whole


# -- XLSX -----------------------------------------------------------------------------------------


def test_xlsx_cells_come_as_openpyxl_gives_them() -> None:
    when = datetime.datetime(2026, 1, 31, 9, 30)  # noqa: DTZ001 - spreadsheets hold naive times
    data = xlsx(
        [
            [None],
            ["customer_number", "id_number", "amount", "opened_on", "active"],
            ["C001", 622202000012345, 1234.5, when, True],
            [],
            ["C002", "11010519491231002X", Decimal("2.50"), datetime.date(2026, 2, 1)],
        ]
    )
    header, rows = read(data, XLSX)
    assert header == ["customer_number", "id_number", "amount", "opened_on", "active"]
    assert rows[0] == (3, ["C001", 622202000012345, 1234.5, when, True])
    # Numbers stay numbers: the entity layer rejects an ID number stored as a number.
    assert isinstance(rows[0][1][1], int)
    number, cells = rows[1]
    assert number == 5
    assert cells[:2] == ["C002", "11010519491231002X"]
    assert cells[2] == 2.5
    assert cells[3] == datetime.datetime(2026, 2, 1, 0, 0)  # noqa: DTZ001
    assert cells[4] is None  # padded to the header's width


def test_xlsx_reads_the_first_sheet_only() -> None:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.append(["a"])
    first.append([1])
    second = workbook.create_sheet("other")
    second.append(["b"])
    second.append([2])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert read(buffer.getvalue(), XLSX) == (["a"], [(2, [1])])


@pytest.mark.parametrize(
    ("rows", "code", "row"),
    [
        ([], "empty", 0),
        ([["a", "b"]], "empty", 1),
        ([["a", None, "b"], [1, 2, 3]], "header", 1),
        ([["a", "a"], [1, 2]], "header", 1),
        ([[f"c{i}" for i in range(501)], [1]], "too_many_columns", 1),
        ([["a"], [1], list(range(600))], "too_many_columns", 3),
    ],
)
def test_xlsx_file_level_problems(rows: list[list[object]], code: str, row: int) -> None:
    error = rejected(xlsx(rows), XLSX)
    assert (error.code, error.row) == (code, row)
    assert error.message


def test_a_truncated_xlsx_is_broken() -> None:
    data = xlsx([["a", "b"], [1, 2]])
    for cut in (len(data) // 2, len(data) - 30, 100):
        assert rejected(data[:cut], XLSX).code == "xlsx_broken"


def test_not_a_workbook_is_broken() -> None:
    assert rejected(b"a,b\n1,2\n", XLSX).code == "xlsx_broken"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    assert rejected(buffer.getvalue(), XLSX).code == "xlsx_broken"


def test_a_workbook_with_broken_sheet_xml_is_broken() -> None:
    data = xlsx([["a", "b"], [1, 2]])
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content[: len(content) // 2]
            archive.writestr(item, content)
    assert rejected(buffer.getvalue(), XLSX).code == "xlsx_broken"


def test_xml_entities_are_not_expanded() -> None:
    """A billion-laughs sheet is refused by defusedxml, not expanded."""
    data = xlsx([["a"], [1]])
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row>'
        b'<row r="2"><c r="A2"><v>1</v></c></row></sheetData></worksheet>'
    )
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            content = bomb if item.filename == "xl/worksheets/sheet1.xml" else source.read(item.filename)
            archive.writestr(item, content)
    assert rejected(buffer.getvalue(), XLSX).code == "xlsx_broken"


def zip_bomb(uncompressed_mib: int) -> bytes:
    """A workbook whose sheet XML is ``uncompressed_mib`` MiB (mostly zeros): tiny when compressed."""
    data = xlsx([["a"], [1]])
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                archive.writestr(item, source.read(item.filename))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            zeros = b"0" * (1024 * 1024)
            for _ in range(uncompressed_mib):
                sheet.write(zeros)
    return buffer.getvalue()


def test_an_xlsx_zip_bomb_is_refused_before_it_is_opened() -> None:
    data = zip_bomb(300)
    assert len(data) < 2 * 1024 * 1024
    error = rejected(data, XLSX)
    assert error.code == "zip_bomb"
    assert "200" in error.message


def test_a_small_but_highly_compressed_xlsx_is_refused() -> None:
    error = rejected(zip_bomb(20), XLSX)
    assert error.code == "zip_bomb"


def test_a_non_seekable_stream_is_read() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            chunk = self.inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    table: Table = open_table(cast(BinaryIO, Pipe(xlsx([["a"], [1]]))), XLSX)
    assert list(table.rows()) == [(2, [1])]

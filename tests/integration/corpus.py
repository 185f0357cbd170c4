"""A corpus of hostile and malformed import files, each with the report it must give.

Every case is a whole file (bytes) built against the test world (tests/support/world.py: org units
SB-A1/SB-B1, teams T-A1/T-B1, managers account_manager_a/_b, customers W-A and W-B) and imported
by ``operations_a`` (operations role, subtree of sub-branch A1). Valid rows carry valid identifiers
(GB 11643 resident IDs, GB 32100 credit codes, Luhn card numbers) so each case breaks one rule.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from stdnum import luhn
from stdnum.cn import uscc

from fincrm.customers.identity import resident_id_check_character


@dataclass(frozen=True)
class Case:
    name: str
    entity: str
    source: bytes | Callable[[], bytes]  # the big files are built when a test asks for them
    file_format: str  # csv | xlsx
    encoding: str  # utf-8 | gb18030
    mapping: dict[str, str] | None  # None: every column of the file's standard header, by name
    expected_code: str
    expected_row: int | None  # None: any row (or the file)

    @property
    def data(self) -> bytes:
        return self.source if isinstance(self.source, bytes) else self.source()


CUSTOMER_HEADER = [
    "customer_number",
    "kind",
    "name",
    "id_type",
    "id_number",
    "gender",
    "birth_date",
    "mobile",
    "email",
    "is_professional_investor",
    "org_unit",
    "primary_manager",
    "covering_team",
]
ACCOUNT_HEADER = ["account_number", "customer_number", "kind", "product", "currency", "balance", "opened_on"]
TRANSACTION_HEADER = [
    "source_ref",
    "account_number",
    "booked_at",
    "amount",
    "currency",
    "direction",
    "channel",
    "transaction_type",
]
PRODUCT_HEADER = ["code", "name", "product_type", "risk_level", "currency", "term_days", "is_active"]
HEADERS = {
    "customers": CUSTOMER_HEADER,
    "accounts": ACCOUNT_HEADER,
    "transactions": TRANSACTION_HEADER,
    "products": PRODUCT_HEADER,
}

# Names a formula-injection case imports as text (neutralized only when exported).
FORMULA_NAME = "=cmd|' /C calc'!A0"


def resident_id(birth: str = "19800101", serial: int = 1) -> str:
    body = f"110101{birth}{serial % 1000:03d}"
    return body + resident_id_check_character(body)


def bad_resident_id() -> str:
    good = resident_id(serial=7)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def credit_code() -> str:
    body = "91110000" + "60000000" + "0"  # 17 characters: registration authority, region, org code
    return body + uscc.calc_check_digit(body)


def card_number(prefix: str = "622202", length: int = 19) -> str:
    body = prefix + "1" * (length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body)


def customer(n: int = 1, **changes: str) -> dict[str, str]:
    row = {
        "customer_number": f"MAL{n:04d}",
        "kind": "individual",
        "name": "欧阳明华" if n % 2 else "张伟",
        "id_type": "resident_id",
        "id_number": resident_id(serial=n),
        "gender": "",
        "birth_date": "",
        "mobile": f"+86138{n:08d}",
        "email": f"mal{n}@example.cn",
        "is_professional_investor": "false",
        "org_unit": "SB-A1",
        "primary_manager": "account_manager_a",
        "covering_team": "T-A1",
    }
    row.update(changes)
    return row


def account(n: int = 1, **changes: str) -> dict[str, str]:
    row = {
        "account_number": f"6217{n:015d}",
        "customer_number": "W-A",
        "kind": "deposit",
        "product": "",
        "currency": "CNY",
        "balance": "1000.00",
        "opened_on": "2024-01-31",
    }
    row.update(changes)
    return row


def transaction(n: int = 1, **changes: str) -> dict[str, str]:
    row = {
        "source_ref": f"T-MAL-{n}",
        "account_number": "6217000000000000001",
        "booked_at": "2026-01-31T10:00:00+08:00",
        "amount": "100.00",
        "currency": "CNY",
        "direction": "in",
        "channel": "counter",
        "transaction_type": "cash",
    }
    row.update(changes)
    return row


def product(n: int = 1, **changes: str) -> dict[str, str]:
    row = {
        "code": f"MAL-P{n}",
        "name": "稳盈理财",
        "product_type": "wealth",
        "risk_level": "R2",
        "currency": "CNY",
        "term_days": "180",
        "is_active": "true",
    }
    row.update(changes)
    return row


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def table(entity: str, rows: Sequence[dict[str, str]], encoding: str = "utf-8") -> bytes:
    header = HEADERS[entity]
    return csv_bytes(header, [[row[name] for name in header] for row in rows], encoding)


def xlsx_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_table(entity: str, rows: Sequence[Mapping[str, object]]) -> bytes:
    header = HEADERS[entity]
    return xlsx_bytes(header, [[row[name] for name in header] for row in rows])


def xlsx_zip_bomb(uncompressed_mib: int = 300) -> bytes:
    """A valid workbook whose sheet XML is padded to ``uncompressed_mib`` MiB: ~1000:1 compressed."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_table("customers", [customer()])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                archive.writestr(item, source.read(item.filename))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b"0" * (1024 * 1024)
            for _ in range(uncompressed_mib):
                sheet.write(block)
    return buffer.getvalue()


def _case(
    name: str,
    entity: str,
    data: bytes | Callable[[], bytes],
    code: str,
    row: int | None,
    *,
    file_format: str = "csv",
    encoding: str = "utf-8",
    mapping: dict[str, str] | None = None,
) -> Case:
    return Case(name, entity, data, file_format, encoding, mapping, code, row)


def _file_level() -> list[Case]:
    garbage = random.Random(5).randbytes(4096)
    header = ",".join(CUSTOMER_HEADER).encode()
    good = table("customers", [customer(1), customer(2)])
    chinese_gb = table("customers", [customer(1), customer(2, name="张伟")], encoding="gb18030")
    return [
        _case("empty file", "customers", b"", "empty", 0),
        _case("only blank lines", "customers", b"\r\n\r\n\n", "empty", 0),
        _case("header only", "customers", header + b"\r\n", "empty", 1),
        _case("binary garbage", "customers", b"\x00" + garbage, "binary", 1),
        _case("an XLSX declared CSV", "customers", xlsx_table("customers", [customer()]), "binary", 1),
        _case("UTF-16 text", "customers", good.decode().encode("utf-16"), "binary", 1),
        _case("GB18030 bytes declared UTF-8", "customers", chinese_gb, "encoding", 2),
        _case(
            "UTF-8 bytes declared GB18030",
            "customers",
            table("customers", [customer(1, name="张")]),
            "encoding",
            2,
            encoding="gb18030",
        ),
        _case(
            "Latin-1 bytes declared UTF-8",
            "customers",
            table("customers", [customer(1, name="Ascii"), customer(2, name="José")], encoding="latin-1"),
            "encoding",
            3,
        ),
        _case(
            "a character cut at the end of the file",
            "customers",
            good[:-3] + "张".encode()[:2],
            "encoding",
            3,
        ),
        _case(
            "duplicate column names",
            "customers",
            csv_bytes([*CUSTOMER_HEADER, "name"], [[*customer().values(), "x"]]),
            "header",
            1,
        ),
        _case(
            "a blank column name",
            "customers",
            csv_bytes(["customer_number", "", "kind"], [["MAL0001", "x", "individual"]]),
            "header",
            1,
        ),
        _case(
            "a 10 MB field",
            "customers",
            lambda: table("customers", [customer(1, name="名" * 3_500_000)]),
            "field_too_large",
            2,
        ),
        _case(
            "a CSV of millions of columns",
            "customers",
            lambda: b",".join(b"c%d" % i for i in range(2_000_000)) + b"\r\n1\r\n",
            "too_many_columns",
            1,
        ),
        _case(
            "a data row of 100,000 columns",
            "customers",
            lambda: good + b"x," * 100_000 + b"\r\n",
            "too_many_columns",
            4,
        ),
        _case(
            "broken quoting",
            "customers",
            good + b'MAL0009,"individual"x,name\r\n',
            "format",
            4,
        ),
        _case(
            "a mapped column is missing from the file",
            "customers",
            csv_bytes(
                [name for name in CUSTOMER_HEADER if name != "name"],
                [[value for key, value in customer().items() if key != "name"]],
            ),
            "mapping",
            0,
        ),
        _case(
            "the key field is not mapped",
            "customers",
            good,
            "mapping",
            0,
            mapping={name: name for name in CUSTOMER_HEADER if name != "customer_number"},
        ),
        _case(
            "a truncated XLSX",
            "customers",
            xlsx_table("customers", [customer()])[:-200],
            "xlsx_broken",
            0,
            file_format="xlsx",
        ),
        _case("a CSV declared XLSX", "customers", good, "xlsx_broken", 0, file_format="xlsx"),
        _case("an XLSX zip bomb", "customers", xlsx_zip_bomb, "zip_bomb", 0, file_format="xlsx"),
        _case(
            "an XLSX with a header only",
            "customers",
            xlsx_bytes(CUSTOMER_HEADER, []),
            "empty",
            1,
            file_format="xlsx",
        ),
    ]


def _rows() -> list[Case]:
    def customers(*rows: dict[str, str]) -> bytes:
        return table("customers", [customer(1), *rows])

    cases: list[Case] = [
        _case(
            "an extra value in a row",
            "customers",
            csv_bytes(CUSTOMER_HEADER, [list(customer(1).values()), [*customer(2).values(), "extra"]]),
            "columns",
            3,
        ),
        _case(
            "a row too narrow",
            "customers",
            csv_bytes(CUSTOMER_HEADER, [list(customer(1).values()), list(customer(2).values())[:5]]),
            "columns",
            3,
        ),
        _case(
            "a date written day/month/year",
            "customers",
            customers(customer(2, birth_date="31/12/1980")),
            "date",
            3,
        ),
        _case("February 30th", "customers", customers(customer(2, birth_date="1980-02-30")), "date", 3),
        _case("month 13", "customers", customers(customer(2, birth_date="19801301")), "date", 3),
        _case("a date in words", "customers", customers(customer(2, birth_date="yesterday")), "date", 3),
        _case(
            "a date of birth in the future",
            "customers",
            customers(customer(2, birth_date="2999-01-01", id_number="")),
            "date",
            3,
        ),
        _case(
            "a resident ID with a wrong check digit",
            "customers",
            customers(customer(2, id_number=bad_resident_id())),
            "checksum",
            3,
        ),
        # A USCC whose check character does not match is a warning staff may override with a reason;
        # a file gives no reason, so the import refuses it. A character a credit code never holds (O)
        # is an error anywhere.
        _case(
            "a credit code with a wrong check character",
            "customers",
            customers(
                customer(
                    2,
                    kind="corporate",
                    name="示范科技有限公司",
                    id_type="uscc",
                    id_number=credit_code()[:-1] + ("1" if credit_code()[-1] != "1" else "2"),
                    mobile="",
                    email="",
                )
            ),
            "checksum",
            3,
        ),
        _case(
            "a credit code with a letter O",
            "customers",
            customers(
                customer(
                    2,
                    kind="corporate",
                    name="示范科技有限公司",
                    id_type="uscc",
                    id_number=credit_code()[:-1] + "O",
                    mobile="",
                    email="",
                )
            ),
            "format",
            3,
        ),
        _case("a mobile number too short", "customers", customers(customer(2, mobile="12345")), "mobile", 3),
        _case(
            "an e-mail address without a domain",
            "customers",
            customers(customer(2, email="mal@")),
            "email",
            3,
        ),
        _case("an unknown customer type", "customers", customers(customer(2, kind="person")), "choice", 3),
        _case("an unknown gender", "customers", customers(customer(2, gender="x")), "choice", 3),
        _case(
            "a yes/no that is neither",
            "customers",
            customers(customer(2, is_professional_investor="maybe")),
            "choice",
            3,
        ),
        _case("the name is missing", "customers", customers(customer(2, name="")), "required", 3),
        _case("a name too long", "customers", customers(customer(2, name="名" * 201)), "too_long", 3),
        _case(
            "a customer number with a space",
            "customers",
            customers(customer(2, customer_number="MAL 0002")),
            "format",
            3,
        ),
        _case(
            "the same customer number twice",
            "customers",
            customers(customer(2), customer(2)),
            "duplicate_in_file",
            None,
        ),
        _case(
            "the same ID number under two customer numbers",
            "customers",
            customers(customer(2), customer(3, id_number=resident_id(serial=2))),
            "duplicate_in_file",
            None,
        ),
        _case(
            "an ID number of another existing customer",
            "customers",
            customers(customer(2, id_number="11010519491231002X")),
            "conflict",
            3,
        ),
        _case(
            "an unknown org unit",
            "customers",
            customers(customer(2, org_unit="NOPE")),
            "unknown_reference",
            3,
        ),
        _case(
            "an unknown manager",
            "customers",
            customers(customer(2, primary_manager="nobody")),
            "unknown_reference",
            3,
        ),
        _case(
            "an unknown team",
            "customers",
            customers(customer(2, covering_team="T-ZZ")),
            "unknown_reference",
            3,
        ),
        _case(
            "a customer outside the importer's scope",
            "customers",
            customers(customer(2, org_unit="SB-B1", primary_manager="", covering_team="")),
            "out_of_scope",
            3,
        ),
        _case(
            "an ID number stored as an XLSX number",
            "customers",
            xlsx_table("customers", [customer(1), {**customer(2), "id_number": 110101198001010021}]),
            "number_cell",
            3,
            file_format="xlsx",
        ),
        _case(
            "a mobile stored as an XLSX number",
            "customers",
            xlsx_table("customers", [{**customer(1), "mobile": 13800138000}]),
            "number_cell",
            2,
            file_format="xlsx",
        ),
        # Accounts.
        _case(
            "a balance with a thousands separator",
            "accounts",
            table("accounts", [account(1), account(2, balance="1,234.50")]),
            "decimal",
            3,
        ),
        _case(
            "a balance with three decimals",
            "accounts",
            table("accounts", [account(1, balance="12.345")]),
            "decimal",
            2,
        ),
        _case(
            "a balance in words", "accounts", table("accounts", [account(1, balance="lots")]), "decimal", 2
        ),
        _case(
            "a card number failing the Luhn check",
            "accounts",
            table(
                "accounts",
                [
                    account(
                        1,
                        kind="credit_card",
                        account_number=card_number()[:-1] + ("0" if card_number()[-1] != "0" else "1"),
                    )
                ],
            ),
            "checksum",
            2,
        ),
        _case(
            "a card number stored as an XLSX number",
            "accounts",
            xlsx_table("accounts", [{**account(1), "account_number": int(card_number(length=16))}]),
            "number_cell",
            2,
            file_format="xlsx",
        ),
        _case(
            "an account of an unknown customer",
            "accounts",
            table("accounts", [account(1, customer_number="NOBODY")]),
            "unknown_reference",
            2,
        ),
        _case(
            "an account of an unknown product",
            "accounts",
            table("accounts", [account(1, product="NO-SUCH")]),
            "unknown_reference",
            2,
        ),
        _case(
            "an opening date missing",
            "accounts",
            table("accounts", [account(1, opened_on="")]),
            "required",
            2,
        ),
        # Transactions.
        _case(
            "a booking time that is not a time",
            "transactions",
            table("transactions", [transaction(1, booked_at="31.01.2026 10:00")]),
            "date",
            2,
        ),
        _case(
            "a transaction on an unknown account",
            "transactions",
            table("transactions", [transaction(1)]),
            "unknown_reference",
            2,
        ),
        _case(
            "an unknown direction",
            "transactions",
            table("transactions", [transaction(1, direction="sideways")]),
            "choice",
            2,
        ),
        # Products.
        _case("a risk level R6", "products", table("products", [product(1, risk_level="R6")]), "choice", 2),
        _case("a term in words", "products", table("products", [product(1, term_days="ten")]), "format", 2),
        _case(
            "the same product code twice",
            "products",
            table("products", [product(1), product(1)]),
            "duplicate_in_file",
            None,
        ),
    ]
    return cases


BUILDERS: tuple[Callable[[], list[Case]], ...] = (_file_level, _rows)


def all_cases() -> list[Case]:
    cases = [case for builder in BUILDERS for case in builder()]
    assert len({case.name for case in cases}) == len(cases), "case names must be unique"
    return cases


def formula_injection_customers() -> bytes:
    """Customers whose names start with characters a spreadsheet evaluates: valid text to import."""
    return table(
        "customers",
        [
            customer(1, name=FORMULA_NAME),
            customer(2, name="+SUM(1,2)"),
            customer(3, name="-2+3"),
            customer(4, name="@SUM(A1)"),
        ],
    )

"""The transaction preparation's shortcut (``Preparer._transaction_line``, for rows bound for COPY)
stages exactly what the general path stages, refuses nothing the general path accepts, and leaves
every row it does not take to the general path (same issues); row ids are time-ordered UUIDs."""

from __future__ import annotations

import uuid
from base64 import b64decode
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from fincrm.integration import preparing
from fincrm.integration.entities import default_mapping
from fincrm.integration.synth_rows import Keys
from fincrm.security.fields import blind_index_with

KEYS = Keys("d1", b"k" * 32, "i1", b"x" * 32)
HEADER = [
    "source_ref", "account_number", "booked_at", "business_date", "amount", "currency", "direction",
    "channel", "transaction_type", "counterparty_account", "cross_border",
]  # fmt: skip
GOOD = ["J-1", "6222020200112233", "2026-11-20T10:00:00", "", "100.50", "", "in", "counter", "cash", "", ""]
UID, SEALED = 2, 12  # stage columns that differ between two preparations of one row


def preparer(*, copy_text: bool, header: list[str] = HEADER, deletes: bool = False) -> preparing.Preparer:
    mapping = {name: name for name in default_mapping("transactions") if name in header}
    context = preparing.Context(
        entity="transactions",
        mapping=mapping,
        header=header,
        keys=KEYS,
        today=date(2026, 11, 24),
        deletes=deletes,
        copy_text=copy_text,
    )
    return preparing.Preparer(context)


def staged(
    rows: list[tuple[int, list[object]]], **options: Any
) -> tuple[list[list[str]], preparing.Prepared]:
    """The COPY lines of the rows as the shortcut (copy_text) stages them, cut into cells; and
    what the general path makes of the same rows."""
    fast = preparer(copy_text=True, **options).prepare(rows).as_copy_text()
    general = preparer(copy_text=False, **options).prepare(rows)
    lines = sorted((line.split("\t") for line in fast.copy_rows.decode().splitlines()), key=_row_number)
    assert fast.issues == general.issues
    assert fast.invalid_rows == general.invalid_rows
    assert fast.staged == len(general.rows)
    return lines, general


def _row_number(cells: list[str]) -> int:
    return int(cells[0])  # the stage's order does not matter: rows are matched by their number


def expected(general: preparing.Prepared) -> list[list[str]]:
    lines = preparing.fast_copy_text(general.rows).decode().splitlines()
    return sorted((line.split("\t") for line in lines), key=_row_number)


def decrypted(cells: list[str]) -> str | None:
    """The counterparty sealed for the row's own id (the associated data names it)."""
    if cells[SEALED] == "\\N":
        return None
    _version, _key, nonce, sealed = cells[SEALED].split(":")
    associated = f"fincrm:v1:portfolio_transaction:counterparty_account:{cells[UID]}".encode()
    return AESGCM(KEYS.data_key).decrypt(b64decode(nonce), b64decode(sealed), associated).decode()


def same_but_ids(got: list[list[str]], want: list[list[str]]) -> None:
    assert len(got) == len(want)
    for mine, theirs in zip(got, want, strict=True):
        assert mine[:UID] + mine[UID + 1 : SEALED] + mine[SEALED + 1 :] == (
            theirs[:UID] + theirs[UID + 1 : SEALED] + theirs[SEALED + 1 :]
        )
        assert (mine[SEALED] == "\\N") == (theirs[SEALED] == "\\N")


def test_the_shortcut_stages_what_the_general_path_stages() -> None:
    rows: list[tuple[int, list[object]]] = [
        (2, GOOD),
        (
            3,
            [
                "J-2",
                "6222020200112233",
                "2026-11-20 23:30:00+00:00",
                "",
                "-0.5",
                "usd",
                "out",
                "pos",
                "card",
                "6222020299998888",
                "true",
            ],
        ),
        (
            4,
            [
                "J-3",
                "622202020011",
                "2026-11-20T10:00",
                "2026/11/19",
                "007.50",
                "CNY",
                " in ",
                "atm",
                "cash",
                "",
                "否",
            ],
        ),
        (5, ["J-4", "6222 0202 0011 2233", *GOOD[2:]]),  # spaces: the parser drops them
        (6, ["J-5", *GOOD[1:4], "1e3", *GOOD[5:]]),  # not an amount: an issue
        (7, ["J-6", *GOOD[1:6], "sideways", *GOOD[7:]]),  # not a direction: an issue
        (8, ["", *GOOD[1:]]),  # a required cell empty: an issue
    ]
    got, general = staged(rows)
    assert [cells[0] for cells in got] == ["2", "3", "4", "5"]
    assert [issue[0] for issue in general.issues] == [6, 7, 8]
    same_but_ids(got, expected(general))
    assert got[1][6] == "2026-11-21"  # the business date in Shanghai, from booked_at
    assert decrypted(got[1]) == "6222020299998888"
    assert got[1][13] == blind_index_with(
        KEYS.index_key_id, KEYS.index_key, "6222020299998888", "account_number"
    )
    assert (got[1][8], got[1][14], got[2][7], got[2][14]) == ("USD", "t", "7.50", "f")


def test_a_feed_row_that_deletes_or_misses_a_column_goes_the_general_way() -> None:
    header = ["op", *HEADER]
    rows: list[tuple[int, list[object]]] = [
        (2, ["U", *GOOD]),
        (3, ["D", *GOOD]),
        (4, ["u", *GOOD]),
        (5, ["X", *GOOD]),
    ]
    got, general = staged(rows, header=header, deletes=True)
    same_but_ids(got, expected(general))
    assert [(cells[0], cells[1]) for cells in got] == [("2", "U"), ("3", "D"), ("4", "U")]
    assert [(issue[0], issue[3]) for issue in general.issues] == [(5, "choice")]
    # Without the booking fields (a feed file of deletes), only the general path applies.
    assert (
        preparer(
            copy_text=True, header=["op", "source_ref", "account_number"], deletes=True
        ).transaction_parsers
        is None
    )


CELL = st.one_of(
    st.sampled_from(
        ["", " ", "0", "1", "-1", "12.345", "2026-11-20", "2026-02-30", "in", "out", "x\ty", "a\\b"]
    ),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(
    cells=st.lists(CELL, min_size=len(HEADER), max_size=len(HEADER)),
    keep=st.lists(st.booleans(), min_size=len(HEADER), max_size=len(HEADER)),
)
def test_any_row_is_staged_or_refused_as_the_general_path_does(cells: list[str], keep: list[bool]) -> None:
    # Half of the cells from a good row, half anything: rows near the edge of every rule.
    row: list[object] = [good if k else cell for good, cell, k in zip(GOOD, cells, keep, strict=True)]
    got, general = staged([(2, row)])
    same_but_ids(got, expected(general))


def test_row_ids_are_time_ordered_version_7_uuids() -> None:
    uids = preparing.RowUids()
    first = [uids() for _ in range(3)]
    uids.renew()
    later = [uids() for _ in range(3)]
    parsed = [uuid.UUID(text) for text in first + later]
    assert [str(value) for value in parsed] == first + later  # canonical text
    assert {value.version for value in parsed} == {7}
    assert {value.variant for value in parsed} == {uuid.RFC_4122}
    assert first == sorted(first)
    assert later == sorted(later)
    assert len(set(first + later)) == 6
    assert int(first[0][:8] + first[0][9:13], 16) <= int(later[0][:8] + later[0][9:13], 16)  # milliseconds


@pytest.mark.parametrize("copy_text", [True, False])
def test_both_paths_give_each_row_its_own_id(copy_text: bool) -> None:
    out = preparer(copy_text=copy_text).prepare([(n, [f"J-{n}", *GOOD[1:]]) for n in range(2, 12)])
    lines = [line.split("\t") for line in out.as_copy_text().copy_rows.decode().splitlines()]
    assert len({cells[UID] for cells in lines}) == 10


def test_repeated_cells_are_parsed_alike_every_time() -> None:
    """The shortcut remembers the cells of its few-valued columns it accepted (direction, channel,
    type, currency, dates, flags): a repeated good cell gives the same value, and a repeated bad
    one is refused on every row, as on the general path."""
    rows: list[tuple[int, list[object]]] = []
    for number in range(2, 10):
        cells = list(GOOD)
        cells[0] = f"J-{number}"
        cells[5] = "cny" if number % 2 else " CNY"
        cells[6] = "sideways" if number % 3 == 0 else "out"
        cells[10] = "yes" if number % 2 else "no"
        rows.append((number, cells))
    lines, general = staged(rows)
    assert [int(cells[0]) for cells in lines] == [2, 4, 5, 7, 8]
    assert {(cells[8], cells[9], cells[14]) for cells in lines} == {("CNY", "out", "t"), ("CNY", "out", "f")}
    assert general.invalid_rows == [3, 6, 9]

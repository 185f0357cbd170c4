"""Cells a spreadsheet must not evaluate (OWASP "CSV injection"), for every CSV and XLSX fincrm
writes: customer lists, audit searches, imports' error files."""

from __future__ import annotations

# Characters that make Excel, LibreOffice or WPS evaluate a cell; tab and carriage return included.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: str) -> str:
    """A text cell that cannot be read as a formula: ``=1+1`` → ``'=1+1``."""
    if value.startswith(FORMULA_START):
        return "'" + value
    return value

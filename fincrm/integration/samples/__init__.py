"""Sample import files for the demo institution (``fincrm demo-data``): the "dry run, fix an error,
import" walk-through. Import them as an operations user of the Beijing branch (``ops_bj``), in the
order of ``SAMPLES``: products first (accounts and holdings name them), then customers, accounts,
holdings and transactions. Customers are booked in the demo's Beijing sub-branches (BJ-HD, BJ-CY)
with their teams and account managers, so ``ops_bj`` may import all of them.

``customers_with_errors.csv`` has three broken rows (an ID number with a wrong check character on
row 4, an unknown branch code on row 6, an impossible date of birth on row 8): a dry run lists them,
the user fixes them and imports. Every header is a field name, so the default mapping fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Sample:
    file_name: str
    entity: str  # an ImportEntity value
    encoding: str = "utf-8"  # a FileEncoding value
    errors: int = 0  # rows a dry run reports

    @property
    def path(self) -> Path:
        return SAMPLES_DIR / self.file_name


SAMPLES = (
    Sample("products.csv", "products"),
    Sample("customers.csv", "customers"),
    Sample("customers_gb18030.csv", "customers", encoding="gb18030"),
    Sample("customers_with_errors.csv", "customers", errors=3),
    Sample("accounts.csv", "accounts"),
    Sample("holdings.csv", "holdings"),
    Sample("transactions.csv", "transactions"),
)

"""The demo's sample import files (fincrm/integration/samples): every valid one imports with no
issue, in the documented order; the error file reports exactly its three broken rows and, once they
are fixed, imports — the "dry run, fix an error, import" walk-through of issue 5."""

from __future__ import annotations

import csv
import io

import pytest

from fincrm.customers.models import Customer
from fincrm.integration import demo, importer, services
from fincrm.integration.models import ImportBatch
from fincrm.integration.samples import SAMPLES, Sample
from fincrm.org.models import OrgUnit, Team
from fincrm.platform.actor import Actor
from fincrm.portfolio.models import Account, Holding, Transaction
from fincrm.products.models import Product
from fincrm.users.actors import actor_for_user
from fincrm.users.models import Role, RoleAssignment, TeamMembership, User
from tests.support.world import World

pytestmark = pytest.mark.django_db

BY_NAME = {sample.file_name: sample for sample in SAMPLES}
VALID = [sample for sample in SAMPLES if not sample.errors]


def _rows(sample: Sample) -> list[dict[str, str]]:
    text = sample.path.read_bytes().decode(sample.encoding)
    return list(csv.DictReader(io.StringIO(text)))


def _unit(code: str, name: str, kind: str, parent: OrgUnit) -> OrgUnit:
    unit = OrgUnit.objects.create(code=code, name=name, kind=kind, parent=parent, path="", depth=0)
    unit.path = f"{parent.path}{unit.pk}/"
    unit.depth = parent.depth + 1
    unit.save(update_fields=["path", "depth"])
    return unit


def _staff(username: str, unit: OrgUnit, role: str, team: Team | None = None) -> User:
    user = User.objects.create(username=username, full_name=username, org_unit=unit)
    if team is not None:
        TeamMembership.objects.create(user=user, team=team)
    RoleAssignment.objects.create(user=user, role=Role.objects.get(code=role, is_builtin=True))
    return user


@pytest.fixture
def ops_bj(world: World) -> Actor:
    """The demo's Beijing branch in the test world (as `fincrm demo-data` makes it): branch BJ with
    its sub-branches, teams and account managers, and ``ops_bj`` (operations, BJ subtree)."""
    hq = OrgUnit.objects.get(pk=world.hq)
    for branch_code, branch_name, subs in demo.BRANCHES[:1]:
        branch = _unit(branch_code, branch_name, OrgUnit.Kind.BRANCH, hq)
        for sub_code, sub_name, team_code, team_name in subs:
            sub = _unit(sub_code, sub_name, OrgUnit.Kind.SUB_BRANCH, branch)
            team = Team.objects.create(code=team_code, name=team_name, org_unit=sub)
            for person in demo.STAFF:
                if person.team_code == team_code and person.role_code == "account_manager":
                    _staff(person.username, sub, "account_manager", team)
    ops = _staff("ops_bj", OrgUnit.objects.get(code="BJ"), "operations")
    return actor_for_user(User.objects.select_related("org_unit").get(pk=ops.pk))


def _run(actor: Actor, sample: Sample, *, dry_run: bool, data: bytes | None = None) -> ImportBatch:
    batch = services.import_batch_create(
        actor=actor,
        entity=sample.entity,
        file_name=sample.file_name,
        chunks=[sample.path.read_bytes() if data is None else data],
        encoding=sample.encoding,
        origin=ImportBatch.Origin.COMMAND,
    )
    importer.import_run(batch, actor=actor, dry_run=dry_run)
    batch.refresh_from_db()
    return batch


def _issues(batch: ImportBatch) -> list[tuple[int, str, str]]:
    return list(batch.issues.order_by("row_number").values_list("row_number", "column", "code"))


def test_the_samples_use_the_demo_institutions_codes() -> None:
    units = {code for code, _name, subs in demo.BRANCHES for code in [code, *(sub[0] for sub in subs)]}
    teams = {sub[2] for _code, _name, subs in demo.BRANCHES for sub in subs}
    staff = {person.username: person for person in demo.STAFF}
    products = {row["code"] for row in _rows(BY_NAME["products.csv"])}
    for name in ("customers.csv", "customers_gb18030.csv"):
        for row in _rows(BY_NAME[name]):
            assert row["org_unit"] in units
            assert row["org_unit"].startswith("BJ-")  # inside ops_bj's subtree
            assert row["covering_team"] in teams
            assert staff[row["primary_manager"]].unit_code == row["org_unit"]
    assert not products & {code for code, *_rest in demo.PRODUCTS}  # new products, no clash
    for name in ("accounts.csv", "holdings.csv"):
        assert {row["product"] for row in _rows(BY_NAME[name]) if row["product"]} <= products


def test_every_valid_sample_imports_with_no_issue(ops_bj: Actor) -> None:
    for sample in VALID:
        batch = _run(ops_bj, sample, dry_run=False)
        rows = len(_rows(sample))
        assert (batch.status, _issues(batch), batch.issue_count) == (ImportBatch.Status.DONE, [], 0), sample
        assert (batch.rows_total, batch.rows_inserted, batch.rows_invalid) == (rows, rows, 0), sample

    customers = {row["customer_number"]: row for row in _rows(BY_NAME["customers.csv"])}
    customers |= {row["customer_number"]: row for row in _rows(BY_NAME["customers_gb18030.csv"])}
    stored = {
        customer.customer_number: customer
        for customer in Customer.objects.filter(customer_number__startswith="S")
    }
    assert set(stored) == set(customers)
    for number, row in customers.items():
        customer = stored[number]
        assert (customer.name, customer.id_number, customer.mobile or "") == (
            row["name"],
            row["id_number"],
            row["mobile"],
        )
        assert customer.org_unit.code == row["org_unit"]
        assert customer.primary_manager is not None
        assert customer.primary_manager.username == row["primary_manager"]
    assert stored["S0000101"].name == "刘䶮"  # GB18030 only: not in GBK
    assert stored["S0000047"].parent_company_id == stored["S0000046"].pk
    assert (
        Product.objects.filter(code__in=[row["code"] for row in _rows(BY_NAME["products.csv"])]).count() == 8
    )
    assert Account.objects.filter(customer__customer_number__startswith="S").count() == len(
        _rows(BY_NAME["accounts.csv"])
    )
    assert Holding.objects.filter(source_ref__startswith="H-S").count() == len(_rows(BY_NAME["holdings.csv"]))
    assert Transaction.objects.filter(source_ref__startswith="T-S").count() == len(
        _rows(BY_NAME["transactions.csv"])
    )


def test_importing_a_sample_again_changes_nothing(ops_bj: Actor) -> None:
    sample = BY_NAME["customers.csv"]
    _run(ops_bj, sample, dry_run=False)
    again = _run(ops_bj, sample, dry_run=False)
    assert (again.status, again.rows_inserted, again.rows_updated, again.rows_unchanged) == (
        ImportBatch.Status.DONE,
        0,
        0,
        50,
    )
    assert Customer.objects.filter(customer_number__startswith="S").count() == 50


def test_the_gb18030_sample_is_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        BY_NAME["customers_gb18030.csv"].path.read_bytes().decode("utf-8")


def test_the_error_sample_reports_its_three_errors_then_imports_once_fixed(ops_bj: Actor) -> None:
    sample = BY_NAME["customers_with_errors.csv"]
    checked = _run(ops_bj, sample, dry_run=True)
    assert checked.status == ImportBatch.Status.INVALID
    assert _issues(checked) == [
        (4, "id_number", "checksum"),
        (6, "org_unit", "unknown_reference"),
        (8, "birth_date", "date"),
    ]
    assert (checked.issue_count, checked.rows_invalid, checked.rows_total) == (3, 3, 8)
    value = checked.issues.get(row_number=4).value
    assert "*" in value  # the ID number is masked in the report
    assert not Customer.objects.filter(customer_number__startswith="S00002").exists()

    rows = _rows(sample)
    bad_id = rows[2]["id_number"]
    fixed = sample.path.read_bytes().decode().replace(bad_id, rows[2]["id_number"][:-1] + _check(bad_id[:-1]))
    fixed = fixed.replace(",BJ-XC,", ",BJ-HD,").replace(rows[6]["birth_date"], _born(rows[6]["id_number"]))
    imported = _run(ops_bj, sample, dry_run=False, data=fixed.encode())
    assert (imported.status, imported.issue_count, imported.rows_inserted) == (ImportBatch.Status.DONE, 0, 8)
    assert Customer.objects.filter(customer_number__startswith="S00002").count() == 8


def _born(id_number: str) -> str:
    return f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"


def _check(body: str) -> str:
    from fincrm.customers.identity import resident_id_check_character

    return resident_id_check_character(body)


def test_an_importer_outside_the_branch_imports_none_of_them(world: World, ops_bj: Actor) -> None:
    outsider = actor_for_user(World.user("operations_b"))  # operations in sub-branch B1's subtree
    batch = _run(outsider, BY_NAME["customers.csv"], dry_run=True)
    assert batch.status == ImportBatch.Status.INVALID
    issues = _issues(batch)
    # Every row's branch is outside the importer's scope; staff and teams there are not found.
    assert {row for row, column, code in issues if (column, code) == ("org_unit", "out_of_scope")} == set(
        range(2, 52)
    )
    assert {code for _row, _column, code in issues} == {"out_of_scope", "unknown_reference"}
    assert batch.rows_invalid == 50
    assert not Customer.objects.filter(customer_number__startswith="S").exists()

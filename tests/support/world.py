"""The authorization world: an org tree and one user per built-in role on each side of it.

Built once per test run (per xdist worker) inside django_db_setup; every test then runs in a
transaction that is rolled back, so the world is always as built here.

    HQ (institution, /hq)
    ├── Branch A ── Sub-branch A1 ── team A1
    └── Branch B ── Sub-branch B1 ── team B1

For every built-in role R there is ``R_a`` (in sub-branch A1, member of team A1) and ``R_b``
(in sub-branch B1, member of team B1). ``peer_a``/``peer_b`` hold no role and sit beside them:
in the team, branch and subtree scopes of ``R_a`` but not in its own scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from fincrm.customers.models import Customer
from fincrm.customers.search_terms import name_pinyin, refresh_search_terms
from fincrm.org.models import OrgUnit, Team
from fincrm.users.models import Role, RoleAssignment, TeamMembership, User
from fincrm.users.roles import BUILTIN_ROLES

PASSWORD = "Correct-Horse-Battery-9"


@dataclass(frozen=True)
class World:
    hq: int
    branch_a: int
    branch_b: int
    sub_a1: int
    sub_b1: int
    team_a1: int
    team_b1: int
    customer_a: int  # in sub-branch A1, managed by account_manager_a, covered by team A1
    customer_b: int  # in sub-branch B1, managed by account_manager_b, covered by team B1

    @staticmethod
    def user(username: str) -> User:
        return User.objects.select_related("org_unit").get(username=username)


def _unit(code: str, name: str, kind: str, parent: OrgUnit | None) -> OrgUnit:
    unit = OrgUnit.objects.create(code=code, name=name, kind=kind, parent=parent, path="", depth=0)
    unit.path = (parent.path if parent else "/") + f"{unit.pk}/"
    unit.depth = parent.depth + 1 if parent else 0
    unit.save(update_fields=["path", "depth"])
    return unit


def _user(username: str, unit: OrgUnit, team: Team, role: Role | None) -> User:
    user = User(username=username, full_name=username.replace("_", " ").title(), org_unit=unit)
    user.set_password(PASSWORD)
    user.save()
    TeamMembership.objects.create(user=user, team=team)
    if role is not None:
        RoleAssignment.objects.create(user=user, role=role)
    return user


def build_world() -> World:
    hq = _unit("HQ", "Head office", OrgUnit.Kind.INSTITUTION, None)
    branch_a = _unit("BR-A", "Branch A", OrgUnit.Kind.BRANCH, hq)
    branch_b = _unit("BR-B", "Branch B", OrgUnit.Kind.BRANCH, hq)
    sub_a1 = _unit("SB-A1", "Sub-branch A1", OrgUnit.Kind.SUB_BRANCH, branch_a)
    sub_b1 = _unit("SB-B1", "Sub-branch B1", OrgUnit.Kind.SUB_BRANCH, branch_b)
    team_a1 = Team.objects.create(code="T-A1", name="Team A1", org_unit=sub_a1)
    team_b1 = Team.objects.create(code="T-B1", name="Team B1", org_unit=sub_b1)
    roles = {role.code: role for role in Role.objects.all()}
    for spec in BUILTIN_ROLES:
        _user(f"{spec.code}_a", sub_a1, team_a1, roles[spec.code])
        _user(f"{spec.code}_b", sub_b1, team_b1, roles[spec.code])
    _user("peer_a", sub_a1, team_a1, None)
    _user("peer_b", sub_b1, team_b1, None)
    customer_a = _customer(
        "W-A", "张三", "11010519491231002X", "+8613800138000", sub_a1, team_a1, "account_manager_a"
    )
    customer_b = _customer(
        "W-B", "李四", "440305196405200017", "+8613900139000", sub_b1, team_b1, "account_manager_b"
    )
    return World(
        hq.pk,
        branch_a.pk,
        branch_b.pk,
        sub_a1.pk,
        sub_b1.pk,
        team_a1.pk,
        team_b1.pk,
        customer_a.pk,
        customer_b.pk,
    )


def _customer(
    number: str, name: str, id_number: str, mobile: str, unit: OrgUnit, team: Team, manager: str
) -> Customer:
    customer = Customer.objects.create(
        customer_number=number,
        kind="individual",
        name=name,
        name_pinyin=name_pinyin(name),
        id_type="resident_id",
        id_number=id_number,
        mobile=mobile,
        lifecycle_stage="customer",
        org_unit=unit,
        covering_team=team,
        primary_manager=User.objects.get(username=manager),
    )
    refresh_search_terms([customer])
    return customer


def load_world() -> World:
    def unit(code: str) -> int:
        return OrgUnit.objects.values_list("pk", flat=True).get(code=code)

    def team(code: str) -> int:
        return Team.objects.values_list("pk", flat=True).get(code=code)

    def customer(number: str) -> int:
        return Customer.objects.values_list("pk", flat=True).get(customer_number=number)

    return World(
        unit("HQ"),
        unit("BR-A"),
        unit("BR-B"),
        unit("SB-A1"),
        unit("SB-B1"),
        team("T-A1"),
        team("T-B1"),
        customer("W-A"),
        customer("W-B"),
    )

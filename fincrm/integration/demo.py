"""The demo institution: a head office, 3 branches with sub-branches, 6 teams and 31 staff in
every built-in role, created through the same services an administrator uses (as the operator).

Demo only: every user gets the same published password, and MFA users are enrolled with secrets
that `fincrm demo-data` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyotp

from fincrm.org import services as org_services
from fincrm.org.models import OrgUnit, Team
from fincrm.platform import transaction
from fincrm.platform.actor import Actor
from fincrm.users.actors import actor_for_user
from fincrm.users.models import MfaDevice, Role, User
from fincrm.users.roles import builtin_name
from fincrm.users.services import accounts, mfa

DEMO_PASSWORD = "Fincrm-Demo-2026"  # noqa: S105 - published on purpose, demo only

BRANCHES = (
    # branch code, branch name, ((sub-branch code, name, team code, team name), ...)
    (
        "BJ",
        "北京分行",
        (
            ("BJ-HD", "北京海淀支行", "T-BJ-HD", "海淀财富团队"),
            ("BJ-CY", "北京朝阳支行", "T-BJ-CY", "朝阳公司金融团队"),
        ),
    ),
    (
        "SH",
        "上海分行",
        (
            ("SH-PD", "上海浦东支行", "T-SH-PD", "浦东私行团队"),
            ("SH-XH", "上海徐汇支行", "T-SH-XH", "徐汇零售团队"),
        ),
    ),
    (
        "SZ",
        "深圳分行",
        (
            ("SZ-NS", "深圳南山支行", "T-SZ-NS", "南山科创团队"),
            ("SZ-FT", "深圳福田支行", "T-SZ-FT", "福田财富团队"),
        ),
    ),
)


@dataclass(frozen=True)
class Staff:
    username: str
    full_name: str
    unit_code: str
    role_code: str
    team_code: str = ""


def _staff() -> list[Staff]:
    people = [
        Staff("admin", "王建国", "HQ", "system_admin"),
        Staff("admin2", "李秀英", "HQ", "system_admin"),
        Staff("risk", "欧阳明", "HQ", "risk_officer"),
        Staff("compliance", "司马静", "HQ", "compliance_officer"),
        Staff("auditor", "诸葛亮", "HQ", "auditor"),
        Staff("marketing", "单雪梅", "HQ", "marketing"),
        Staff("service1", "曾晓燕", "HQ", "service_agent"),
        Staff("service2", "解文博", "HQ", "service_agent"),
        Staff("ops_bj", "仇志强", "BJ", "operations"),
        Staff("ops_sh", "查丽华", "SH", "operations"),
    ]
    managers = {"BJ": ("bm_bj", "赵国华"), "SH": ("bm_sh", "钱正平"), "SZ": ("bm_sz", "孙立新")}
    front_line = {
        "BJ-HD": (("tl_bjhd", "周海涛"), ("am_bjhd1", "张伟"), ("am_bjhd2", "张三丰")),
        "BJ-CY": (("tl_bjcy", "吴静怡"), ("am_bjcy1", "郑小龙"), ("am_bjcy2", "冯雪")),
        "SH-PD": (("tl_shpd", "陈思远"), ("am_shpd1", "褚红梅"), ("am_shpd2", "卫东")),
        "SH-XH": (("tl_shxh", "蒋文"), ("am_shxh1", "沈佳怡"), ("am_shxh2", "韩磊")),
        "SZ-NS": (("tl_szns", "杨帆"), ("am_szns1", "朱丽"), ("am_szns2", "秦勇")),
        "SZ-FT": (("tl_szft", "尤小敏"), ("am_szft1", "许晨"), ("am_szft2", "何欢")),
    }
    for branch_code, _name, subs in BRANCHES:
        username, full_name = managers[branch_code]
        people.append(Staff(username, full_name, branch_code, "branch_manager"))
        for sub_code, _sub_name, team_code, _team_name in subs:
            (lead, lead_name), *account_managers = front_line[sub_code]
            people.append(Staff(lead, lead_name, sub_code, "team_lead", team_code))
            for username, full_name in account_managers:
                people.append(Staff(username, full_name, sub_code, "account_manager", team_code))
    return people


STAFF = _staff()


@dataclass(frozen=True)
class SignIn:
    username: str
    full_name: str
    role: str
    unit: str
    totp_secret: str


def demo_loaded() -> bool:
    return User.objects.filter(username="admin").exists()


@transaction.atomic
def load_demo(operator: Actor) -> None:
    hq = org_services.institution_bootstrap(actor=operator, code="HQ", name="示范银行总行")
    units = {"HQ": hq}
    teams: dict[str, Team] = {}
    for branch_code, branch_name, subs in BRANCHES:
        branch = org_services.org_unit_create(
            actor=operator, parent_id=hq.pk, code=branch_code, name=branch_name, kind=OrgUnit.Kind.BRANCH
        )
        units[branch_code] = branch
        for sub_code, sub_name, team_code, team_name in subs:
            sub = org_services.org_unit_create(
                actor=operator,
                parent_id=branch.pk,
                code=sub_code,
                name=sub_name,
                kind=OrgUnit.Kind.SUB_BRANCH,
            )
            units[sub_code] = sub
            teams[team_code] = org_services.team_create(
                actor=operator, org_unit_id=sub.pk, code=team_code, name=team_name
            )
    roles = {role.code: role for role in Role.objects.filter(is_builtin=True)}
    for person in STAFF:
        user = accounts.user_create(
            actor=operator,
            username=person.username,
            full_name=person.full_name,
            email=f"{person.username}@demo.fincrm.example",
            org_unit_id=units[person.unit_code].pk,
            team_ids=[teams[person.team_code].pk] if person.team_code else [],
            password=DEMO_PASSWORD,
            must_change_password=False,
        )
        accounts.user_role_assign(
            actor=operator, user_id=user.pk, role_id=roles[person.role_code].pk, reason="demo institution"
        )
        if mfa.user_requires_mfa(user_id=user.pk):
            # The user enrols, as they would at first sign-in, through the same service.
            as_user = actor_for_user(User.objects.select_related("org_unit").get(pk=user.pk))
            device = mfa.mfa_setup_begin(actor=as_user)
            mfa.mfa_setup_confirm(actor=as_user, code=pyotp.TOTP(device.secret).now())


def demo_sign_ins() -> list[SignIn]:
    # Secrets are encrypted: load the devices (their row id decrypts them), not the raw column.
    secrets = {
        device.user.username: device.secret
        for device in MfaDevice.objects.filter(confirmed_at__isnull=False).select_related("user")
    }
    users = User.objects.filter(username__in=[person.username for person in STAFF]).select_related("org_unit")
    by_username = {user.username: user for user in users}
    rows = []
    for person in STAFF:
        user = by_username.get(person.username)
        if user is None:
            continue
        rows.append(
            SignIn(
                username=person.username,
                full_name=person.full_name,
                role=builtin_name(person.role_code, person.role_code),
                unit=user.org_unit.name,
                totp_secret=secrets.get(person.username, ""),
            )
        )
    return rows

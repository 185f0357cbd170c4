"""The demo institution: a head office, 3 branches with sub-branches, 6 teams and 31 staff in
every built-in role, created through the same services an administrator uses (as the operator);
then a book of about 2,000 customers with products, accounts, holdings and a year of transactions,
written set-based like a core-system feed (``load_demo_book``).

Demo only: every user gets the same published password, and MFA users are enrolled with secrets
that `fincrm demo-data` prints.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyotp
from django.conf import settings
from django.utils import timezone
from stdnum import luhn
from stdnum.cn import uscc

from fincrm.audit.services import audit_record, audit_record_many
from fincrm.customers.identity import resident_id_check_character
from fincrm.customers.models import (
    AmlRiskRating,
    Customer,
    CustomerKind,
    Gender,
    Household,
    HouseholdMember,
    IdType,
    LifecycleStage,
    RiskTolerance,
    SourceChannel,
)
from fincrm.customers.search_terms import name_pinyin, refresh_search_terms
from fincrm.org import services as org_services
from fincrm.org.models import OrgUnit, Team
from fincrm.platform import outbox, transaction
from fincrm.platform.actor import Actor
from fincrm.portfolio import services as portfolio_services
from fincrm.portfolio.models import Account, FxRate, Holding, Transaction
from fincrm.products import services as product_services
from fincrm.products.models import Product
from fincrm.security.keyring import keyring
from fincrm.security.masking import mask
from fincrm.security.models import DataKey
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


def load_demo(operator: Actor) -> None:
    # The keys first, committed: while a key made inside the loading transaction is uncommitted,
    # the keyring re-reads it on every encryption (thousands of queries for the demo book).
    keyring.active_key_id(DataKey.Kind.DATA)
    keyring.active_key_id(DataKey.Kind.INDEX)
    _load_demo(operator)


@transaction.atomic
def _load_demo(operator: Actor) -> None:
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
    load_demo_book(operator, units, teams)


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


# ---------------------------------------------------------------- the demo book of business
# About 2,000 customers with accounts, holdings and a year of transactions, written set-based
# (bulk inserts in batches; encryption and blind indexes by the model fields), from a fixed seed.

SEED = 2026
INDIVIDUALS = 1850
CORPORATES = 150
HOUSEHOLDS = 50
BULK = 1000

SURNAMES = (
    "张王李刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔"
)
# Heteronym surnames (read differently as a surname) and compound surnames, on purpose.
SPECIAL_SURNAMES = (
    "单",
    "曾",
    "解",
    "仇",
    "查",
    "区",
    "朴",
    "乐",
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "东方",
    "令狐",
    "皇甫",
)
GIVEN_CHARACTERS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红玲"
    "建国志文晓东海燕鹏飞宇浩然欣怡子涵梓萱思远嘉琪雨轩俊杰"
)
# Region codes of the demo cities' districts (GB/T 2260), per demo sub-branch.
REGIONS = {
    "BJ-HD": "110108",
    "BJ-CY": "110105",
    "SH-PD": "310115",
    "SH-XH": "310104",
    "SZ-NS": "440305",
    "SZ-FT": "440304",
}
CITY = {"BJ": "北京", "SH": "上海", "SZ": "深圳"}
COMPANY_WORDS = "华信恒通鼎盛瑞丰宏远新源博雅中科长城星河天元嘉禾海纳启明万达金桥"
INDUSTRIES = (
    ("科技", "软件和信息技术服务业"),
    ("贸易", "批发和零售业"),
    ("制造", "制造业"),
    ("物流", "交通运输、仓储和邮政业"),
    ("建设", "建筑业"),
    ("医药", "医药制造业"),
)

PRODUCTS = (
    # code, name, type, risk, currency, term days, private, issuer
    ("DEP-3M", "三个月定期存款", "deposit", "R1", "CNY", 90, False, "示范银行"),
    ("DEP-1Y", "一年期定期存款", "deposit", "R1", "CNY", 365, False, "示范银行"),
    ("DEP-3Y", "三年期大额存单", "deposit", "R1", "CNY", 1095, False, "示范银行"),
    ("SD-6M", "六个月结构性存款", "deposit", "R1", "CNY", 180, False, "示范银行"),
    ("WM-CASH", "天天利现金管理", "wealth", "R1", "CNY", None, False, "示范理财有限责任公司"),
    ("WM-90", "稳健90天理财", "wealth", "R2", "CNY", 90, False, "示范理财有限责任公司"),
    ("WM-180", "安享180天理财", "wealth", "R2", "CNY", 180, False, "示范理财有限责任公司"),
    ("WM-365", "增利一年期理财", "wealth", "R3", "CNY", 365, False, "示范理财有限责任公司"),
    ("WM-USD", "美元稳健理财", "wealth", "R2", "USD", 180, False, "示范理财有限责任公司"),
    ("WM-PRIV", "私享权益增强理财", "wealth", "R4", "CNY", 730, True, "示范理财有限责任公司"),
    ("FD-MMF", "示范货币市场基金", "fund", "R1", "CNY", None, False, "示范基金管理有限公司"),
    ("FD-BOND", "示范纯债债券基金", "fund", "R2", "CNY", None, False, "示范基金管理有限公司"),
    ("FD-MIX", "示范均衡混合基金", "fund", "R3", "CNY", None, False, "示范基金管理有限公司"),
    ("FD-EQ", "示范成长股票基金", "fund", "R4", "CNY", None, False, "示范基金管理有限公司"),
    ("FD-QDII", "示范全球科技QDII基金", "fund", "R4", "USD", None, False, "示范基金管理有限公司"),
    ("FD-PE", "示范私募股权基金", "fund", "R5", "CNY", 1825, True, "示范私募基金管理有限公司"),
    ("SEC-A", "A股证券组合", "securities", "R4", "CNY", None, False, "示范证券股份有限公司"),
    ("SEC-HK", "港股通证券组合", "securities", "R5", "HKD", None, False, "示范证券股份有限公司"),
    ("INS-ANN", "金色年华年金保险", "insurance", "R1", "CNY", 3650, False, "示范人寿保险股份有限公司"),
    ("INS-LIFE", "安心终身寿险", "insurance", "R1", "CNY", None, False, "示范人寿保险股份有限公司"),
    ("INS-UL", "稳赢万能险", "insurance", "R2", "CNY", None, False, "示范人寿保险股份有限公司"),
    ("LN-MORT", "个人住房贷款", "loan", "R1", "CNY", 9125, False, "示范银行"),
    ("LN-CONS", "个人消费贷款", "loan", "R1", "CNY", 1095, False, "示范银行"),
    ("LN-CORP", "流动资金贷款", "loan", "R1", "CNY", 365, False, "示范银行"),
    ("CARD-STD", "示范银联信用卡", "card", "R1", "CNY", None, False, "示范银行"),
    ("CARD-PLAT", "示范白金信用卡", "card", "R1", "CNY", None, False, "示范银行"),
)
# Exchange rates: a base and a monthly drift per currency (CNY per unit).
FX = {
    "USD": (Decimal("7.1800"), Decimal("0.0120")),
    "HKD": (Decimal("0.9180"), Decimal("0.0015")),
    "EUR": (Decimal("7.7500"), Decimal("0.0300")),
}

_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def organization_code_check(body: str) -> str:
    """GB 11714 check character of an 8-digit organization code body."""
    value = 11 - sum(int(digit) * weight for digit, weight in zip(body, _ORG_CODE_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def uscc_for(region: str, serial: int) -> str:
    """A unified social credit code (GB 32100): enterprise (91), region, organization code, MOD 31 check."""
    org_body = f"{serial:08d}"
    body = f"91{region}{org_body}{organization_code_check(org_body)}"
    return body + uscc.calc_check_digit(body)


def card_number(serial: int) -> str:
    body = f"622202{serial:09d}"
    return body + luhn.calc_check_digit(body)


@dataclass
class _Book:
    rng: random.Random
    today: date
    units: dict[str, OrgUnit]
    teams: dict[str, Team]
    managers: dict[str, list[User]]
    products: dict[str, Product] = field(default_factory=dict)


def _individual_name(rng: random.Random) -> str:
    surname = rng.choice(SPECIAL_SURNAMES) if rng.random() < 0.12 else rng.choice(SURNAMES)
    given = "".join(rng.choice(GIVEN_CHARACTERS) for _ in range(rng.choice((1, 2, 2))))
    return surname + given


def _customers(book: _Book) -> list[Customer]:
    rng = book.rng
    sub_codes = sorted(REGIONS)
    customers = []
    mobiles: set[str] = set()
    for index in range(INDIVIDUALS + CORPORATES):
        sub_code = sub_codes[index % len(sub_codes)]
        region = REGIONS[sub_code]
        common = {
            "customer_number": f"D{index + 1:08d}",
            "lifecycle_stage": LifecycleStage.CUSTOMER,
            "org_unit": book.units[sub_code],
            "covering_team": book.teams[f"T-{sub_code}"],
            "primary_manager": rng.choice(book.managers[sub_code]),
            "source_channel": rng.choice(SourceChannel.values),
            "aml_risk_rating": rng.choices(AmlRiskRating.values, weights=(85, 12, 3))[0],
        }
        if index < INDIVIDUALS:
            born = date(1950, 1, 1) + timedelta(days=rng.randrange(18250))
            sequence = rng.randrange(1000)
            body = f"{region}{born:%Y%m%d}{sequence:03d}"
            mobile = f"+861{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            while mobile in mobiles:
                mobile = f"+861{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            mobiles.add(mobile)
            name = _individual_name(rng)
            assessed = book.today - timedelta(days=rng.randrange(500))
            customers.append(
                Customer(
                    kind=CustomerKind.INDIVIDUAL,
                    name=name,
                    name_pinyin=name_pinyin(name),
                    id_type=IdType.RESIDENT_ID,
                    id_number=body + resident_id_check_character(body),
                    birth_date=born,
                    gender=Gender.MALE if sequence % 2 else Gender.FEMALE,
                    mobile=mobile,
                    risk_tolerance=rng.choices(RiskTolerance.values, weights=(15, 30, 30, 18, 7))[0],
                    risk_assessed_on=assessed,
                    risk_expires_on=assessed + timedelta(days=365),
                    **common,
                )
            )
        else:
            city = CITY[sub_code[:2]]
            suffix, industry = INDUSTRIES[index % len(INDUSTRIES)]
            words = "".join(rng.sample(COMPANY_WORDS, 2))
            name = f"{city}{words}{suffix}有限公司"
            customers.append(
                Customer(
                    kind=CustomerKind.CORPORATE,
                    name=name,
                    name_pinyin=name_pinyin(name),
                    id_type=IdType.USCC,
                    id_number=uscc_for(region, 10_000_000 + index),
                    industry=industry,
                    **common,
                )
            )
    # One corporate group of four: a holding company and three subsidiaries.
    group = customers[INDIVIDUALS : INDIVIDUALS + 4]
    for company, name in zip(
        group,
        ("华夏示范控股集团有限公司", "华夏示范科技有限公司", "华夏示范贸易有限公司", "华夏示范物流有限公司"),
        strict=True,
    ):
        company.name = name
        company.name_pinyin = name_pinyin(name)
    Customer.objects.bulk_create(customers, batch_size=BULK)
    parent = group[0]
    Customer.objects.filter(pk__in=[company.pk for company in group[1:]]).update(parent_company_id=parent.pk)
    refresh_search_terms(customers)
    return customers


def _households(book: _Book, individuals: list[Customer]) -> int:
    by_unit: dict[int, list[Customer]] = {}
    for customer in individuals:
        by_unit.setdefault(customer.org_unit_id, []).append(customer)
    households = []
    memberships = []
    pools = [list(pool) for pool in by_unit.values()]
    for index in range(HOUSEHOLDS):
        pool = pools[index % len(pools)]
        size = book.rng.choice((2, 2, 3))
        members, pool[:] = pool[:size], pool[size:]
        head = members[0]
        surname_length = 2 if head.name[:2] in SPECIAL_SURNAMES else 1
        household = Household(name=f"{head.name[:surname_length]}家", org_unit_id=head.org_unit_id)
        households.append((household, members))
    Household.objects.bulk_create([household for household, _members in households])
    for household, members in households:
        for position, member in enumerate(members):
            role = HouseholdMember.Role.HEAD if position == 0 else HouseholdMember.Role.MEMBER
            memberships.append(HouseholdMember(household=household, customer=member, role=role))
    HouseholdMember.objects.bulk_create(memberships, batch_size=BULK)
    return len(households)


def _products(operator: Actor, book: _Book) -> None:
    products = [
        Product(
            code=code,
            name=name,
            product_type=kind,
            risk_level=risk,
            currency=currency,
            term_days=term,
            is_private=private,
            issuer=issuer,
        )
        for code, name, kind, risk, currency, term, private, issuer in PRODUCTS
    ]
    Product.objects.bulk_create(products)
    book.products = {product.code: product for product in products}
    audit_record_many(
        operator,
        "product.created",
        (
            {
                "object_type": "product",
                "object_id": str(product.pk),
                "after": product_services.product_snapshot(product),
            }
            for product in products
        ),
    )


def _money(rng: random.Random, mu: float, sigma: float, cap: float = 5e7) -> Decimal:
    return Decimal(str(min(rng.lognormvariate(mu, sigma), cap))).quantize(Decimal("0.01"))


def _account_specs(rng: random.Random, customer: Customer) -> list[tuple[str, Decimal, str, str | None]]:
    """(kind, balance, currency, product code) of one customer's accounts."""
    corporate = customer.kind == CustomerKind.CORPORATE
    specs: list[tuple[str, Decimal, str, str | None]] = [
        (Account.Kind.DEPOSIT, _money(rng, 13.5 if corporate else 10.8, 1.4), "CNY", None)
    ]
    if rng.random() < (0.3 if corporate else 0.12):
        specs.append((Account.Kind.DEPOSIT, _money(rng, 10 if corporate else 8.5, 1.0), "USD", None))
    if corporate:
        if rng.random() < 0.4:
            specs.append((Account.Kind.LOAN, _money(rng, 15, 0.8), "CNY", "LN-CORP"))
        return specs
    if rng.random() < 0.4:
        card = rng.choice(("CARD-STD", "CARD-PLAT"))
        specs.append((Account.Kind.CREDIT_CARD, _money(rng, 8, 1.0, cap=2e5), "CNY", card))
    if rng.random() < 0.12:
        specs.append((Account.Kind.LOAN, _money(rng, 13.5, 0.6), "CNY", rng.choice(("LN-MORT", "LN-CONS"))))
    if rng.random() < 0.2:
        specs.append((Account.Kind.SECURITIES, _money(rng, 9, 1.2), "CNY", None))
    return specs


def _accounts(book: _Book, customers: list[Customer]) -> list[Account]:
    rng = book.rng
    accounts: list[Account] = []
    # A handful of private-banking clients hold a large deposit besides.
    private_banking = {customer.pk for customer in customers[:INDIVIDUALS:180]}
    for customer in customers:
        opened = book.today - timedelta(days=rng.randrange(60, 5000))
        specs = _account_specs(rng, customer)
        if customer.pk in private_banking:
            specs.append((Account.Kind.DEPOSIT, Decimal(rng.randrange(30_000_000, 60_000_000)), "CNY", None))
        for kind, balance, currency, product in specs:
            serial = len(accounts) + 1
            number = card_number(serial) if kind == Account.Kind.CREDIT_CARD else f"6217{serial:015d}"
            accounts.append(
                portfolio_services.account_build(
                    customer_id=customer.pk,
                    kind=kind,
                    number=number,
                    currency=currency,
                    balance=balance,
                    opened_on=opened,
                    org_unit_id=customer.org_unit_id,
                    product=book.products[product] if product else None,
                )
            )
    Account.objects.bulk_create(accounts, batch_size=BULK)
    return accounts


def _holdings(book: _Book, customers: list[Customer]) -> int:
    rng = book.rng
    investable = [code for code, _n, kind, *_rest in PRODUCTS if kind not in ("loan", "card")]
    holdings = []
    for customer in customers:
        if rng.random() > (0.6 if customer.kind == CustomerKind.INDIVIDUAL else 0.3):
            continue
        for code in rng.sample(investable, rng.choice((1, 1, 2, 3))):
            product = book.products[code]
            amount = _money(rng, 11.8, 1.1)
            if product.term_days:
                soon = rng.random() < 0.3
                remaining = (
                    rng.randint(1, min(90, product.term_days)) if soon else rng.randint(1, product.term_days)
                )
                ends = book.today + timedelta(days=remaining)
                maturity: date | None = ends
                start = ends - timedelta(days=product.term_days)
            else:
                maturity = None
                start = book.today - timedelta(days=rng.randrange(30, 540))
            market_value = (amount * Decimal(str(round(rng.uniform(0.92, 1.15), 4)))).quantize(
                Decimal("0.01")
            )
            cash_value = None
            if product.product_type == "insurance":
                cash_value = (amount * Decimal(str(round(rng.uniform(0.6, 1.05), 4)))).quantize(
                    Decimal("0.01")
                )
                market_value = amount
            holdings.append(
                Holding(
                    customer_id=customer.pk,
                    product=product,
                    amount=amount,
                    currency=product.currency,
                    market_value=market_value,
                    cash_value=cash_value,
                    start_date=start,
                    maturity_date=maturity,
                )
            )
    Holding.objects.bulk_create(holdings, batch_size=BULK)
    return len(holdings)


def _transactions(book: _Book, accounts: list[Account]) -> int:
    rng = book.rng
    now = timezone.now()
    shanghai = ZoneInfo(settings.TIME_ZONE)
    active = [
        account for account in accounts if account.kind in (Account.Kind.DEPOSIT, Account.Kind.CREDIT_CARD)
    ]
    written = 0
    batch: list[Transaction] = []
    for account in active:
        for _index in range(rng.randint(3, 9)):
            booked = now - timedelta(seconds=rng.randrange(365 * 86400))
            kind = rng.choices(
                (
                    Transaction.Type.TRANSFER,
                    Transaction.Type.CASH,
                    Transaction.Type.CARD,
                    Transaction.Type.FEE,
                    Transaction.Type.INTEREST,
                ),
                weights=(50, 15, 25, 5, 5),
            )[0]
            if account.kind == Account.Kind.CREDIT_CARD:
                kind = Transaction.Type.CARD
            amount = _money(rng, 7.5, 1.6, cap=3e6)
            if kind in (Transaction.Type.FEE, Transaction.Type.INTEREST):
                amount = _money(rng, 3, 1.0, cap=5e3)
            channel = {
                Transaction.Type.CASH: rng.choice((Transaction.Channel.COUNTER, Transaction.Channel.ATM)),
                Transaction.Type.CARD: Transaction.Channel.POS,
                Transaction.Type.TRANSFER: rng.choice(
                    (Transaction.Channel.MOBILE, Transaction.Channel.ONLINE, Transaction.Channel.COUNTER)
                ),
            }.get(kind, Transaction.Channel.CORE)
            direction = (
                Transaction.Direction.IN
                if kind == Transaction.Type.INTEREST or rng.random() < 0.45
                else Transaction.Direction.OUT
            )
            if kind in (Transaction.Type.CARD, Transaction.Type.FEE):
                direction = Transaction.Direction.OUT
            batch.append(
                Transaction(
                    customer_id=account.customer_id,
                    account_id=account.pk,
                    booked_at=booked,
                    business_date=booked.astimezone(shanghai).date(),
                    amount=amount,
                    currency=account.currency,
                    direction=direction,
                    channel=channel,
                    transaction_type=kind,
                    counterparty_account=f"6228{rng.randrange(10**15):015d}"
                    if kind == Transaction.Type.TRANSFER
                    else None,
                    cross_border=kind == Transaction.Type.TRANSFER and rng.random() < 0.03,
                )
            )
            if len(batch) >= BULK * 5:
                Transaction.objects.bulk_create(batch, batch_size=BULK)
                written += len(batch)
                batch = []
    Transaction.objects.bulk_create(batch, batch_size=BULK)
    return written + len(batch)


def _fx_rates(book: _Book) -> int:
    days = [*portfolio_services.month_ends(book.today, 13), book.today]
    rates = []
    for step, day in enumerate(sorted(set(days))):
        for currency, (base, drift) in FX.items():
            wobble = Decimal(str(round(book.rng.uniform(-1, 1), 3)))
            rates.append(
                FxRate(
                    business_date=day, currency=currency, rate_to_cny=base + drift * wobble + drift * step / 4
                )
            )
    FxRate.objects.bulk_create(rates)
    return len(rates)


def _batch_loaded(operator: Actor, table: str, rows: int) -> None:
    audit_record(
        operator, "portfolio.batch.loaded", object_type=table, after={"rows": rows, "source": "demo"}
    )
    outbox.publish("portfolio.batch.loaded", table=table, rows=rows)


def demo_managers() -> dict[str, list[User]]:
    """The demo account managers by sub-branch code."""
    usernames = [person.username for person in STAFF if person.role_code == "account_manager"]
    staff = {user.username: user for user in User.objects.filter(username__in=usernames)}
    managers: dict[str, list[User]] = {}
    for person in STAFF:
        if person.role_code == "account_manager":
            managers.setdefault(person.unit_code, []).append(staff[person.username])
    return managers


def load_demo_book(
    operator: Actor,
    units: dict[str, OrgUnit],
    teams: dict[str, Team],
    managers: dict[str, list[User]] | None = None,
) -> int:
    """The demo customers and their portfolios; returns the number of customers. ``units`` and
    ``teams`` are keyed by the demo codes (``BJ-HD``, ``T-BJ-HD`` …), ``managers`` by sub-branch."""
    book = _Book(
        random.Random(SEED),  # noqa: S311 - demo data, not a secret
        timezone.localdate(),
        units,
        teams,
        managers if managers is not None else demo_managers(),
    )

    customers = _customers(book)
    audit_record_many(
        operator,
        "customer.created",
        (
            {
                "object_type": "customer",
                "object_id": str(customer.pk),
                "after": {
                    "customer_number": customer.customer_number,
                    "kind": customer.kind,
                    "name": mask("name", customer.name),
                    "id_type": customer.id_type,
                    "id_number": mask("id_number", customer.id_number),
                    "mobile": mask("mobile", customer.mobile) if customer.mobile else "",
                    "org_unit_id": customer.org_unit_id,
                    "primary_manager_id": customer.primary_manager_id,
                },
                "reason": "demo data",
            }
            for customer in customers
        ),
    )
    _batch_loaded(operator, "customers.customer", len(customers))
    individuals = [customer for customer in customers if customer.kind == CustomerKind.INDIVIDUAL]
    _batch_loaded(operator, "customers.household", _households(book, individuals))
    _products(operator, book)
    _batch_loaded(operator, "portfolio.fxrate", _fx_rates(book))
    accounts = _accounts(book, customers)
    _batch_loaded(operator, "portfolio.account", len(accounts))
    _batch_loaded(operator, "portfolio.holding", _holdings(book, customers))
    _batch_loaded(operator, "portfolio.transaction", _transactions(book, accounts))

    ids = [customer.pk for customer in customers]
    portfolio_services.aum_refresh(ids, actor=operator)
    for month_end_on in portfolio_services.month_ends(portfolio_services.previous_month_end(book.today), 12):
        portfolio_services.aum_snapshot_take(month_end_on=month_end_on, customer_ids=ids, actor=operator)
    return len(customers)

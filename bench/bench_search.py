"""Customer search at scale: load N customers, then time every kind of search.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fincrm_search_bench \\
        .venv/bin/python bench/bench_search.py --customers 1000000

Loads (unless ``--reuse`` finds the customers already there) an org tree of 10 branches x 10
sub-branches, 10 account managers and 2 teams per sub-branch, and N individual customers with
realistic surname frequencies (张 ~7 %, 王, 李, 刘, 陈 …, plus compound and heteronym surnames),
encrypted mobile and ID numbers with their blind indexes, AUM from a log-normal law, and their
search terms, all with ``COPY``. Then times ``customer_search`` (the selector the page and the API
call) for each kind of input as an institution-scope user, a sub-branch manager (subtree) and an
account manager (own scope), printing p50/p95 in ms and the SQL queries per search.

PostgreSQL only; refuses a database whose name does not contain "bench" (it empties the
customer tables). Not a test; never run by pytest.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fincrm.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from fincrm.customers.identity import resident_id_check_character  # noqa: E402
from fincrm.customers.models import Customer  # noqa: E402
from fincrm.customers.search_terms import name_pinyin, name_syllables, terms_for_name  # noqa: E402
from fincrm.customers.selectors.search import customer_search  # noqa: E402
from fincrm.org.models import OrgUnit, Team  # noqa: E402
from fincrm.platform.actor import Actor, ActorKind, Scope  # noqa: E402
from fincrm.security.fields import EncryptedTextField, associated_data, blind_index_with  # noqa: E402
from fincrm.security.keyring import NONCE_BYTES, TOKEN_VERSION, _b64, keyring  # noqa: E402
from fincrm.users.models import TeamMembership, User  # noqa: E402

# Shares of the population in percent (2020 census, rounded); the rest spread over RARE_SURNAMES.
COMMON_SURNAMES = {
    "王": 7.1, "李": 7.0, "张": 7.0, "刘": 5.4, "陈": 4.5, "杨": 3.1, "黄": 2.5, "赵": 2.0, "吴": 2.0,
    "周": 1.9, "徐": 1.5, "孙": 1.5, "马": 1.3, "朱": 1.3, "胡": 1.2, "郭": 1.1, "何": 1.1, "林": 1.0,
    "高": 1.0, "罗": 0.9, "郑": 0.9, "梁": 0.8, "谢": 0.8, "宋": 0.7, "唐": 0.7, "许": 0.7, "韩": 0.7,
    "冯": 0.6, "邓": 0.6, "曹": 0.6, "彭": 0.6, "曾": 0.6, "肖": 0.5, "田": 0.5, "董": 0.5, "袁": 0.5,
    "潘": 0.4, "于": 0.4, "蒋": 0.4, "蔡": 0.4, "余": 0.4, "杜": 0.4, "叶": 0.4, "程": 0.4, "苏": 0.3,
    "魏": 0.3, "吕": 0.3, "丁": 0.3, "任": 0.3, "沈": 0.3, "姚": 0.3, "卢": 0.3, "姜": 0.3, "崔": 0.3,
    "钟": 0.3, "谭": 0.3, "陆": 0.3, "汪": 0.2, "范": 0.2, "金": 0.2, "石": 0.2, "廖": 0.2, "贾": 0.2,
    "夏": 0.2, "韦": 0.2, "付": 0.2, "方": 0.2, "白": 0.2, "邹": 0.2, "孟": 0.2, "熊": 0.2, "秦": 0.2,
    "邱": 0.2, "江": 0.2, "尹": 0.2, "薛": 0.2, "闫": 0.2, "段": 0.2, "雷": 0.2, "侯": 0.2, "龙": 0.2,
    "史": 0.2, "陶": 0.1, "黎": 0.1, "贺": 0.1, "顾": 0.1, "毛": 0.1, "郝": 0.1, "龚": 0.1, "邵": 0.1,
    # Heteronym surnames (read as surnames: shàn, xiè, qiú, zhā, ōu, piáo, gě, yuè, miào, zhái …)
    "单": 0.05, "解": 0.03, "仇": 0.02, "查": 0.03, "区": 0.02, "朴": 0.03, "盖": 0.02, "乐": 0.03,
    "缪": 0.03, "翟": 0.05, "覃": 0.05, "召": 0.01, "种": 0.01,
    # Compound surnames
    "欧阳": 0.05, "司马": 0.02, "上官": 0.02, "诸葛": 0.01, "尉迟": 0.01, "令狐": 0.01, "慕容": 0.01,
}  # fmt: skip
RARE_SURNAMES = "万严武戴莫孔向常汤康易乔贺赖文颜洪武钱柳童凌庞樊左殷温葛伍申"
GIVEN = (
    "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红建国志文辉鹏飞斌宇浩凯健俊帆帅旭宁"
    "龙林欣晨瑞博晓东雪梅海燕春秋子涵梓轩一诺欣怡思雨嘉佳琪鑫宏亮成家豪天佑晨阳丹丹婷婷雅琴德福"
    "光荣永胜金凤淑珍桂芝云秀兰玉珍振华长江朝阳乐田芳"
)  # fmt: skip


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


# ---------------------------------------------------------------- loading


def _surname_table() -> tuple[list[str], list[float]]:
    names = list(COMMON_SURNAMES) + list(RARE_SURNAMES)
    common = sum(COMMON_SURNAMES.values())
    rest = max(100.0 - common, 1.0) / len(RARE_SURNAMES)
    # The long tail of Chinese surnames, squeezed into RARE_SURNAMES.
    weights = list(COMMON_SURNAMES.values()) + [rest] * len(RARE_SURNAMES)
    return names, weights


# Given-name characters follow a Zipf law (the first of GIVEN is the most common).
_GIVEN_CUMULATIVE = [sum(1 / rank for rank in range(1, index + 2)) for index in range(len(GIVEN))]


def _random_name(rng: random.Random, surnames: list[str], cumulative: list[float]) -> str:
    surname = rng.choices(surnames, cum_weights=cumulative)[0]
    length = 1 if rng.random() < 0.2 else 2  # one-character given names: ~20 % of people
    return surname + "".join(rng.choices(GIVEN, cum_weights=_GIVEN_CUMULATIVE, k=length))


def _resident_id(n: int) -> str:
    born = date(1940, 1, 1) + timedelta(days=n % 25000)
    body = f"110105{born:%Y%m%d}{n // 25000 % 1000:03d}"
    return body + resident_id_check_character(body)


def _org(branches: int, subs: int, managers: int) -> dict[str, object]:
    hq = OrgUnit.objects.create(
        code="BENCH-HQ", name="Bench HQ", kind=OrgUnit.Kind.INSTITUTION, path="", depth=0
    )
    hq.path = f"/{hq.pk}/"
    hq.save(update_fields=["path"])
    units: list[OrgUnit] = []
    teams: list[Team] = []
    users: list[User] = []
    for b in range(branches):
        branch = OrgUnit.objects.create(
            code=f"BENCH-B{b}", name=f"Branch {b}", kind=OrgUnit.Kind.BRANCH, parent=hq, path="", depth=1
        )
        branch.path = f"{hq.path}{branch.pk}/"
        branch.save(update_fields=["path"])
        for s in range(subs):
            unit = OrgUnit.objects.create(
                code=f"BENCH-B{b}S{s}",
                name=f"Sub-branch {b}.{s}",
                kind=OrgUnit.Kind.SUB_BRANCH,
                parent=branch,
                path="",
                depth=2,
            )
            unit.path = f"{branch.path}{unit.pk}/"
            unit.save(update_fields=["path"])
            units.append(unit)
            pair = [
                Team.objects.create(code=f"BT-{b}-{s}-{t}", name=f"Team {b}.{s}.{t}", org_unit=unit)
                for t in (0, 1)
            ]
            teams.extend(pair)
            for m in range(managers):
                user = User(username=f"bench_am_{b}_{s}_{m}", full_name=f"Manager {b}.{s}.{m}", org_unit=unit)
                user.set_unusable_password()
                users.append(user)
    User.objects.bulk_create(users, batch_size=1000)
    users = list(User.objects.filter(username__startswith="bench_am_").order_by("pk"))
    TeamMembership.objects.bulk_create(
        [
            TeamMembership(user=user, team=teams[index // managers * 2 + index % 2])
            for index, user in enumerate(users)
        ]
    )
    return {"hq": hq, "units": units, "teams": teams, "users": users}


def _sealer(field_name: str) -> Callable[[uuid.UUID, str], str]:
    """EncryptedTextField.encrypt_for without the keyring's per-call bookkeeping (20x faster):
    the same token format, key and associated data; checked against decrypt_for once."""
    field = Customer._meta.get_field(field_name)
    assert isinstance(field, EncryptedTextField)
    key_id = keyring.active_key_id()
    aead = keyring._load(key_id).aead
    table, column = Customer._meta.db_table, field.column

    def seal(row_uid: uuid.UUID, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = aead.encrypt(nonce, plaintext.encode(), associated_data(table, column, row_uid))
        return f"{TOKEN_VERSION}:{key_id}:{_b64(nonce)}:{_b64(sealed)}"

    probe = uuid.uuid4()
    assert field.decrypt_for(probe, seal(probe, "probe")) == "probe"
    return seal


def _copy(table: str, columns: list[str], rows: Iterator[tuple[object, ...]], chunk: int = 20_000) -> int:
    """COPY in chunks built beforehand: encrypting may query the key table, which cannot happen
    on the connection while a COPY is in progress."""
    count = 0
    while True:
        batch = list(itertools.islice(rows, chunk))
        if not batch:
            return count
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg 3
            with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
        count += len(batch)


def load(customers: int, seed: int) -> None:
    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or "bench" not in name:
        sys.exit("bench_search needs a PostgreSQL database whose name contains 'bench'")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE customers_customersearchterm, customers_secondarymanager, customers_customer CASCADE"
        )
        cursor.execute(
            "DELETE FROM users_teammembership"
            " WHERE user_id IN (SELECT id FROM users_user WHERE username LIKE 'bench_%%')"
        )
        cursor.execute("DELETE FROM users_user WHERE username LIKE 'bench_%%'")
        cursor.execute("DELETE FROM org_team WHERE code LIKE 'BT-%%'")
        cursor.execute("DELETE FROM org_orgunit WHERE code LIKE 'BENCH-%%' AND depth = 2")
        cursor.execute("DELETE FROM org_orgunit WHERE code LIKE 'BENCH-%%' AND depth = 1")
        cursor.execute("DELETE FROM org_orgunit WHERE code LIKE 'BENCH-%%'")
    org = _org(10, 10, 10)
    units: list[OrgUnit] = org["units"]  # type: ignore[assignment]
    teams: list[Team] = org["teams"]  # type: ignore[assignment]
    users: list[User] = org["users"]  # type: ignore[assignment]
    rng = random.Random(seed)
    surnames, weights = _surname_table()
    cumulative = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    seal_mobile = _sealer("mobile")
    seal_id = _sealer("id_number")
    index_key_id, index_key = keyring.index_key()
    cached_terms = functools.lru_cache(maxsize=200_000)(lambda text: sorted(terms_for_name(text)))
    cached_pinyin = functools.lru_cache(maxsize=200_000)(name_pinyin)
    now = datetime.now(UTC)
    names: list[str] = []

    def customer_rows() -> Iterator[tuple[object, ...]]:
        for n in range(1, customers + 1):
            customer_name = _random_name(rng, surnames, cumulative)
            names.append(customer_name)
            manager_index = rng.randrange(len(users))
            manager = users[manager_index]
            unit = units[manager_index // 10]
            team = teams[manager_index // 10 * 2 + manager_index % 2]
            row_uid = uuid.uuid4()
            mobile = f"+861{3 + n % 7}{n:09d}"
            id_number = _resident_id(n)
            aum = round(math.exp(rng.gauss(11.0, 1.6)), 2)
            yield (
                n, now, now, row_uid, f"C{n:010d}", "individual", "active", customer_name,
                cached_pinyin(customer_name), "resident_id", seal_id(row_uid, id_number),
                blind_index_with(index_key_id, index_key, id_number, "id_number"), "", "CHN",
                seal_mobile(row_uid, mobile), blind_index_with(index_key_id, index_key, mobile, "mobile"),
                "", "", "", "", "", "low", "", False, "", "customer", "branch", "mass",
                f"{aum:.2f}", team.pk, unit.pk, manager.pk,
            )  # fmt: skip

    started = time.perf_counter()
    count = _copy(
        "customers_customer",
        [
            "id",
            "created_at",
            "updated_at",
            "row_uid",
            "customer_number",
            "kind",
            "status",
            "name",
            "name_pinyin",
            "id_type",
            "id_number",
            "id_number_bidx",
            "gender",
            "nationality",
            "mobile",
            "mobile_bidx",
            "occupation",
            "employer",
            "income_band",
            "source_of_funds",
            "industry",
            "aml_risk_rating",
            "risk_tolerance",
            "is_professional_investor",
            "professional_evidence",
            "lifecycle_stage",
            "source_channel",
            "value_tier",
            "aum",
            "covering_team_id",
            "org_unit_id",
            "primary_manager_id",
        ],
        customer_rows(),
    )
    customers_done = time.perf_counter()
    print(
        f"customers: {count:,} in {customers_done - started:.1f} s"
        f" ({count / (customers_done - started):,.0f}/s)"
    )

    def term_rows() -> Iterator[tuple[object, ...]]:
        for n, customer_name in enumerate(names, start=1):
            for kind, term in cached_terms(customer_name):
                yield (n, kind, term)

    terms = _copy("customers_customersearchterm", ["customer_id", "kind", "term"], term_rows())
    terms_done = time.perf_counter()
    print(
        f"search terms: {terms:,} in {terms_done - customers_done:.1f} s"
        f" ({terms / (terms_done - customers_done):,.0f}/s)"
    )
    # A secondary manager for 2 % of customers (the own scope's EXISTS branch).
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO customers_secondarymanager (customer_id, user_id, since)
            SELECT c.id,
                   (SELECT min(id) FROM users_user WHERE username LIKE 'bench_am_%%') + (c.id * 7919) %% %s,
                   now()
            FROM customers_customer c WHERE c.id %% 50 = 0
            """,
            [len(users)],
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), %s)", [customers])
        cursor.execute("VACUUM ANALYZE")
    print(f"secondary managers and VACUUM ANALYZE: {time.perf_counter() - terms_done:.1f} s")
    print(f"load total: {time.perf_counter() - started:.1f} s")


# ---------------------------------------------------------------- measuring


def _actors() -> dict[str, Actor]:
    hq = OrgUnit.objects.get(code="BENCH-HQ")
    unit = OrgUnit.objects.get(code="BENCH-B3S4")
    manager = User.objects.filter(username="bench_am_3_4_5").get()
    view = "customer.view"

    def actor(label: str, user: User, org: OrgUnit, scope: Scope) -> Actor:
        teams = frozenset(TeamMembership.objects.filter(user=user).values_list("team_id", flat=True))
        return Actor(
            kind=ActorKind.USER,
            label=f"bench:{label}",
            user_id=user.pk,
            username=user.username,
            org_unit_id=org.pk,
            org_unit_path=org.path,
            team_ids=teams,
            grants={view: frozenset({scope})},
        )

    return {
        "institution": actor("institution", manager, hq, Scope.INSTITUTION),
        "sub-branch (subtree)": actor("subtree", manager, unit, Scope.SUBTREE),
        "account manager (own)": actor("own", manager, unit, Scope.OWN),
    }


def _samples(rng: random.Random, manager_id: int, count: int) -> dict[str, list[str]]:
    """Inputs per kind: half from anyone's customers, half from the account manager's own."""
    rows = list(
        Customer.objects.filter(
            pk__in=[rng.randrange(1, Customer.objects.count()) for _ in range(count)]
        ).values_list("name", "customer_number", "pk")
    )
    own = list(
        Customer.objects.filter(primary_manager_id=manager_id)
        .order_by("?")
        .values_list("name", "customer_number", "pk")[:count]
    )
    picked = [row for pair in zip(rows, own, strict=False) for row in pair][:count]
    three = [name for name, _number, _pk in picked if len(name) >= 3] or ["张伟芳"]

    def initials(name: str) -> str:
        return "".join(syllable[0] for syllable in name_syllables(name))

    def mobile(pk: int) -> str:
        digits = f"1{3 + pk % 7}{pk:09d}"
        return f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"

    return {
        "surname 张 (7 %)": ["张"] * count,
        "common surname (top 10)": [rng.choice("王李张刘陈杨黄赵吴周") for _ in range(count)],
        "one character": [rng.choice(name) for name, _n, _p in picked],
        "middle fragment (2 chars)": [name[1:3] for name in three],
        "full name": [name for name, _n, _p in picked],
        "initials (2 letters)": [initials(name)[:2] for name, _n, _p in picked],
        "initials (full)": [initials(name) for name, _n, _p in picked],
        "pinyin prefix": [name_pinyin(name)[: max(2, len(name_pinyin(name)) - 2)] for name, _n, _p in picked],
        "full pinyin": [name_pinyin(name) for name, _n, _p in picked],
        "mobile (+86 138-…)": [mobile(pk) for _name, _n, pk in picked],
        "ID number (lower-case x)": [_resident_id(pk).lower() for _name, _n, pk in picked],
        "customer number": [number for _name, number, _p in picked],
    }


def measure(samples_per_kind: int, seed: int) -> None:
    settings.FINCRM_IDENTIFIER_SEARCHES_PER_MINUTE = 10**9  # the bench searches faster than people
    actors = _actors()
    rng = random.Random(seed)
    samples = _samples(rng, actors["account manager (own)"].user_id or 0, samples_per_kind)
    total = Customer.objects.count()
    print(f"\ncustomers: {total:,}; {samples_per_kind} inputs per kind; times in ms (selector, warm cache)")
    for label, actor in actors.items():
        print(f"\n{label}")
        print(f"  {'kind':28} {'p50':>7} {'p95':>7} {'max':>7} {'queries':>8} {'hits avg':>8} {'more':>5}")
        for kind, inputs in samples.items():
            for text in inputs[:3]:  # warm the cache with the same inputs
                customer_search(actor=actor, query=text)
            times: list[float] = []
            queries: list[int] = []
            hits: list[int] = []
            more = 0
            for text in inputs:
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    result = customer_search(actor=actor, query=text)
                    times.append((time.perf_counter() - started) * 1000)
                queries.append(len(captured.captured_queries))
                hits.append(len(result.customers))
                more += result.more
            print(
                f"  {kind:28} {statistics.median(times):7.1f} {_percentile(times, 0.95):7.1f}"
                f" {max(times):7.1f} {statistics.median(queries):8.0f} {statistics.mean(hits):8.1f} {more:5d}"
            )


def explain(actor_label: str, text: str) -> None:
    """Print the plans of one search (``--explain 'account manager (own)' 张``)."""
    print_plans(_actors()[actor_label], text)


def print_plans(actor: Actor, text: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every SELECT one search by ``actor`` for ``text`` runs."""
    with CaptureQueriesContext(connection) as captured:
        customer_search(actor=actor, query=text)
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            if not query["sql"].lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            print("\n".join(row[0] for row in cursor.fetchall()), "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20241124)
    parser.add_argument("--reuse", action="store_true", help="keep the customers already loaded")
    parser.add_argument("--explain", nargs=2, metavar=("ACTOR", "QUERY"))
    options = parser.parse_args()
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    if options.explain:
        explain(*options.explain)
        return
    if not (options.reuse and Customer.objects.count() >= options.customers):
        load(options.customers, options.seed)
    measure(options.samples, options.seed)


if __name__ == "__main__":
    main()

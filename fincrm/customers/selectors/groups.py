"""The corporate group around a customer, walked in one statement: up the parent chain to the top
company, then down to every company below it. The group tree (relationships) and the group's AUM
(portfolio) read the same walk, standalone or inside the 360's one statement.

Merged and restricted companies are left out with everything below them. A chain deeper than
GROUP_MAX_DEPTH, or a cycle written around the services, is cut off and says so (``cut``); the
walk's recursion is bounded by that depth whatever the data holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection

from fincrm.customers.models import Customer
from fincrm.customers.selectors import HIDDEN_STATUSES

# Guards against a corrupt tree: deeper or larger corporate groups are cut off (and say so).
GROUP_MAX_DEPTH = 30
GROUP_MAX_NODES = 5000


@dataclass(frozen=True)
class GroupMember:
    pk: int
    name: str
    customer_number: str
    kind: str
    parent_company_id: int | None
    status: str
    aum: Decimal
    depth: int  # 0: the top company


@dataclass(frozen=True)
class GroupWalk:
    """The group's companies by depth, then name and id; ``cut``: the walk up stopped short of
    the top (too deep, or a cycle)."""

    members: list[GroupMember]
    cut: bool


def group_walk_ctes(customer: str, shown: str) -> str:
    """The walk as common table expressions for a ``WITH RECURSIVE`` list: ``group_top(id, cut)``,
    the top company, and ``group_member(id, depth)``, every company of the group with its depth
    below the top. ``customer`` is the SQL of the customer's id, ``shown`` the condition on
    ``c.status`` that keeps a company in the group (placeholders of the caller's style)."""
    table = connection.ops.quote_name(Customer._meta.db_table)
    depth = GROUP_MAX_DEPTH
    # Up: stop at the first company without a parent, whose parent is already on the chain (a
    # cycle), or at the depth bound. Down: each company once, at its least depth (a cycle would
    # bring it round again, deeper).
    return f"""group_up(id, parent_id, step) AS (
  SELECT id, parent_company_id, 0 FROM {table} WHERE id = {customer}
  UNION ALL
  SELECT c.id, c.parent_company_id, u.step + 1 FROM group_up u JOIN {table} c ON c.id = u.parent_id
  WHERE u.step < {depth}
), group_top(id, cut) AS (
  SELECT u.id, (u.parent_id IS NOT NULL OR u.step = {depth}) FROM group_up u
  WHERE u.parent_id IS NULL OR u.step = {depth}
     OR EXISTS (SELECT 1 FROM group_up v WHERE v.id = u.parent_id AND v.step <= u.step)
  ORDER BY u.step LIMIT 1
), group_down(id, depth) AS (
  SELECT id, 0 FROM group_top
  UNION ALL
  SELECT c.id, d.depth + 1 FROM group_down d JOIN {table} c ON c.parent_company_id = d.id
  WHERE d.depth < {depth} AND {shown}
), group_member(id, depth) AS (
  SELECT id, MIN(depth) FROM group_down GROUP BY id
)"""  # noqa: S608 - table name from the model, values are parameters


def group_walk(customer_id: int) -> GroupWalk:
    """The walk for one customer (unscoped: callers have checked the customer's scope)."""
    hidden = [str(status) for status in HIDDEN_STATUSES]
    table = connection.ops.quote_name(Customer._meta.db_table)
    placeholders = ", ".join("%s" for _status in hidden)
    sql = f"""WITH RECURSIVE {group_walk_ctes("%s", f"c.status NOT IN ({placeholders})")}
SELECT m.id, m.depth, t.cut FROM group_member m JOIN {table} c ON c.id = m.id CROSS JOIN group_top t
ORDER BY m.depth, c.name, c.id"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [customer_id, *hidden])
        order = cursor.fetchall()
    # The columns through the ORM, so that AUM is the exact decimal on every database.
    fields = ("pk", "name", "customer_number", "kind", "parent_company_id", "status", "aum")
    rows = {
        row["pk"]: row for row in Customer.objects.filter(pk__in=[pk for pk, *_ in order]).values(*fields)
    }
    members = [GroupMember(**rows[pk], depth=depth) for pk, depth, _cut in order if pk in rows]
    return GroupWalk(members=members, cut=bool(order[0][2]) if order else False)


def group_walk_from_json(item: dict[str, Any]) -> GroupWalk:
    """The walk as the 360's statement returns it (``members`` in walk order, amounts as text)."""
    members = [
        GroupMember(
            pk=int(row["pk"]),
            name=row["name"],
            customer_number=row["customer_number"],
            kind=row["kind"],
            parent_company_id=row["parent_company_id"],
            status=row["status"],
            aum=Decimal(row["aum"]),
            depth=int(row["depth"]),
        )
        for row in item["members"] or []
    ]
    return GroupWalk(members=members, cut=bool(item["cut"]))

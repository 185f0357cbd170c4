"""Reads of the links between customers: relationships, households and corporate groups.

The customer asked about is checked against the actor's scope first (uniform not found). A related
customer the actor may see is named and linked; one outside the actor's scope appears only as a
masked name, without its id or number, so the link itself reveals no more than that it exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.customers.models import Customer, Household, HouseholdMember, Relationship
from fincrm.customers.selectors import HIDDEN_STATUSES, VIEW, access_customer, customer_queryset
from fincrm.customers.selectors.groups import (
    GROUP_MAX_DEPTH,
    GROUP_MAX_NODES,
    GroupMember,
    GroupWalk,
    group_walk,
)
from fincrm.platform.access import access_object
from fincrm.platform.actor import Actor
from fincrm.security.masking import mask

EDIT = "customer.edit"

Kind = Relationship.Kind

# What the *other* customer is to the customer whose page it is. A relationship says "from is the
# <kind> of to": seen from "to", the other (from) has the role itself; seen from "from", the inverse.
ROLE_OF_FROM: dict[str, str | Promise] = {
    Kind.SPOUSE: _("Spouse"),
    Kind.PARENT: _("Parent"),
    Kind.CHILD: _("Child"),
    Kind.GUARANTOR: _("Guarantor"),
    Kind.SHAREHOLDER: _("Shareholder"),
    Kind.LEGAL_REPRESENTATIVE: _("Legal representative"),
    Kind.BENEFICIAL_OWNER: _("Beneficial owner"),
    Kind.CONTACT_PERSON: _("Contact person"),
}
ROLE_OF_TO: dict[str, str | Promise] = {
    Kind.SPOUSE: _("Spouse"),
    Kind.PARENT: _("Child"),
    Kind.CHILD: _("Parent"),
    Kind.GUARANTOR: _("Guaranteed party"),
    Kind.SHAREHOLDER: _("Invested company"),
    Kind.LEGAL_REPRESENTATIVE: _("Represented company"),
    Kind.BENEFICIAL_OWNER: _("Owned entity"),
    Kind.CONTACT_PERSON: _("Contact for"),
}


@dataclass(frozen=True)
class Party:
    """A customer as the actor may see it: named and linked, or a masked name only."""

    customer_id: int | None
    name: str
    customer_number: str
    kind: str
    visible: bool


def visible_ids(actor: Actor, customer_ids: Iterable[int], action: str = VIEW) -> set[int]:
    """Which of these customers the actor may act on with ``action`` (one query)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return set()
    return set(customer_queryset(actor, action).filter(pk__in=ids).values_list("pk", flat=True))


def party(row: Mapping[str, Any], visible: bool) -> Party:
    if visible:
        return Party(row["pk"], row["name"], row["customer_number"], row["kind"], True)
    return Party(None, mask("name", row["name"]), "", "", False)


_PARTY_FIELDS = ("pk", "name", "customer_number", "kind")


def _today() -> date:
    return timezone.localdate()


def is_active(relationship: Relationship, today: date | None = None) -> bool:
    return relationship.ends_on is None or relationship.ends_on > (today or _today())


# ---------------------------------------------------------------- relationships


@dataclass(frozen=True)
class RelationshipRow:
    id: int
    kind: str
    role: str  # what the other customer is to this one, in the current language
    other: Party
    starts_on: date | None
    ends_on: date | None
    note: str
    active: bool
    outgoing: bool  # this customer is the "from" side


def relationships_for(actor: Actor, customer_id: object) -> list[RelationshipRow]:
    """The customer's relationships, active first, each naming the other customer only if visible."""
    customer = access_customer(actor, customer_id, VIEW)
    links = list(
        Relationship.objects.filter(Q(from_customer_id=customer.pk) | Q(to_customer_id=customer.pk)).order_by(
            "-starts_on", "-id"
        )
    )
    others = {
        link.to_customer_id if link.from_customer_id == customer.pk else link.from_customer_id
        for link in links
    }
    rows = {row["pk"]: row for row in Customer.objects.filter(pk__in=sorted(others)).values(*_PARTY_FIELDS)}
    return relationship_rows_of(links, customer.pk, rows, visible_ids(actor, others))


def relationship_rows_of(
    links: list[Relationship], customer_id: int, others: dict[int, dict[str, Any]], visible: set[int]
) -> list[RelationshipRow]:
    """The rows of the customer's links (newest first), active first. ``others``: each other
    customer's pk, name, customer_number and kind; ``visible``: those the actor may see."""
    today = _today()
    result = []
    for link in links:
        outgoing = link.from_customer_id == customer_id
        other_id = link.to_customer_id if outgoing else link.from_customer_id
        role = (ROLE_OF_TO if outgoing else ROLE_OF_FROM).get(link.kind, link.kind)
        result.append(
            RelationshipRow(
                id=link.pk,
                kind=link.kind,
                role=str(role),
                other=party(others[other_id], other_id in visible),
                starts_on=link.starts_on,
                ends_on=link.ends_on,
                note=link.note,
                active=is_active(link, today),
                outgoing=outgoing,
            )
        )
    result.sort(key=lambda row: not row.active)  # stable: active first, newest first within each
    return result


def access_relationship(actor: Actor, relationship_id: object, action: str = EDIT) -> Relationship:
    """A relationship the actor may change: ``action`` on at least one of its two customers."""
    scoped = customer_queryset(actor, action)
    queryset = Relationship.objects.filter(
        Q(Exists(scoped.filter(pk=OuterRef("from_customer_id"))))
        | Q(Exists(scoped.filter(pk=OuterRef("to_customer_id"))))
    )
    return access_object(queryset, relationship_id, actor=actor, action=action, object_type="relationship")


# ---------------------------------------------------------------- households


@dataclass(frozen=True)
class HouseholdMemberRow:
    party: Party
    role: str
    role_label: str
    is_current: bool


@dataclass(frozen=True)
class HouseholdView:
    id: int
    name: str
    members: list[HouseholdMemberRow] = field(default_factory=list)


def household_queryset(actor: Actor, action: str = VIEW) -> QuerySet[Household]:
    """Households with at least one member the actor may act on with ``action``."""
    members = customer_queryset(actor, action).filter(household_membership__household_id=OuterRef("pk"))
    return Household.objects.filter(Exists(members))


def access_household(
    actor: Actor, household_id: object, action: str = VIEW, *, for_update: bool = False
) -> Household:
    queryset = household_queryset(actor, action)
    if for_update:
        queryset = queryset.select_for_update()
    return access_object(queryset, household_id, actor=actor, action=action, object_type="household")


def household_of(actor: Actor, customer_id: object) -> HouseholdView | None:
    """The customer's household with its members (head first), or None when it has none."""
    customer = access_customer(actor, customer_id, VIEW)
    membership = HouseholdMember.objects.filter(customer_id=customer.pk).select_related("household").first()
    if membership is None:
        return None
    return _household_view(actor, membership.household, current_id=customer.pk)


def household_detail(actor: Actor, household_id: object) -> HouseholdView:
    return _household_view(actor, access_household(actor, household_id, VIEW), current_id=None)


def _household_view(actor: Actor, household: Household, *, current_id: int | None) -> HouseholdView:
    members = list(
        HouseholdMember.objects.filter(household=household)
        .exclude(customer__status__in=HIDDEN_STATUSES)
        .order_by("id")
        .values(
            "role",
            pk=F("customer_id"),
            name=F("customer__name"),
            customer_number=F("customer__customer_number"),
            kind=F("customer__kind"),
        )
    )
    seen = visible_ids(actor, (member["pk"] for member in members))
    return household_view_of(household.pk, household.name, members, seen, current_id=current_id)


def household_view_of(
    household_id: int,
    name: str,
    members: Sequence[Mapping[str, Any]],
    visible: set[int],
    *,
    current_id: int | None,
) -> HouseholdView:
    """The household as shown: the head first, then the members the actor may see, by name.
    ``members``: each member's party columns (pk, name, customer_number, kind) and role, in
    membership order."""
    labels = dict(HouseholdMember.Role.choices)
    rows = [
        HouseholdMemberRow(
            party=party(member, member["pk"] in visible),
            role=member["role"],
            role_label=str(labels.get(member["role"], member["role"])),
            is_current=member["pk"] == current_id,
        )
        for member in members
    ]
    rows.sort(key=lambda row: (row.role != HouseholdMember.Role.HEAD, not row.party.visible, row.party.name))
    return HouseholdView(id=household_id, name=name, members=rows)


# ---------------------------------------------------------------- corporate groups


@dataclass(frozen=True)
class GroupNode:
    party: Party
    depth: int
    is_current: bool
    parent_visible: bool


@dataclass(frozen=True)
class GroupTree:
    nodes: list[GroupNode]
    truncated: bool

    @property
    def is_group(self) -> bool:
        return len(self.nodes) > 1


def group_tree(actor: Actor, customer_id: object) -> GroupTree:
    """The customer's whole corporate group from its top parent down (depth first, by name), members
    outside the actor's scope masked. Three queries: the scope check, the walk, visibility."""
    customer = access_customer(actor, customer_id, VIEW)
    walk = group_walk(customer.pk)
    return tree_of(walk, visible_ids(actor, (member.pk for member in walk.members)), customer.pk)


def tree_of(walk: GroupWalk, visible: set[int], current_id: int) -> GroupTree:
    """The tree of a walk, the first GROUP_MAX_NODES companies by depth, name and id (the rest cut
    off, and said so, as are companies at the depth bound: what is below them is unknown)."""
    members = walk.members[:GROUP_MAX_NODES]
    truncated = (
        walk.cut
        or len(walk.members) > GROUP_MAX_NODES
        or any(member.depth == GROUP_MAX_DEPTH for member in members)
    )
    if not members:
        return GroupTree(nodes=[], truncated=truncated)
    children: dict[int | None, list[GroupMember]] = {}
    for member in members[1:]:
        children.setdefault(member.parent_company_id, []).append(member)
    nodes: list[GroupNode] = []
    stack: list[tuple[GroupMember, bool]] = [(members[0], False)]
    while stack:
        member, parent_visible = stack.pop()
        row = {
            "pk": member.pk,
            "name": member.name,
            "customer_number": member.customer_number,
            "kind": member.kind,
        }
        nodes.append(
            GroupNode(
                party=party(row, member.pk in visible),
                depth=member.depth,
                is_current=member.pk == current_id,
                parent_visible=parent_visible,
            )
        )
        for child in reversed(children.get(member.pk, [])):
            stack.append((child, member.pk in visible))
    return GroupTree(nodes=nodes, truncated=truncated)


def ancestor_ids(customer_id: int, *, lock: bool = False) -> list[int]:
    """The parent chain above a customer, nearest first (at most GROUP_MAX_DEPTH + 1 entries)."""
    chain: list[int] = []
    current: int = customer_id
    for _level in range(GROUP_MAX_DEPTH + 1):
        rows = Customer.objects.filter(pk=current)
        if lock:
            rows = rows.select_for_update()
        parent = rows.values_list("parent_company_id", flat=True).first()
        if parent is None or parent in chain or parent == customer_id:
            if parent is not None:
                chain.append(parent)
            break
        chain.append(parent)
        current = parent
    return chain

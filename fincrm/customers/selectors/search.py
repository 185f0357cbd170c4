"""The one search box: a name, pinyin or initials, a mobile, ID, account or customer number.

How a query is read (``classify_query``):

* Han characters: the name. Ranked: the whole name, then names *starting* with the text (the
  ``s`` terms), then names containing it elsewhere (``c`` terms: one character, or one pair of
  characters; longer text needs every pair, each as an ``s`` or a ``c`` term, then ``LIKE``
  rechecks the order).
* Latin letters: pinyin or initials (``zs`` → 张三), the exact term first, then by prefix.
* Digits and the like: identifiers, looked up exactly through their blind index: mobile in any
  written form, resident ID (lower-case ``x`` too, legacy 15 digits), account number (when the
  portfolio app has an ``Account`` with an ``account_number_bidx``), customer number. An
  identifier search is audited (``customer.searched``, the kinds only, never the value).

Every query starts from ``customer_queryset(actor)``: out of scope is not found. Results are the
first ``limit`` by relevance then AUM (descending), with a "more" flag; matches are never counted.
Each tier is one query that stops at ``limit + 1`` rows, so a surname shared by 7 % of a million
customers costs what a rare one does (bench/bench_search.py).

With the institution scope, a tier of one exact term (a surname, a two-character fragment, exact
pinyin or initials) is read from the (kind, term, rank, customer) index, ``rank`` being the
customer's AUM copied onto its terms: the first entries in result order, each checked for scope
and status, so a term shared by 14,000 customers reads about 21 entries
(``FINCRM_SEARCH_RANK_INDEX = False`` turns this off).

Scopes narrower than the institution get an extra index-friendly narrowing
(``scope_candidates``): the customers an actor's scopes can reach as a UNION of indexed lookups.
It only ever narrows what ``customer_queryset`` already allows, so if it drifted from the scope
rules it could lose a result (tests pin it), never show one out of scope. A scope reaching at most
``FINCRM_SEARCH_SMALL_SCOPE`` customers (an account manager's book) searches a name or pinyin in
one statement: each of its customers' first matching tier, the terms probed customer by customer
through the (customer, kind, term) index, so a common term costs what a rare one does.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Concat
from django.db.models.lookups import IsNull
from django.utils.translation import gettext_lazy as _

from fincrm.audit.deferred import audit_record_soon
from fincrm.customers.models import Customer, CustomerSearchTerm, IdentityDocument
from fincrm.customers.search_terms import is_han, normalize_name
from fincrm.customers.selectors import VIEW, customer_queryset, scope_candidates
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.ratelimit import hit
from fincrm.security.fields import blind_index, blind_indexes

Kind = CustomerSearchTerm.Kind

MAX_QUERY_LENGTH = 64
DEFAULT_LIMIT = 20


class QueryKind(StrEnum):
    NAME = "name"  # Han characters
    PINYIN = "pinyin"  # Latin letters: full pinyin or initials
    MOBILE = "mobile"
    ID_NUMBER = "id_number"
    ACCOUNT_NUMBER = "account_number"
    EMAIL = "email"
    CUSTOMER_NUMBER = "customer_number"


# Identifiers: exact, through a blind index, POSTed only, audited.
IDENTIFIER_KINDS = frozenset(
    {QueryKind.MOBILE, QueryKind.ID_NUMBER, QueryKind.ACCOUNT_NUMBER, QueryKind.EMAIL}
)


@dataclass(frozen=True)
class Query:
    """What the box holds, read: the kinds to try (in order) and the normalized text."""

    kinds: tuple[QueryKind, ...]
    text: str

    @property
    def is_identifier(self) -> bool:
        return any(kind in IDENTIFIER_KINDS for kind in self.kinds)

    @property
    def identifier_kinds(self) -> list[str]:
        return [str(kind) for kind in self.kinds if kind in IDENTIFIER_KINDS]


@dataclass
class SearchResult:
    query: Query
    customers: list[Customer] = field(default_factory=list)
    more: bool = False


_SEPARATORS = re.compile(r"[\s\-().\u00b7\u2010-\u2015\uff08\uff09]")
_LATIN = re.compile(r"[a-z]+")
_DIGITS = re.compile(r"\+?[0-9]+")
_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]|[0-9]{15}")
_DOCUMENT = re.compile(r"[0-9A-Z]{5,34}")
_MAINLAND_MOBILE = re.compile(r"(?:\+86|0086|86)?1[3-9][0-9]{9}")
# Letters joined by hyphens, underscores or slashes (``W-A``, ``CN/0012``): a customer number.
_CODE = re.compile(r"[A-Za-z]+(?:[\-_/][A-Za-z0-9]+)+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# What people type for pinyin beside a-z: ü (lü), apostrophes between syllables (xi'an).
_PINYIN_FOLD = str.maketrans({"ü": "v", "'": None, "\u2019": None, "·": None, "-": None, ".": None})


def _invalid(message: Any, code: str) -> ServiceError:
    return ServiceError.field("q", message, code=code)


def classify_query(raw: object) -> Query:
    """Read the box. Never raises anything but a ServiceError naming ``q``."""
    if not isinstance(raw, str):
        raise _invalid(_("Type a name, pinyin, mobile, ID or account number."), "search_empty")
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        raise _invalid(_("Type a name, pinyin, mobile, ID or account number."), "search_empty")
    if len(text) > MAX_QUERY_LENGTH:
        raise _invalid(
            _("A search is at most %(limit)d characters long.") % {"limit": MAX_QUERY_LENGTH},
            "search_too_long",
        )
    name = normalize_name(text)
    if not name:
        raise _invalid(_("Type a name, pinyin, mobile, ID or account number."), "search_empty")
    if any(is_han(char) for char in name):
        return Query((QueryKind.NAME,), name)
    if _EMAIL.fullmatch(text):
        return Query((QueryKind.EMAIL,), text)
    compact = _SEPARATORS.sub("", text).upper()
    if _CODE.fullmatch(text):
        return Query((QueryKind.CUSTOMER_NUMBER,), text.upper())
    letters = name.translate(_PINYIN_FOLD)
    if _LATIN.fullmatch(letters):
        return Query((QueryKind.PINYIN,), letters)
    kinds: list[QueryKind] = []
    if _DIGITS.fullmatch(compact):
        if _MAINLAND_MOBILE.fullmatch(compact) or (compact.startswith(("+", "00")) and len(compact) >= 9):
            kinds.append(QueryKind.MOBILE)
        if _RESIDENT_ID.fullmatch(compact):
            kinds.append(QueryKind.ID_NUMBER)
        if 8 <= len(compact) <= 34 and not compact.startswith("+") and account_model() is not None:
            kinds.append(QueryKind.ACCOUNT_NUMBER)
        kinds.append(QueryKind.CUSTOMER_NUMBER)
        return Query(tuple(kinds), compact)
    if _DOCUMENT.fullmatch(compact):
        # Letters and digits: a customer number, or a document (ID with X, passport, permit, USCC).
        if any(char.isdigit() for char in compact):
            kinds.append(QueryKind.ID_NUMBER)
        kinds.append(QueryKind.CUSTOMER_NUMBER)
        return Query(tuple(kinds), compact)
    raise _invalid(_("Type a name, pinyin, mobile, ID or account number."), "search_unreadable")


# ---------------------------------------------------------------- portfolio accounts


def account_model() -> Any | None:
    """portfolio.Account when it exists with an ``account_number_bidx`` and a ``customer``."""
    try:
        model = apps.get_model("portfolio", "Account")
        model._meta.get_field("account_number_bidx")
        model._meta.get_field("customer")
    except (LookupError, FieldDoesNotExist):
        return None
    return model


# ---------------------------------------------------------------- scope narrowing


# ---------------------------------------------------------------- tiers

# A term matching fewer customers than this is searched from its ids (one index range, then the
# customers by primary key); a more common one by walking customers by AUM until enough match.
# The database cannot pick between the two itself: it does not know that ("s", "伟") is rare
# while ("c", "伟") is common. bench/bench_search.py measures both sides of the threshold.
PROBE = 2000


@dataclass(frozen=True)
class TermMatch:
    kinds: tuple[str, ...]
    term: str
    prefix: bool = False

    def rows(self, *, per_customer: bool = False) -> QuerySet[CustomerSearchTerm]:
        rows = CustomerSearchTerm.objects.filter(kind__in=self.kinds)
        if not self.prefix:
            return rows.filter(term=self.term)
        if per_customer:
            # Tested on an expression, so that no index can turn the prefix into a range: from
            # ``term LIKE 'dy%'`` PostgreSQL may derive a range of the (kind, term, rank, customer)
            # index and read all of it for every customer probed. It did so whenever few pages were
            # marked all-visible (after a large load, a restore or VACUUM FULL, until a plain
            # VACUUM): an account manager's search by initials took 155 ms instead of 10.
            return rows.alias(probed=Concat(F("term"), Value(""))).filter(probed__startswith=self.term)
        return rows.filter(term__startswith=self.term)

    def exists(self) -> Exists:
        return Exists(self.rows().filter(customer_id=OuterRef("pk")))

    def probe(self, column: str) -> IsNull:
        """Whether the customer whose id is in ``column`` has this term: one probe of the
        (customer, kind, term) index per row. A scalar subquery, not an EXISTS: PostgreSQL turns an
        EXISTS into a join it may start from the term's side, reading every customer with the
        term (28,000 entries for ``zw…`` at 1M customers: 40 ms) where an account manager's 800
        customers take 800 probes (2-3 ms)."""
        first = self.rows(per_customer=True).filter(customer_id=OuterRef(column)).values("customer_id")[:1]
        return IsNull(Subquery(first), False)


@dataclass(frozen=True)
class Tier:
    """One rank of results: customers matching every term and ``recheck``, or ``direct``."""

    terms: tuple[TermMatch, ...] = ()
    recheck: Q = field(default_factory=Q)
    direct: Q | None = None


def _name_tiers(text: str) -> list[Tier]:
    """Whole name; starts with the text; contains it (ranked in this order)."""
    if len(text) <= 2:
        starts = Tier((TermMatch((Kind.START,), text),))
        # A name with the text at its start has it as an ``s`` term only: those were all the tier
        # before, so the rest are the ``c`` terms (read in rank order, nothing to skip).
        contains = Tier((TermMatch((Kind.CHARACTERS,), text),))
    else:
        starts = Tier((TermMatch((Kind.START,), text[:2]),), Q(name__startswith=text))
        # A pair of the text may be where another name starts (``s``) or inside it (``c``).
        pairs = sorted({text[index : index + 2] for index in range(len(text) - 1)})
        either = (Kind.CHARACTERS, Kind.START)
        contains = Tier(tuple(TermMatch(either, pair) for pair in pairs), Q(name__contains=text))
    return [Tier(direct=Q(name=text)), starts, contains]


def _pinyin_tiers(text: str) -> list[Tier]:
    """The exact pinyin or initials, then every pinyin or initials starting with the text."""
    kinds = (Kind.PINYIN, Kind.INITIALS)
    return [Tier((TermMatch(kinds, text),)), Tier((TermMatch(kinds, text, prefix=True),))]


def _identifier_tiers(query: Query) -> list[Tier]:
    """Each an exact indexed lookup of its own (an OR of them would scan the table)."""
    tiers: list[Tier] = []
    for kind in query.kinds:
        if kind == QueryKind.MOBILE:
            tiers.append(Tier(direct=Q(mobile_bidx=blind_index(query.text, "mobile"))))
        elif kind == QueryKind.EMAIL:
            tiers.append(Tier(direct=Q(email_bidx=blind_index(query.text, "email"))))
        elif kind == QueryKind.ID_NUMBER:
            indexes = sorted({blind_index(number, "id_number") for number in _id_number_forms(query.text)})
            documents = IdentityDocument.objects.filter(id_number_bidx__in=indexes).values("customer_id")
            tiers.append(Tier(direct=Q(id_number_bidx__in=indexes)))
            tiers.append(Tier(direct=Q(pk__in=documents)))
        elif kind == QueryKind.ACCOUNT_NUMBER:
            model = account_model()
            if model is not None:
                accounts = model._default_manager.filter(
                    # Every live index key: card indexes without a stored number keep their old key.
                    account_number_bidx__in=blind_indexes(query.text, "account_number")
                ).values("customer_id")
                tiers.append(Tier(direct=Q(pk__in=accounts)))
        elif kind == QueryKind.CUSTOMER_NUMBER:
            tiers.append(Tier(direct=Q(customer_number__in=sorted({query.text, query.text.upper()}))))
    return tiers


def _id_number_forms(number: str) -> list[str]:
    """The number as typed, and a legacy 15-digit resident ID also as its 18-digit form."""
    forms = [number]
    if len(number) == 15 and number.isdigit():
        try:
            from fincrm.customers.identity import resident_id_15_to_18

            forms.append(resident_id_15_to_18(number))
        except (ImportError, ValueError):
            pass
    return forms


def _tiers(query: Query) -> list[Tier]:
    if query.kinds == (QueryKind.NAME,):
        return _name_tiers(query.text)
    if query.kinds == (QueryKind.PINYIN,):
        return _pinyin_tiers(query.text)
    return _identifier_tiers(query)


def _tier_queryset(base: QuerySet[Customer], tier: Tier) -> QuerySet[Customer]:
    if tier.direct is not None:
        return base.filter(tier.direct)
    few: set[int] | None = None
    for match in tier.terms:
        ids = list(match.rows().values_list("customer_id", flat=True)[:PROBE])
        if len(ids) < PROBE:
            few = set(ids) if few is None else few & set(ids)
            if not few:
                return base.none()
    if few is not None:
        # Every term was read (or the recheck covers the common ones, which were not).
        return base.filter(tier.recheck, pk__in=sorted(few))
    condition = tier.recheck
    for match in tier.terms:
        condition &= Q(match.exists())
    return base.filter(condition)


# A scope reaching at most this many customers (an account manager's book: ~800) has a name or
# pinyin searched over its customers, about two index probes each, so the cost grows with the
# scope: at 1M customers an account manager's 800 took half the time of the tier-by-tier path, a
# team lead's 6,400 two and a half times it (both paths in turn, same inputs).
# FINCRM_SEARCH_SMALL_SCOPE overrides it; 0 turns it off.
SMALL_SCOPE = 2000


def _small_scope(actor: Actor, candidates: QuerySet[Any] | None) -> bool:
    """Whether the actor's scope reaches at most ``FINCRM_SEARCH_SMALL_SCOPE`` customers. Counted
    over a UNION ALL that stops one id past the bound, so a branch's 100,000 customers cost what
    2,001 do; a customer reached twice counts twice, which only ever sends a scope to the path
    for large ones."""
    bound = int(getattr(settings, "FINCRM_SEARCH_SMALL_SCOPE", SMALL_SCOPE))
    if candidates is None or bound <= 0:
        return False
    reached = scope_candidates(actor, VIEW, repeats=True)
    return reached is not None and reached[: bound + 1].count() <= bound


def _small_scope_search(base: QuerySet[Customer], tiers: list[Tier], wanted: int) -> list[Customer]:
    """Every tier in one statement over the few customers of a small scope (``base`` starts from
    them): each customer's first matching tier, its terms probed one by one; the first
    ``wanted`` by tier, then AUM: the same customers in the same order as the tiers one after
    the other, each excluding what the ones before found."""
    conditions: list[When] = []
    for tier in tiers:
        condition = tier.direct if tier.direct is not None else tier.recheck
        for match in tier.terms:
            condition &= Q(match.probe("pk"))
        conditions.append(When(condition, then=Value(len(conditions))))
    first_tier = Case(*conditions, output_field=IntegerField())
    queryset = base.alias(tier=first_tier).filter(tier__isnull=False)
    return list(queryset.order_by("tier", "-aum", "-pk")[:wanted])


# ---------------------------------------------------------------- the search


def _limit_identifier_searches(actor: Actor) -> None:
    """Exact identifier lookups answer "is this number a customer?": a few a minute per actor
    (FINCRM_IDENTIFIER_SEARCHES_PER_MINUTE, default 30) so nobody enumerates mobile numbers."""
    limit = int(getattr(settings, "FINCRM_IDENTIFIER_SEARCHES_PER_MINUTE", 30))
    allowed, retry_after = hit(f"customer-search-identifier:{actor.label}", limit, 60)
    if not allowed:
        raise ServiceError(
            _("Too many number searches: wait %(seconds)d seconds.") % {"seconds": retry_after},
            code="rate_limited",
            fields={
                "q": [_("Too many number searches: wait %(seconds)d seconds.") % {"seconds": retry_after}]
            },
            status=429,
        )


def search_queryset(actor: Actor) -> QuerySet[Customer]:
    """What a search may return, with what the results list shows."""
    return _search_base(actor, scope_candidates(actor, VIEW))


def _search_base(actor: Actor, candidates: QuerySet[Any] | None) -> QuerySet[Customer]:
    queryset = customer_queryset(actor, VIEW)
    if candidates is not None:
        queryset = queryset.filter(pk__in=candidates)
    return queryset.select_related("org_unit", "primary_manager").only(
        "pk",
        "row_uid",
        "customer_number",
        "kind",
        "status",
        "name",
        "mobile",
        "id_number",
        "value_tier",
        "aum",
        "org_unit__name",
        "primary_manager__full_name",
    )


def _ranked(tier: Tier) -> TermMatch | None:
    """The one exact term of a tier that can be read in rank order, or None."""
    if tier.direct is not None or len(tier.terms) != 1 or tier.recheck:
        return None
    match = tier.terms[0]
    return None if match.prefix else match


def _ranked_rows(actor: Actor, match: TermMatch, kind: str, found: list[int]) -> QuerySet[Any]:
    """(customer_id, rank) of the customers matching one term of one kind that the actor may see,
    largest rank (AUM) first: the (kind, term, rank, customer) index in its own order, each entry
    checked against the customer's scope and status (a primary-key lookup) until enough pass."""
    visible = customer_queryset(actor, VIEW).filter(pk=OuterRef("customer_id"))
    rows = CustomerSearchTerm.objects.filter(Exists(visible), kind=kind, term=match.term)
    if found:
        rows = rows.exclude(customer_id__in=found)
    return rows.order_by("-rank", "-customer_id")


def _ranked_tier(
    actor: Actor, base: QuerySet[Customer], match: TermMatch, wanted: int, found: list[int]
) -> list[Customer]:
    """The first ``wanted`` customers of a one-term tier, read from the rank index: a term shared by
    14,000 customers costs what a rare one does. One statement for one kind; the exact pinyin tier
    (pinyin or initials) reads each kind's first ``wanted`` and keeps the best of both."""
    if len(match.kinds) == 1:
        first = _ranked_rows(actor, match, match.kinds[0], found).values("customer_id")[:wanted]
        return list(base.filter(pk__in=first).order_by("-aum", "-pk"))
    if connection.features.supports_slicing_ordering_in_compound:
        # PostgreSQL: each kind's first ``wanted`` in a UNION, the best of both in one statement.
        each = [
            _ranked_rows(actor, match, kind, found).values("customer_id")[:wanted] for kind in match.kinds
        ]
        union = each[0].union(*each[1:])
        return list(base.filter(pk__in=union).order_by("-aum", "-pk")[:wanted])
    best: dict[int, Any] = {}
    for kind in match.kinds:
        for customer_id, rank in _ranked_rows(actor, match, kind, found).values_list("customer_id", "rank")[
            :wanted
        ]:
            best[customer_id] = rank
    ids = sorted(best, key=lambda pk: (best[pk], pk), reverse=True)[:wanted]
    if not ids:
        return []
    return list(base.filter(pk__in=ids).order_by("-aum", "-pk"))


def _tiers_in_turn(
    actor: Actor, base: QuerySet[Customer], candidates: QuerySet[Any] | None, tiers: list[Tier], wanted: int
) -> list[Customer]:
    """The first ``wanted`` customers, tier after tier, each tier one statement stopping at what is
    still wanted (the institution scope reads one-term tiers from the rank index)."""
    # FINCRM_SEARCH_RANK_INDEX = False: every tier takes the older path (benchmarks compare both).
    rank_index = bool(getattr(settings, "FINCRM_SEARCH_RANK_INDEX", True))
    found: list[Customer] = []
    for tier in tiers:
        still = wanted - len(found)
        match = _ranked(tier) if candidates is None and rank_index else None
        if match is not None:
            found.extend(_ranked_tier(actor, base, match, still, [customer.pk for customer in found]))
        else:
            queryset = _tier_queryset(base, tier)
            if found:
                queryset = queryset.exclude(pk__in=[customer.pk for customer in found])
            # The ids first (LIMIT inside), then their rows with branch and manager: joining those
            # for every match before the sort cost 25 ms of a 115 ms search for common initials at 1M.
            first = queryset.order_by("-aum", "-pk").values("pk")[:still]
            found.extend(base.filter(pk__in=first).order_by("-aum", "-pk"))
        if len(found) >= wanted:
            break
    return found


def customer_search(*, actor: Actor, query: str, limit: int = DEFAULT_LIMIT) -> SearchResult:
    """The first ``limit`` customers the actor may see matching ``query``, most relevant first
    (then by AUM, largest first); ``more`` when there are others. An identifier search records
    ``customer.searched`` with the kinds tried, never the value (a read event: written in a batch
    within ``FINCRM_AUDIT_READ_EVENT_DELAY``).

    An actor with the institution scope reads a one-term tier (a surname, a two-character fragment,
    exact pinyin or initials) from the rank index: the first entries in AUM order, each checked for
    scope and status. Narrower scopes keep the path through ``scope_candidates`` (the customers
    the actor can reach, usually a few thousand): walking a common term's entries in AUM order
    until 21 of them are in a small scope would read most of them. A scope of at most
    ``FINCRM_SEARCH_SMALL_SCOPE`` customers (an account manager's book) searches a name or pinyin
    in one statement over its customers, whatever the term."""
    read = classify_query(query)
    if read.is_identifier:
        _limit_identifier_searches(actor)
    result = SearchResult(read)
    candidates = scope_candidates(actor, VIEW)
    base = _search_base(actor, candidates)
    tiers = _tiers(read)
    if any(tier.terms for tier in tiers) and _small_scope(actor, candidates):
        found = _small_scope_search(base, tiers, limit + 1)
    else:
        found = _tiers_in_turn(actor, base, candidates, tiers, limit + 1)
    result.customers = found[:limit]
    result.more = len(found) > limit
    if read.is_identifier:
        only = result.customers[0] if len(result.customers) == 1 else None
        # A read event like opening a 360: taken now, appended by the audit app's batch writer
        # (fincrm.audit.deferred states the bound), so the search does not wait on the chain lock.
        audit_record_soon(
            actor,
            "customer.searched",
            object_type="customer",
            object_id=str(only.pk) if only is not None else "",
            after={"kinds": read.identifier_kinds, "found": len(result.customers)},
        )
    return result

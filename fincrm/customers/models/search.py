"""Search terms: what the one search box matches a customer's name against.

Chinese names are too short for trigram indexes (MEASURED.md), so each customer gets exact terms:
every character and every pair of adjacent characters of the name, the start of the name, the
full pinyin and the pinyin initials (with the surname's reading as a surname). Kept in step by the
customer services (fincrm.customers.search_terms.refresh_search_terms).

``rank`` is the customer's AUM copied onto each of its terms, so the customers matching a term are
read from one index in the order search shows them (largest AUM first) and a common term costs no
more than a rare one: the first 20 of 14,000 matches are the first 20 index entries. The one writer
of AUM (fincrm.portfolio.services.customer_aum_update) writes it in the same statement; the
customer services copy it when they rewrite the terms; writers that do not name it (imports,
feeds) get the database default 0, which is the AUM of a customer without assets.

Two index entries a term, each costing an import 1.5-2.5 µs (about 7 terms a customer,
docs/operations/benchmarks.md): the primary key (customer, kind, term), which keeps a customer's
terms together and each once, and the rank index, which finds a term's customers.
"""

from __future__ import annotations

from django.db import models


class CustomerSearchTerm(models.Model):
    class Kind(models.TextChoices):
        CHARACTERS = "c", "characters"
        START = "s", "start of the name"
        PINYIN = "p", "pinyin"
        INITIALS = "i", "initials"

    # No surrogate id: nothing reads one, and it cost every term a third index entry.
    pk = models.CompositePrimaryKey("customer_id", "kind", "term")
    # Indexed by the primary key (customer, kind, term). No foreign key in the database
    # (db_constraint=False): terms are a derived index of the customer's name, ~7 rows per customer,
    # and the constraint cost an import ~9 deferred checks per new customer at commit. Deleting a
    # customer through the ORM still deletes its terms (Django's collector cascades); the code that
    # deletes, merges or renames customers rewrites their terms (services, importer, merge).
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="search_terms",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=1, choices=Kind.choices)
    term = models.CharField(max_length=64)
    # The customer's AUM (same type as Customer.aum): the order of the search results.
    rank = models.DecimalField(max_digits=20, decimal_places=2, default=0, db_default=0)

    class Meta:
        indexes = [
            # Exact terms and pinyin prefixes (``term LIKE 'zh%'``) from one index whatever the
            # database collation: the pattern operator class compares bytes (PostgreSQL; other
            # databases ignore operator classes, and SQLite compares bytes anyway). Within one
            # (kind, term), entries run by rank then customer, largest first: the order of the
            # results, so a search reads its first 20 entries and stops.
            models.Index(
                fields=["kind", "term", "-rank", "-customer"],
                name="customer_search_term_rank",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops", "numeric_ops", "int8_ops"],
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.customer_id}"

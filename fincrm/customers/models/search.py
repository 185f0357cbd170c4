"""Search terms: what the one search box matches a customer's name against.

Chinese names are too short for trigram indexes (MEASURED.md), so each customer gets exact terms:
every character and every pair of adjacent characters of the name, the start of the name, the
full pinyin and the pinyin initials (with the surname's reading as a surname). Kept in step by the
customer services (fincrm.customers.search_terms.refresh_search_terms).
"""

from __future__ import annotations

from django.db import models


class CustomerSearchTerm(models.Model):
    class Kind(models.TextChoices):
        CHARACTERS = "c", "characters"
        START = "s", "start of the name"
        PINYIN = "p", "pinyin"
        INITIALS = "i", "initials"

    # Indexed by the unique (customer, kind, term) constraint below.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="search_terms", db_index=False
    )
    kind = models.CharField(max_length=1, choices=Kind.choices)
    term = models.CharField(max_length=64)

    class Meta:
        indexes = [
            # Exact terms and pinyin prefixes (``term LIKE 'zh%'``) from one index whatever the
            # database collation: the pattern operator class compares bytes (PostgreSQL; other
            # databases ignore operator classes, and SQLite compares bytes anyway).
            models.Index(
                fields=["kind", "term", "customer"],
                name="customer_search_term",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops", "int8_ops"],
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind", "term"], name="customer_search_term_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.customer_id}"

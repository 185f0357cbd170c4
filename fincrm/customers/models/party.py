"""Parties: individual and corporate customers, their identity documents, households and relationships.

Identifiers (ID numbers, mobile, e-mail, address) are encrypted with a blind index beside them
for exact search and dedupe; names stay in clear for search and are masked on display.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from fincrm.customers.models.coverage import SecondaryManager
from fincrm.org.models import Team, subtree_condition
from fincrm.platform.actor import Actor, Scope
from fincrm.platform.models import TimestampedModel
from fincrm.platform.scoping import EVERYTHING, ScopedManager
from fincrm.security.fields import BlindIndexField, EncryptedTextField, RowUidMixin


class CustomerKind(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual")
    CORPORATE = "corporate", _("Corporate")


class IdType(models.TextChoices):
    RESIDENT_ID = "resident_id", _("Resident ID card")
    PASSPORT = "passport", _("Passport")
    HK_MACAU_PERMIT = "hk_macau_permit", _("Mainland travel permit for Hong Kong and Macau residents")
    TAIWAN_PERMIT = "taiwan_permit", _("Mainland travel permit for Taiwan residents")
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence", _("Foreign permanent resident ID card")
    USCC = "uscc", _("Unified social credit code")


class LifecycleStage(models.TextChoices):
    LEAD = "lead", _("Lead")
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    DORMANT = "dormant", _("Dormant")
    LOST = "lost", _("Lost")


class SourceChannel(models.TextChoices):
    BRANCH = "branch", _("Branch")
    ONLINE = "online", _("Online")
    REFERRAL = "referral", _("Referral")
    CAMPAIGN = "campaign", _("Campaign")
    PARTNER = "partner", _("Partner")


class AmlRiskRating(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class RiskTolerance(models.TextChoices):
    C1 = "C1", _("C1 (conservative)")
    C2 = "C2", _("C2 (cautious)")
    C3 = "C3", _("C3 (balanced)")
    C4 = "C4", _("C4 (growth)")
    C5 = "C5", _("C5 (aggressive)")


class ValueTier(models.TextChoices):
    MASS = "mass", _("Mass")
    AFFLUENT = "affluent", _("Affluent")
    WEALTH = "wealth", _("Wealth")
    PRIVATE = "private", _("Private banking")


class Gender(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class IncomeBand(models.TextChoices):
    BELOW_100K = "lt_100k", _("Below CNY 100,000 a year")
    FROM_100K = "100k_300k", _("CNY 100,000 to 300,000 a year")
    FROM_300K = "300k_1m", _("CNY 300,000 to 1 million a year")
    ABOVE_1M = "gt_1m", _("Above CNY 1 million a year")


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    # Its identity matched a customer outside the creator's scope: held for institution-wide review.
    NEEDS_REVIEW = "needs_review", _("Needs review")
    MERGED = "merged", _("Merged")
    # Deletion requested where a retention duty applies: hidden from every use, kept until it ends.
    RESTRICTED = "restricted", _("Restricted")


class Customer(RowUidMixin, TimestampedModel):
    customer_number = models.CharField(_("customer number"), max_length=32, unique=True)
    kind = models.CharField(_("customer type"), max_length=12, choices=CustomerKind.choices)
    status = models.CharField(
        _("status"), max_length=14, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    name = models.CharField(_("name"), max_length=200, db_index=True)
    # Derived from the name for search (fincrm.customers.search_terms); lower-case, no spaces.
    name_pinyin = models.CharField(_("name in pinyin"), max_length=400, blank=True, editable=False)

    # Identity (the primary document; further documents in IdentityDocument)
    id_type = models.CharField(_("ID type"), max_length=32, choices=IdType.choices, blank=True)
    id_number = EncryptedTextField(_("ID number"), blank=True, null=True)
    id_number_bidx = BlindIndexField(source="id_number", purpose="id_number")
    id_expires_on = models.DateField(_("ID expiry date"), null=True, blank=True)
    gender = models.CharField(_("gender"), max_length=8, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    nationality = models.CharField(_("nationality"), max_length=3, blank=True, default="CHN")

    # Contact
    mobile = EncryptedTextField(_("mobile number"), blank=True, null=True)
    mobile_bidx = BlindIndexField(source="mobile", purpose="mobile")
    email = EncryptedTextField(_("e-mail"), blank=True, null=True)
    # Indexed where present only (Meta.indexes): most customers have no e-mail on file.
    email_bidx = BlindIndexField(source="email", purpose="email", db_index=False)
    address = EncryptedTextField(_("address"), blank=True, null=True)
    # Not searched: lets imports and feeds tell an unchanged address without decrypting it.
    address_bidx = BlindIndexField(source="address", purpose="text", db_index=False)

    # KYC profile
    occupation = models.CharField(_("occupation"), max_length=100, blank=True)
    employer = models.CharField(_("employer"), max_length=200, blank=True)
    income_band = models.CharField(_("income band"), max_length=12, choices=IncomeBand.choices, blank=True)
    source_of_funds = models.CharField(_("source of funds"), max_length=200, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    aml_risk_rating = models.CharField(
        _("AML risk rating"), max_length=8, choices=AmlRiskRating.choices, default=AmlRiskRating.LOW
    )
    aml_next_review_on = models.DateField(_("next AML review"), null=True, blank=True)
    risk_tolerance = models.CharField(
        _("risk tolerance"), max_length=2, choices=RiskTolerance.choices, blank=True
    )
    risk_assessed_on = models.DateField(_("risk assessment date"), null=True, blank=True)
    risk_expires_on = models.DateField(_("risk assessment expiry"), null=True, blank=True)
    is_professional_investor = models.BooleanField(_("professional investor"), default=False)
    professional_evidence = models.TextField(_("professional investor evidence"), blank=True)

    # Lifecycle and value
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=10, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    source_channel = models.CharField(
        _("source channel"), max_length=10, choices=SourceChannel.choices, default=SourceChannel.BRANCH
    )
    value_tier = models.CharField(_("value tier"), max_length=10, choices=ValueTier.choices, default="mass")
    # Kept current by the portfolio read model as data arrives; never recomputed on a page view.
    aum = models.DecimalField(_("AUM (CNY)"), max_digits=20, decimal_places=2, default=0)
    aum_updated_at = models.DateTimeField(_("AUM updated"), null=True, blank=True)

    # Coverage: these define the own and team scopes
    # Scope and list lookups go through the (…, aum, id) indexes below, so the foreign keys
    # need no index of their own (one less index to keep up to date on every write).
    org_unit = models.ForeignKey(
        "org.OrgUnit",
        verbose_name=_("home branch"),
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,
    )
    primary_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("primary account manager"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="primary_customers",
        db_index=False,
    )
    covering_team = models.ForeignKey(
        Team,
        verbose_name=_("covering team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,
    )

    # Corporate groups (集团): a parent/subsidiary tree of corporate customers
    parent_company = models.ForeignKey(
        "self",
        verbose_name=_("parent company"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subsidiaries",
        db_index=False,
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_from",
        editable=False,
        db_index=False,
    )
    restricted_until = models.DateField(_("restricted until"), null=True, blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        # (…, aum, id): scope narrowing and the list's default sort by AUM with keyset pagination
        # are served from the index alone.
        indexes = [
            models.Index(fields=["org_unit", "aum", "id"], name="customer_unit_aum"),
            models.Index(fields=["primary_manager", "aum", "id"], name="customer_manager_aum"),
            models.Index(fields=["covering_team", "aum", "id"], name="customer_team_aum"),
            models.Index(fields=["aum", "id"], name="customer_aum_id"),
            models.Index(fields=["lifecycle_stage", "aum", "id"], name="customer_stage_aum"),
            models.Index(fields=["value_tier", "aum", "id"], name="customer_tier_aum"),
            models.Index(fields=["created_at", "id"], name="customer_created"),
            # Sparse columns, indexed only where they hold a value: few customers have an e-mail
            # on file, a parent company or a merge behind them, and every insert and every update
            # that touches an indexed column would otherwise add a NULL entry to each of these.
            # ``col = value`` lookups (and the foreign-key checks of a delete) still use them.
            models.Index(
                fields=["email_bidx"], name="customer_email_bidx", condition=Q(email_bidx__isnull=False)
            ),
            models.Index(
                fields=["parent_company"],
                name="customer_parent_company",
                condition=Q(parent_company__isnull=False),
            ),
            models.Index(
                fields=["merged_into"], name="customer_merged_into", condition=Q(merged_into__isnull=False)
            ),
            # Every choice filter of the list (kind, stage, tier, AML, risk) and the status every
            # list excludes on: the list's capped count is an index-only scan of this small,
            # deduplicated index (0.5 ms) instead of a walk through the 1 KB rows (30-100 ms at
            # 1M customers). It replaced (status, kind, lifecycle_stage): no extra index to keep.
            models.Index(
                fields=[
                    "status",
                    "kind",
                    "lifecycle_stage",
                    "value_tier",
                    "aml_risk_rating",
                    "risk_tolerance",
                ],
                name="customer_choice_filters",
            ),
        ]
        # PostgreSQL: the ``_like`` twins Django makes for ``name`` and ``customer_number`` are
        # dropped by migration 0009 (no query reads them; every write pays for them).

    def __str__(self) -> str:
        return self.customer_number

    @classmethod
    def scope_condition(cls, scope: Scope, actor: Actor) -> Q:
        """Own: primary or secondary manager. Team: covered by one of the actor's teams. Branch and
        subtree: the home org unit. Each wider scope includes the narrower ones."""
        if actor.user_id is None:
            own = Q(pk__in=[])
        else:
            secondary = SecondaryManager.objects.filter(customer_id=OuterRef("pk"), user_id=actor.user_id)
            own = Q(primary_manager_id=actor.user_id) | Q(Exists(secondary))
        if scope == Scope.OWN:
            return own
        team = own | Q(covering_team_id__in=sorted(actor.team_ids))
        if scope == Scope.TEAM:
            return team
        if scope == Scope.BRANCH:
            return team | Q(org_unit_id=actor.org_unit_id)
        subtree = subtree_condition("org_unit_id", actor)
        return subtree if subtree is EVERYTHING else team | subtree

    @property
    def is_individual(self) -> bool:
        return self.kind == CustomerKind.INDIVIDUAL


class IdentityDocument(RowUidMixin, TimestampedModel):
    """A further identity document beside the customer's primary one."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identity_documents")
    id_type = models.CharField(_("ID type"), max_length=32, choices=IdType.choices)
    id_number = EncryptedTextField(_("ID number"))
    id_number_bidx = BlindIndexField(source="id_number", purpose="id_number")
    issuing_country = models.CharField(_("issuing country"), max_length=3, blank=True, default="CHN")
    expires_on = models.DateField(_("expiry date"), null=True, blank=True)

    class Meta:
        verbose_name = _("identity document")
        verbose_name_plural = _("identity documents")

    def __str__(self) -> str:
        return f"document {self.pk}"


class Household(TimestampedModel):
    name = models.CharField(_("household name"), max_length=200)
    org_unit = models.ForeignKey("org.OrgUnit", on_delete=models.PROTECT, related_name="households")

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")

    def __str__(self) -> str:
        return f"household {self.pk}"


class HouseholdMember(TimestampedModel):
    class Role(models.TextChoices):
        HEAD = "head", _("Head of household")
        MEMBER = "member", _("Member")

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="members")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="household_membership")
    role = models.CharField(_("role"), max_length=8, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        verbose_name = _("household member")
        verbose_name_plural = _("household members")

    def __str__(self) -> str:
        return f"{self.household_id}:{self.customer_id}"


class Relationship(TimestampedModel):
    """A directed link between two customers ("from" is the spouse / guarantor / shareholder … of "to")."""

    class Kind(models.TextChoices):
        SPOUSE = "spouse", _("Spouse")
        PARENT = "parent", _("Parent")
        CHILD = "child", _("Child")
        GUARANTOR = "guarantor", _("Guarantor")
        SHAREHOLDER = "shareholder", _("Shareholder")
        LEGAL_REPRESENTATIVE = "legal_representative", _("Legal representative")
        BENEFICIAL_OWNER = "beneficial_owner", _("Beneficial owner")
        CONTACT_PERSON = "contact_person", _("Contact person")

    from_customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="relationships_from")
    to_customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="relationships_to")
    kind = models.CharField(_("relationship"), max_length=24, choices=Kind.choices)
    starts_on = models.DateField(_("start date"), null=True, blank=True)
    ends_on = models.DateField(_("end date"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("relationship")
        verbose_name_plural = _("relationships")
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_customer=models.F("to_customer")), name="relationship_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_customer_id} {self.kind} {self.to_customer_id}"

"""Processing purposes, consents and data-subject requests (PIPL; DOMAIN.md "Consent and
personal-information rights")."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fincrm.platform.models import TimestampedModel


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent")
    CONTRACT = "contract", _("Contract with the customer")
    LEGAL_DUTY = "legal_duty", _("Legal duty")


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone call")
    APP_PUSH = "app_push", _("App push notification")


class ConsentSource(models.TextChoices):
    BRANCH = "branch", _("Signed at a branch")
    ONLINE = "online", _("Online banking")
    MOBILE_APP = "mobile_app", _("Mobile app")
    PHONE = "phone", _("Recorded phone call")
    PAPER = "paper", _("Paper form")
    IMPORT = "import", _("Imported from another system")


# The seeded purposes (migration 0002): their seeded Chinese name and the translatable label shown
# while an administrator has not renamed them.
STANDARD_PURPOSES: dict[str, tuple[str, Promise]] = {
    "kyc": ("客户身份识别", _("Customer due diligence (KYC)")),
    "aml_monitoring": ("反洗钱监测", _("Anti-money-laundering monitoring")),
    "record_keeping": ("交易及身份资料保存", _("Keeping identity and transaction records")),
    "account_service": ("账户及产品服务", _("Account and product service")),
    "marketing": ("营销信息推送", _("Marketing messages")),
    "marketing_profiling": ("营销用户画像", _("Profiling for marketing")),
    "group_sharing": ("集团内共享", _("Sharing within the financial group")),
    "third_party_sharing": ("向第三方提供", _("Sharing with third parties")),
}


class WithdrawalSource(models.TextChoices):
    BRANCH = "branch", _("Signed at a branch")
    ONLINE = "online", _("Online banking")
    MOBILE_APP = "mobile_app", _("Mobile app")
    PHONE = "phone", _("Recorded phone call")
    PAPER = "paper", _("Paper form")
    IMPORT = "import", _("Imported from another system")
    # Two records of one person were merged and both held this consent: the survivor's is kept.
    MERGED = "merged", _("Superseded when customers were merged")


class ProcessingPurpose(TimestampedModel):
    """Why personal information is processed, and on which legal basis (PIPL Art. 13)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    legal_basis = models.CharField(_("legal basis"), max_length=12, choices=LegalBasis.choices)
    # Marketing is consented per channel; other purposes have one consent without a channel.
    per_channel = models.BooleanField(_("consented per channel"), default=False)
    # PIPL Arts. 23, 29: sharing with another processor and sensitive information need a separate consent.
    separate_consent = models.BooleanField(_("needs a separate consent"), default=False)
    notice_version = models.CharField(_("current notice version"), max_length=40, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=100)

    class Meta:
        verbose_name = _("processing purpose")
        verbose_name_plural = _("processing purposes")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.code

    @property
    def display_name(self) -> str:
        standard = STANDARD_PURPOSES.get(self.code)
        if standard is not None and standard[0] == self.name:
            return str(standard[1])
        return self.name

    @property
    def needs_consent(self) -> bool:
        return self.legal_basis == LegalBasis.CONSENT


class Consent(TimestampedModel):
    """One consent of a customer to one purpose (and channel). Withdrawing keeps the row as evidence;
    consenting again adds a new row, so the history stays complete."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="consents", verbose_name=_("customer")
    )
    purpose = models.ForeignKey(
        ProcessingPurpose, on_delete=models.PROTECT, related_name="consents", verbose_name=_("purpose")
    )
    # Blank for purposes that are not consented per channel.
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, blank=True, default="")
    separate = models.BooleanField(_("separate consent"), default=False)
    source = models.CharField(_("source"), max_length=12, choices=ConsentSource.choices)
    notice_version = models.CharField(_("notice version"), max_length=40)
    # A reference to the evidence (form number, call recording id, app event id), not a copy of it.
    evidence = models.CharField(_("evidence reference"), max_length=200, blank=True)
    given_at = models.DateTimeField(_("given at"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawal_source = models.CharField(
        _("withdrawal source"), max_length=12, choices=WithdrawalSource.choices, blank=True
    )
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "purpose", "channel"],
                condition=Q(withdrawn_at__isnull=True),
                name="consent_one_current",
            ),
        ]
        indexes = [models.Index(fields=["customer", "purpose", "channel"], name="consent_lookup")]

    def __str__(self) -> str:
        return f"consent {self.pk}"

    @property
    def is_current(self) -> bool:
        return self.withdrawn_at is None


class SubjectRequest(TimestampedModel):
    """A data-subject request (PIPL Arts. 45-47): access/copy, correction or deletion."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access and copy")
        CORRECTION = "correction", _("Correction")
        DELETION = "deletion", _("Deletion")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        COMPLETED = "completed", _("Completed")
        REJECTED = "rejected", _("Rejected")

    class Outcome(models.TextChoices):
        NONE = "", _("None yet")
        EXPORTED = "exported", _("Copy provided")
        CORRECTED = "corrected", _("Corrected")
        RESTRICTED = "restricted", _("Restricted (retention duty applies)")
        ANONYMIZED = "anonymized", _("Anonymized")
        REJECTED = "rejected", _("Rejected")

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="subject_requests",
        verbose_name=_("customer"),
    )
    kind = models.CharField(_("request type"), max_length=12, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    received_at = models.DateTimeField(_("received at"))
    due_on = models.DateField(_("due on"))
    # What the customer asked for, in their words: may hold personal data (classified C2).
    details = models.TextField(_("details"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices, blank=True, default="")
    resolution = models.TextField(_("resolution"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("data-subject request")
        verbose_name_plural = _("data-subject requests")
        indexes = [models.Index(fields=["status", "due_on"], name="subject_request_due")]

    def __str__(self) -> str:
        return f"request {self.pk}"

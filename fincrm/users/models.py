"""Staff users, roles (permissions + a data scope), sign-in records, MFA, sessions, API tokens."""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from fincrm.org.models import OrgUnit, Team, subtree_condition
from fincrm.platform.actor import Actor, Scope
from fincrm.platform.models import TimestampedModel
from fincrm.platform.scoping import ScopedQuerySet
from fincrm.security.fields import EncryptedTextField, RowUidMixin

username_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]{1,63}$",
    _("Use 2 to 64 lower-case letters, digits, dots, hyphens or underscores; start with a letter or digit."),
)


class UserManager(BaseUserManager["User"]):
    def get_queryset(self) -> ScopedQuerySet:
        return ScopedQuerySet(self.model, using=self._db)

    def visible_to(self, actor: Actor, action: str) -> ScopedQuerySet:
        return self.get_queryset().visible_to(actor, action)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(username=username)


class User(AbstractBaseUser, TimestampedModel):
    username = models.CharField(_("username"), max_length=64, unique=True, validators=[username_validator])
    full_name = models.CharField(_("full name"), max_length=100)
    email = models.EmailField(_("e-mail"), blank=True)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("org unit"), on_delete=models.PROTECT, related_name="users"
    )
    teams: models.ManyToManyField[Team, TeamMembership] = models.ManyToManyField(
        Team, through="TeamMembership", related_name="members", blank=True
    )
    roles: models.ManyToManyField[Role, RoleAssignment] = models.ManyToManyField(
        "Role", through="RoleAssignment", through_fields=("user", "role"), related_name="users", blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Kept for compatibility with Django's auth; it grants no data access and no permission.
    is_superuser = models.BooleanField(default=False, editable=False)
    must_change_password = models.BooleanField(_("must change password at next sign-in"), default=False)
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True, editable=False)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["full_name"]

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return f"{self.full_name} ({self.username})"

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    @property
    def is_staff(self) -> bool:
        return False

    @classmethod
    def scope_condition(cls, scope: Scope, actor: Actor) -> Q:
        if scope == Scope.OWN:
            return Q(pk=actor.user_id)
        if scope == Scope.TEAM:
            memberships = TeamMembership.objects.filter(
                user_id=OuterRef("pk"), team_id__in=sorted(actor.team_ids)
            )
            return Q(pk=actor.user_id) | Q(Exists(memberships))
        if scope == Scope.BRANCH:
            return Q(org_unit_id=actor.org_unit_id)
        return subtree_condition("org_unit_id", actor)


class TeamMembership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="team_memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="team_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in team {self.team_id}"


class Role(TimestampedModel):
    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    scope = models.CharField(_("data scope"), max_length=20, choices=[(s.value, s.value) for s in Scope])
    is_builtin = models.BooleanField(default=False, editable=False)
    # A role requires MFA when flagged here or when it holds a privileged permission.
    mfa_required = models.BooleanField(_("requires MFA"), default=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.name


class RolePermission(models.Model):
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="permission_rows")
    permission = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "permission"], name="role_permission_unique")]

    def __str__(self) -> str:
        return f"{self.role_id}: {self.permission}"


class RoleAssignment(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="assignments")
    granted_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="role_assignment_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} holds role {self.role_id}"


class AccessChangeRequest(TimestampedModel):
    """A change that adds reach to customer data, held until a second administrator approves it."""

    class Kind(models.TextChoices):
        ROLE_GRANT = "role_grant", _("Add permissions or widen the scope of a role")
        ASSIGNMENT = "assignment", _("Assign a role to a user")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    kind = models.CharField(max_length=20, choices=Kind.choices)
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="change_requests")
    target_user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    add_permissions = models.JSONField(default=list, blank=True)
    new_scope = models.CharField(max_length=20, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]


class LoginAttempt(models.Model):
    """Every sign-in attempt: drives account lockout, per-address slow-down and new-address alerts."""

    username = models.CharField(max_length=150)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="login_attempts"
    )
    client_ip = models.GenericIPAddressField()
    succeeded = models.BooleanField()
    attempted_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["client_ip", "attempted_at"], name="login_attempt_ip_time"),
            models.Index(fields=["user", "attempted_at"], name="login_attempt_user_time"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.client_ip} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class UserSession(models.Model):
    """A signed-in browser session, so a user can see and end their sessions and an
    administrator's change can end them all at once."""

    session_key = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="browser_sessions")
    client_ip = models.GenericIPAddressField()
    user_agent = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_activity_at"]

    def __str__(self) -> str:
        return f"session of {self.user_id} from {self.client_ip}"


class MfaDevice(RowUidMixin, TimestampedModel):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="mfa_device")
    # Base32 TOTP secret, stored AES-256-GCM encrypted (fincrm.security.fields).
    secret = EncryptedTextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last accepted 30-second step: a code is never accepted twice.
    last_used_step = models.BigIntegerField(default=0)


class RecoveryCode(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class ApiToken(models.Model):
    """A bearer token for another system: shown once, stored as a SHA-256 digest."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

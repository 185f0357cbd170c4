"""fincrm demo-data and fincrm bootstrap, on an empty institution."""

from __future__ import annotations

from io import StringIO

import pyotp
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer
from fincrm.integration import demo
from fincrm.org.models import OrgUnit, Team
from fincrm.users.models import MfaDevice, Role, User
from fincrm.users.roles import BUILTIN_ROLES
from fincrm.users.services.mfa import user_requires_mfa

pytestmark = pytest.mark.django_db


@pytest.fixture
def empty_institution(world: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the test world (inside the test's transaction) so the tree can be created anew.

    The book of business is loaded small here; tests/integration/test_demo_book.py checks its content."""
    monkeypatch.setattr(demo, "INDIVIDUALS", 60)
    monkeypatch.setattr(demo, "CORPORATES", 6)
    monkeypatch.setattr(demo, "HOUSEHOLDS", 3)
    Customer.objects.all().delete()
    User.objects.all().delete()
    Team.objects.all().delete()
    for unit in OrgUnit.objects.order_by("-depth"):
        unit.delete()


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@override_settings(DEBUG=True)
def test_demo_institution_covers_every_role(empty_institution: None) -> None:
    output = run("demo-data")
    assert OrgUnit.objects.filter(kind=OrgUnit.Kind.INSTITUTION).count() == 1
    assert OrgUnit.objects.filter(kind=OrgUnit.Kind.BRANCH).count() == 3
    assert OrgUnit.objects.filter(kind=OrgUnit.Kind.SUB_BRANCH).count() == 6
    assert Team.objects.count() == 6
    assert User.objects.count() == 31
    for spec in BUILTIN_ROLES:
        assert Role.objects.get(code=spec.code).assignments.exists(), spec.code
    # Every user whose role requires MFA is enrolled, and the printed secret is the one that works.
    for user in User.objects.all():
        device = MfaDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
        assert (device is not None) == user_requires_mfa(user_id=user.pk), user.username
        if device is not None:
            assert device.secret in output
            assert len(pyotp.TOTP(device.secret).now()) == 6
    assert "Fincrm-Demo-2026" in output
    assert "am_bjhd1" in output
    admin = User.objects.get(username="admin")
    assert admin.check_password("Fincrm-Demo-2026")
    assert not admin.must_change_password
    # Written through the services: audited as the command line.
    assert AuditEvent.objects.filter(action="user.created", actor_label__startswith="cli:").count() == 31


@override_settings(DEBUG=True)
def test_demo_data_runs_twice_without_harm(empty_institution: None) -> None:
    run("demo-data")
    output = run("demo-data")
    assert "already loaded" in output
    assert User.objects.count() == 31


@override_settings(DEBUG=False)
def test_demo_data_refuses_without_debug_unless_forced(empty_institution: None) -> None:
    with pytest.raises(CommandError, match="DEBUG"):
        run("demo-data")
    assert not User.objects.exists()
    run("demo-data", "--force")
    assert User.objects.count() == 31


def test_bootstrap_creates_the_institution_and_two_administrators(empty_institution: None) -> None:
    output = run(
        "bootstrap",
        "--institution-code",
        "XB",
        "--institution-name",
        "示范银行",
        "--admin",
        "wangjg:王建国",
        "--admin",
        "lixy:李秀英",
    )
    assert OrgUnit.objects.get(kind=OrgUnit.Kind.INSTITUTION).code == "XB"
    admins = User.objects.filter(role_assignments__role__code="system_admin")
    assert sorted(admins.values_list("username", flat=True)) == ["lixy", "wangjg"]
    for admin in admins:
        assert admin.must_change_password
        line = next(line for line in output.splitlines() if line.strip().startswith(f"{admin.username}:"))
        assert admin.check_password(line.split(":", 1)[1].strip())


def test_bootstrap_needs_two_administrators(empty_institution: None) -> None:
    with pytest.raises(CommandError, match="two"):
        run("bootstrap", "--institution-code", "XB", "--institution-name", "示范银行", "--admin", "solo:一人")
    assert not OrgUnit.objects.exists()

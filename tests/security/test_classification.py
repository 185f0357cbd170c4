"""JR/T 0171 classification: every personal-data field of the project is declared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps

from fincrm.security import classification
from fincrm.security.classification import (
    C1,
    C2,
    C3,
    PERSONAL_DATA,
    Classification,
    ClassificationError,
    check_personal_data,
    classification_of,
    classify,
    data_level,
    looks_personal,
    mask_value,
    misdeclared_encryption,
    not_personal,
    stale_declarations,
    unclassified_personal_fields,
)


@pytest.fixture
def registry() -> Iterator[None]:
    """Declarations a test makes are forgotten after it."""
    personal, exempt = dict(classification.PERSONAL_DATA), dict(classification.NOT_PERSONAL)
    yield
    classification.PERSONAL_DATA.clear()
    classification.PERSONAL_DATA.update(personal)
    classification.NOT_PERSONAL.clear()
    classification.NOT_PERSONAL.update(exempt)


# Stand-ins for fincrm.security.fields (the checker recognises the field classes of that package).
class EncryptedTextField(models.TextField):
    pass


class BlindIndexField(models.CharField):
    pass


EncryptedTextField.__module__ = BlindIndexField.__module__ = "fincrm.security.fields"


# ---------------------------------------------------------------- the project's models


def test_every_personal_field_of_the_project_is_classified() -> None:
    assert unclassified_personal_fields() == []


def test_no_declaration_names_a_missing_field() -> None:
    assert stale_declarations() == []


def test_declared_encryption_matches_the_fields() -> None:
    assert misdeclared_encryption() == []


def test_system_check_is_clean() -> None:
    assert check_personal_data() == []


def _summary(model: str, field: str) -> tuple[str, str | None, int] | None:
    found = classification_of(model, field)
    return None if found is None else (found.data_class, found.mask, found.level)


def test_staff_fields_are_classified() -> None:
    assert _summary("users.User", "full_name") == ("C2", "name", 3)
    assert _summary("users.User", "email") == ("C2", "email", 3)
    assert _summary("users.User", "password") == ("C3", "full", 4)
    assert _summary("users.MfaDevice", "secret") == ("C3", "full", 4)
    assert _summary("users.LoginAttempt", "client_ip") == ("C1", None, 2)
    assert _summary("users.UserSession", "client_ip") == ("C1", None, 2)
    assert _summary("users.Role", "name") is None


def test_displayed_values_follow_the_declared_mask() -> None:
    assert mask_value("users.User", "full_name", "欧阳娜娜") == "欧阳**"
    assert mask_value("users.User", "email", "li.si@bank.cn") == "l***@bank.cn"
    assert mask_value("users.User", "password", "argon2$...") == "****"
    assert mask_value("users.LoginAttempt", "client_ip", "10.0.0.1") == "10.0.0.1"
    assert mask_value("users.Role", "name", "Account manager") == "Account manager"
    assert mask_value("users.User", "full_name", None) == ""


# ---------------------------------------------------------------- the checker on a model of its own


@isolate_apps("fincrm.security")
def test_checker_reports_an_unclassified_field(registry: None) -> None:
    class FakeCustomer(models.Model):
        full_name = models.CharField(max_length=50)
        email = models.EmailField()
        id_number = EncryptedTextField()
        id_number_index = BlindIndexField(max_length=64)
        notes = EncryptedTextField()
        is_vip = models.BooleanField(default=False)
        product_code = models.CharField(max_length=10)
        home_address = models.CharField(max_length=200)

        class Meta:
            app_label = "security"

        def __str__(self) -> str:
            return self.product_code

    fake = [FakeCustomer]
    assert unclassified_personal_fields(fake) == [
        "security.FakeCustomer.email",
        "security.FakeCustomer.full_name",
        "security.FakeCustomer.home_address",
        "security.FakeCustomer.id_number",
        "security.FakeCustomer.notes",
    ]

    classify("security.FakeCustomer.full_name", C2, "name")
    classify("security.FakeCustomer.email", C2, "email")
    classify("security.FakeCustomer.id_number", C2, "id_number", encrypted=True)
    classify("security.FakeCustomer.notes", C2, "full")  # declared clear, stored encrypted
    not_personal("security.FakeCustomer.home_address", reason="the branch's address, not a person's")
    assert unclassified_personal_fields(fake) == []
    assert misdeclared_encryption(fake) == ["security.FakeCustomer.notes"]


@pytest.mark.parametrize(
    "name",
    [
        "name",
        "full_name",
        "surname",
        "customer_name",
        "mobile",
        "mobile_phone",
        "telephone",
        "email",
        "e_mail",
        "id_number",
        "id_no",
        "passport_no",
        "home_address",
        "post_code",
        "card_number",
        "card_no",
        "account_no",
        "account",
        "birth_date",
        "date_of_birth",
        "dob",
        "gender",
        "annual_income",
        "salary",
        "total_assets",
        "aum",
        "balance",
        "password",
        "pin",
        "cvv2",
        "totp_secret",
        "client_ip",
        "ip_address",
        "user_agent",
        "occupation",
    ],
)
def test_personal_looking_names(name: str) -> None:
    assert looks_personal(models.CharField(name=name))


@pytest.mark.parametrize(
    "name",
    ["product_code", "status", "role_name", "discard_reason", "username", "scope", "pinyin", "description"],
)
def test_other_names_do_not_look_personal(name: str) -> None:
    assert not looks_personal(models.CharField(name=name))


def test_relations_and_flags_do_not_look_personal() -> None:
    assert not looks_personal(models.BooleanField(name="must_change_password"))
    assert not looks_personal(models.ForeignKey("users.User", on_delete=models.CASCADE, name="account"))


# ---------------------------------------------------------------- declaring


def test_a_declaration_is_checked(registry: None) -> None:
    with pytest.raises(ClassificationError, match="must name a mask"):
        classify("users.User.full_name_x", C2)
    with pytest.raises(ClassificationError, match="fully masked"):
        classify("users.User.pin_x", C3, "card")
    with pytest.raises(ClassificationError, match="unknown mask"):
        classify("users.User.iban_x", C2, "iban")
    with pytest.raises(ClassificationError, match="unknown class"):
        classify("users.User.x", "C4", "full")
    with pytest.raises(ClassificationError, match=r"app_label\.Model\.field"):
        classify("User.full_name", C2, "name")
    with pytest.raises(ClassificationError, match="twice"):
        classify("users.User.full_name", C2, "full")
    with pytest.raises(ClassificationError, match="say why"):
        not_personal("users.Role.description", reason=" ")
    with pytest.raises(ClassificationError, match="not personal"):
        classify("users.Role.name", C2, "name")
    with pytest.raises(ClassificationError, match="is classified"):
        not_personal("users.User.email", reason="it is not")


def test_declaring_the_same_classification_again_is_harmless(registry: None) -> None:
    existing = PERSONAL_DATA["users.User.email"]
    assert classify("users.User.email", existing.data_class, existing.mask, note=existing.note) == existing


def test_a_stale_declaration_is_reported(registry: None) -> None:
    classify("users.User.shoe_size", C1)
    classify("nosuchapp.Thing.name", C2, "name")
    assert stale_declarations() == ["nosuchapp.Thing.name", "users.User.shoe_size"]


# ---------------------------------------------------------------- JR/T 0197 levels


def test_default_levels() -> None:
    assert (data_level(C3), data_level(C2), data_level(C1)) == (4, 3, 2)
    assert Classification(C2, "name").level == 3


@override_settings(FINCRM_DATA_LEVELS={"C2": 4, "C3": 5})
def test_levels_are_a_setting() -> None:
    assert (data_level("C3"), data_level("C2"), data_level("C1")) == (5, 4, 2)


@pytest.mark.parametrize("levels", [{"C1": 5}, {"C4": 1}, {"C2": 0}, {"C3": 6}, {"C3": "4"}, ["C1"]])
def test_malformed_levels_are_refused(levels: object) -> None:
    with override_settings(FINCRM_DATA_LEVELS=levels), pytest.raises(ImproperlyConfigured):
        data_level(C2)

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from fincrm.customers.models import Customer
from fincrm.security import fields, services
from fincrm.security.keyring import keyring
from tests.security.models import Secretive


@pytest.fixture(scope="session")
def secretive_table(django_db_setup: Any, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        if Secretive._meta.db_table not in connection.introspection.table_names():
            with connection.schema_editor() as editor:
                editor.create_model(Secretive)


@pytest.fixture(autouse=True)
def fresh_keyring() -> Iterator[None]:
    keyring.reset()
    yield
    keyring.reset()


@pytest.fixture
def secretive(secretive_table: None, db: None, monkeypatch: pytest.MonkeyPatch) -> type[Secretive]:
    """The test model, also seen by key rotation and status (it is not an installed app).

    The world's customers are removed (inside the test's transaction) so counts are the model's own."""
    Customer.objects.all().delete()
    real = fields.encrypted_columns

    def with_test_model() -> list[Any]:
        extra = [
            (Secretive, field)
            for field in Secretive._meta.local_concrete_fields
            if isinstance(field, fields.EncryptedTextField)
        ]
        return [*real(), *extra]

    real_index = fields.blind_index_columns

    def with_test_indexes() -> list[Any]:
        extra = [
            (Secretive, field)
            for field in Secretive._meta.local_concrete_fields
            if isinstance(field, fields.BlindIndexField)
        ]
        return [*real_index(), *extra]

    monkeypatch.setattr(services, "encrypted_columns", with_test_model)
    monkeypatch.setattr(services, "blind_index_columns", with_test_indexes)
    return Secretive

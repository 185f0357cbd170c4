from __future__ import annotations

import base64
import pickle
import uuid

import pytest
from django.core.exceptions import FieldError
from django.db import connection, transaction
from django.db.models import Value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fincrm.portfolio.models import Transaction
from fincrm.security.fields import (
    Ciphertext,
    EncryptedFieldError,
    RowUidField,
    associated_data,
    blind_index,
    normalize_digits,
    normalize_email,
    normalize_id_number,
    normalize_mobile,
)
from fincrm.security.keyring import DecryptionError, Token, keyring
from tests.security.models import Secretive

pytestmark = pytest.mark.django_db

ID_NUMBER = "11010519491231002X"
MOBILE = "13800138000"


def raw_row(pk: int) -> dict[str, str | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id_number, mobile, id_number_bidx, mobile_bidx "
            "FROM security_tests_secretive WHERE id = %s",
            [pk],
        )
        row = cursor.fetchone()
    return dict(zip(["id_number", "mobile", "id_number_bidx", "mobile_bidx"], row, strict=True))


def test_round_trip_and_the_database_holds_only_ciphertext(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number=ID_NUMBER, mobile=MOBILE)
    stored = raw_row(record.pk)
    assert ID_NUMBER not in str(stored)
    assert MOBILE not in str(stored)
    assert stored["id_number"].startswith("v1:k1:")
    token = Token.parse(stored["id_number"])
    assert len(token.nonce) == 12
    loaded = Secretive.objects.get(pk=record.pk)
    assert loaded.id_number == ID_NUMBER
    assert loaded.mobile == MOBILE


def test_empty_and_null_values(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number="", mobile=None)
    loaded = Secretive.objects.get(pk=record.pk)
    assert loaded.id_number == ""
    assert loaded.mobile is None
    assert raw_row(record.pk)["mobile"] is None
    assert raw_row(record.pk)["id_number"].startswith("v1:")
    assert loaded.id_number_bidx is None


def test_every_encryption_has_its_own_nonce(secretive: type[Secretive]) -> None:
    records = Secretive.objects.bulk_create([Secretive(id_number=ID_NUMBER) for _ in range(200)])
    tokens = [raw_row(record.pk)["id_number"] for record in records]
    nonces = {Token.parse(token).nonce for token in tokens}
    assert len(nonces) == 200
    assert len(set(tokens)) == 200
    assert {record.id_number for record in Secretive.objects.all()} == {ID_NUMBER}


def test_saving_untouched_value_keeps_its_ciphertext(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number=ID_NUMBER)
    before = raw_row(record.pk)["id_number"]
    loaded = Secretive.objects.get(pk=record.pk)
    loaded.note = "changed"
    loaded.save()
    assert raw_row(record.pk)["id_number"] == before
    loaded.id_number = "110105194912310021"
    loaded.save(update_fields=["id_number"])
    after = raw_row(record.pk)
    assert after["id_number"] != before
    assert after["id_number_bidx"] == blind_index("110105194912310021", "id_number")
    assert Secretive.objects.get(pk=record.pk).id_number == "110105194912310021"


def test_ciphertext_copied_to_another_row_does_not_decrypt(secretive: type[Secretive]) -> None:
    first = Secretive.objects.create(id_number=ID_NUMBER)
    second = Secretive.objects.create(id_number="110105194912310021")
    stolen = raw_row(first.pk)["id_number"]
    Secretive.objects.filter(pk=second.pk).update(id_number=Ciphertext(stolen))
    victim = Secretive.objects.get(pk=second.pk)
    with pytest.raises(DecryptionError, match="copied from another row or column"):
        _ = victim.id_number


def test_ciphertext_copied_to_another_column_does_not_decrypt(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number=ID_NUMBER, mobile=MOBILE)
    stolen = raw_row(record.pk)["id_number"]
    Secretive.objects.filter(pk=record.pk).update(mobile=Ciphertext(stolen))
    loaded = Secretive.objects.get(pk=record.pk)
    assert loaded.id_number == ID_NUMBER
    with pytest.raises(DecryptionError, match="copied from another row or column"):
        _ = loaded.mobile


def test_altered_or_garbage_values_fail_clearly(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number=ID_NUMBER)
    token = raw_row(record.pk)["id_number"]
    prefix, body = token.rsplit(":", 1)
    altered = bytearray(base64.b64decode(body))
    altered[0] ^= 1
    flipped = f"{prefix}:{base64.b64encode(bytes(altered)).decode()}"
    Secretive.objects.filter(pk=record.pk).update(id_number=Ciphertext(flipped))
    with pytest.raises(DecryptionError):
        _ = Secretive.objects.get(pk=record.pk).id_number
    Secretive.objects.filter(pk=record.pk).update(
        id_number=Value("plain", output_field=Secretive._meta.get_field("note"))
    )
    with pytest.raises(DecryptionError, match="not an fincrm encrypted value"):
        _ = Secretive.objects.get(pk=record.pk).id_number
    Secretive.objects.filter(pk=record.pk).update(id_number=Ciphertext("v1:k99:" + token.split(":", 2)[2]))
    with pytest.raises(DecryptionError, match="k99 does not exist"):
        _ = Secretive.objects.get(pk=record.pk).id_number


def test_clear_values_never_reach_a_query(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number=ID_NUMBER)
    with pytest.raises(EncryptedFieldError, match="is encrypted"), transaction.atomic():
        Secretive.objects.filter(pk=record.pk).update(id_number="110105194912310021")
    with pytest.raises(EncryptedFieldError), transaction.atomic():
        list(Secretive.objects.filter(id_number=ID_NUMBER))
    with pytest.raises(FieldError, match="Unsupported lookup 'contains'"):
        list(Secretive.objects.filter(id_number__contains="1101"))
    record.id_number = "x"
    with pytest.raises(EncryptedFieldError), transaction.atomic():
        Secretive.objects.bulk_update([record], ["id_number"])
    assert Secretive.objects.get(pk=record.pk).id_number == ID_NUMBER


def test_row_uid_never_changes(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number=ID_NUMBER)
    with pytest.raises(ValueError, match="row_uid never changes"):
        record.row_uid = uuid.uuid4()
    loaded = Secretive.objects.get(pk=record.pk)
    loaded.row_uid = str(record.row_uid)  # the same id, as text: fine
    assert loaded.id_number == ID_NUMBER


def test_pickled_values_carry_no_clear_text(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number=ID_NUMBER)
    loaded = Secretive.objects.get(pk=record.pk)
    assert loaded.id_number == ID_NUMBER
    sealed = loaded.__dict__["id_number"]
    assert sealed.plaintext == ID_NUMBER
    dumped = pickle.dumps(sealed)
    assert ID_NUMBER.encode() not in dumped
    restored = pickle.loads(dumped)  # noqa: S301 - our own bytes
    assert restored == sealed
    assert restored.plaintext is None


def test_deferred_field_loads_and_decrypts(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number=ID_NUMBER, mobile=MOBILE)
    loaded = Secretive.objects.defer("mobile").get(pk=record.pk)
    assert loaded.mobile == MOBILE


def test_blind_index_lookup_is_exact_and_normalized(secretive: type[Secretive]) -> None:
    record = Secretive.objects.create(id_number=ID_NUMBER, mobile=MOBILE)
    Secretive.objects.create(id_number="110105194912310021", mobile="13900139000")
    found = Secretive.objects.filter(id_number_bidx=blind_index(" 11010519491231002x ", "id_number"))
    assert [row.pk for row in found] == [record.pk]
    by_mobile = Secretive.objects.filter(mobile_bidx=blind_index("+86 138-0013-8000", "mobile"))
    assert [row.pk for row in by_mobile] == [record.pk]
    assert not Secretive.objects.filter(mobile_bidx=blind_index("13800138001", "mobile")).exists()
    stored = raw_row(record.pk)["mobile_bidx"]
    assert stored.startswith("i1:")
    assert len(stored) == 3 + 64
    # Purposes are separated: the same text indexes differently for another purpose.
    assert blind_index("13800138000", "account_number") != blind_index("13800138000", "card_number")


def test_mobile_normalization_examples() -> None:
    for text in ["13800138000", "138 0013 8000", "+86 138-0013-8000", "008613800138000", "8613800138000"]:
        assert normalize_mobile(text) == "+8613800138000"
    assert normalize_mobile("+44 20 7946 0958") == "+442079460958"
    assert (
        normalize_id_number("\uff11\uff11\uff10\uff11\uff10\uff15 194912310\uff10\uff12\uff58") == ID_NUMBER
    )
    assert normalize_email(" Zhang.San@Example.COM ") == "zhang.san@example.com"
    assert normalize_digits("6222 0200-1234 5678") == "6222020012345678"


@given(st.text())
def test_normalizers_are_idempotent(text: str) -> None:
    for normalize in (normalize_id_number, normalize_digits, normalize_email, normalize_mobile):
        once = normalize(text)
        assert normalize(once) == once


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", " ", "-"]), st.booleans())
def test_mainland_mobile_formats_agree(digits: str, separator: str, prefixed: bool) -> None:
    formatted = separator.join([digits[:3], digits[3:7], digits[7:]])
    if prefixed:
        formatted = "+86" + separator + formatted
    assert normalize_mobile(formatted) == "+86" + digits


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60, deadline=None)
@given(text=st.text(), row_uid=st.uuids())
def test_encrypt_decrypt_round_trip_over_any_text(
    secretive: type[Secretive], text: str, row_uid: uuid.UUID
) -> None:
    field = Secretive._meta.get_field("id_number")
    token = field.encrypt_for(row_uid, text)
    assert field.decrypt_for(row_uid, token) == text
    other = Secretive._meta.get_field("mobile")
    with pytest.raises(DecryptionError):
        other.decrypt_for(row_uid, token)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40, deadline=None)
@given(text=st.text(alphabet="0123456789Xx -", min_size=1).filter(lambda value: normalize_id_number(value)))
def test_blind_index_depends_only_on_the_normalized_value(secretive: type[Secretive], text: str) -> None:
    assert blind_index(text, "id_number") == blind_index(normalize_id_number(text).lower(), "id_number")


def test_associated_data_names_table_column_and_row() -> None:
    row = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert associated_data("t", "c", row) == b"fincrm:v1:t:c:12345678-1234-5678-1234-567812345678"
    assert keyring is not None


def test_a_row_uid_without_unique_index_stays_so_through_migrations():
    """Migrations rebuild fields from ``deconstruct()``; ``unique=False`` must survive the trip."""
    for unique in (True, False):
        _name, _path, args, kwargs = RowUidField(unique=unique).deconstruct()
        assert RowUidField(*args, **kwargs).unique is unique
    assert Transaction._meta.get_field("row_uid").unique is False

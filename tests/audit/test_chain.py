"""The hash chain: canonical JSON, when buffered events are chained and written, bulk recording."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.db import transaction as django_transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from fincrm.audit import services as audit_services
from fincrm.audit.chain import GENESIS_HASH, canonical_bytes, event_hash, fields_of, jsonable
from fincrm.audit.models import AuditChainHead, AuditEvent
from fincrm.audit.services import audit_record, audit_record_many, audit_record_stream
from fincrm.platform import context, transaction
from fincrm.platform.actor import Actor

ACTOR = Actor.system("test")

json_scalars = st.none() | st.booleans() | st.integers() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_canonical_bytes_do_not_depend_on_key_order(value: dict[str, Any]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical_bytes(reordered) == canonical_bytes(value)


@given(json_values)
def test_canonical_bytes_round_trip(value: Any) -> None:
    encoded = canonical_bytes(value)
    assert json.loads(encoded.decode("utf-8")) == value
    assert canonical_bytes(json.loads(encoded)) == encoded  # what the database hands back hashes the same


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6), st.data())
def test_distinct_values_for_the_same_keys_give_distinct_bytes(value: dict[str, Any], data: Any) -> None:
    other = {key: data.draw(json_values) for key in value}
    assert (canonical_bytes(value) == canonical_bytes(other)) == same(value, other)


def same(left: Any, right: Any) -> bool:
    """Equal as JSON: same types all the way down (Python's 1 == True is not JSON's)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


def test_true_and_one_are_distinct() -> None:
    assert canonical_bytes({"a": 1}) != canonical_bytes({"a": True})
    assert jsonable({"a": True}) == {"a": True}


def test_canonical_form_is_compact_sorted_utf8_with_utc_microseconds() -> None:
    shanghai = datetime.timezone(datetime.timedelta(hours=8))
    value = {
        "b": decimal.Decimal("12.50"),
        "a": datetime.datetime(2026, 1, 2, 8, 0, 0, tzinfo=shanghai),
        "名": "张三",
        "u": uuid.UUID(int=1),
        "d": datetime.date(2026, 1, 2),
        "f": 0.1,
        "s": {2},
    }
    assert (
        canonical_bytes(value)
        == (
            '{"a":"2026-01-02T00:00:00.000000Z","b":"12.50","d":"2026-01-02","f":"0.1",'
            '"s":[2],"u":"00000000-0000-0000-0000-000000000001","名":"张三"}'
        ).encode()
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical_bytes({"at": datetime.datetime(2026, 1, 1)})  # noqa: DTZ001 - the point


@pytest.mark.django_db
def test_events_form_a_chain_with_gap_free_sequences() -> None:
    with context.bound(context.RequestContext("req-1", "10.0.0.7", "Firefox")):
        first = audit_record(
            ACTOR, "user.updated", object_type="user", object_id="7", before={"a": 1}, after={"a": 2}
        )
    second = audit_record(ACTOR, "user.updated", object_type="user", object_id="8", reason="typo")
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [(event.sequence, event.pk) for event in events] == [(1, first.pk), (2, second.pk)]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    assert events[0].hash == event_hash(fields_of(events[0]), sequence=1, prev_hash=GENESIS_HASH)
    assert (events[0].client_ip, events[0].user_agent, events[0].request_id) == (
        "10.0.0.7",
        "Firefox",
        "req-1",
    )
    assert AuditChainHead.objects.values_list("sequence", "hash").get() == (2, events[1].hash)


@pytest.mark.django_db
def test_inside_a_fincrm_block_events_wait_for_the_commit_and_go_in_one_insert() -> None:
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        audit_record(ACTOR, "user.updated", object_id="1")
        audit_record(ACTOR, "user.updated", object_id="2")
        assert not AuditEvent.objects.exists()  # buffered: no chain lock held yet
    inserts = [
        query["sql"] for query in queries.captured_queries if 'INSERT INTO "audit_auditevent"' in query["sql"]
    ]
    assert len(inserts) == 1
    assert list(AuditEvent.objects.order_by("sequence").values_list("object_id", flat=True)) == ["1", "2"]


@pytest.mark.django_db
def test_nested_blocks_flush_once_at_the_outermost() -> None:
    @transaction.atomic
    def inner(number: int) -> None:
        audit_record(ACTOR, "user.updated", object_id=str(number))

    with transaction.atomic():
        inner(1)
        inner(2)
        assert not AuditEvent.objects.exists()
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_rolled_back_block_leaves_no_event() -> None:
    def refused() -> None:
        with transaction.atomic():
            audit_record(ACTOR, "user.updated", object_id="gone")
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        refused()
    assert not AuditEvent.objects.exists()
    audit_record(ACTOR, "user.updated", object_id="next")
    assert list(AuditEvent.objects.values_list("sequence", "object_id")) == [(1, "next")]


@pytest.mark.parametrize(
    "inner_atomic", [transaction.atomic, django_transaction.atomic], ids=["fincrm", "django"]
)
@pytest.mark.django_db
def test_events_of_a_rolled_back_savepoint_are_dropped(inner_atomic: Any) -> None:
    with transaction.atomic():
        audit_record(ACTOR, "user.updated", object_id="kept")
        try:
            with inner_atomic():
                audit_record(ACTOR, "user.updated", object_id="undone")
                raise IntegrityError("duplicate")
        except IntegrityError:
            pass
        audit_record(ACTOR, "user.updated", object_id="after")
    assert list(AuditEvent.objects.order_by("sequence").values_list("object_id", flat=True)) == [
        "kept",
        "after",
    ]
    assert not connection.run_on_commit or all(
        type(func).__name__ != "_Pending" for _sids, func, _robust in connection.run_on_commit
    )


@pytest.mark.django_db
def test_inside_a_plain_django_block_the_event_is_written_at_once() -> None:
    with django_transaction.atomic():
        audit_record(ACTOR, "user.updated", object_id="1")
        assert AuditEvent.objects.filter(object_id="1", sequence=1).exists()

    def refused() -> None:
        with django_transaction.atomic():
            audit_record(ACTOR, "user.updated", object_id="2")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        refused()
    assert list(AuditEvent.objects.values_list("object_id", flat=True)) == ["1"]


@pytest.mark.django_db
def test_a_failing_pre_commit_callback_rolls_the_block_back() -> None:
    def refuse(using: str, storage: dict[str, Any]) -> None:
        raise RuntimeError("refused at commit")

    @transaction.atomic
    def write() -> None:
        audit_record(ACTOR, "user.updated", object_id="1")
        AuditChainHead.objects.update_or_create(pk=1, defaults={"sequence": 99, "hash": "x"})

    transaction.register_pre_commit(refuse)
    try:
        with pytest.raises(RuntimeError, match="refused at commit"):
            write()
    finally:
        transaction._callbacks.remove(refuse)
    assert not AuditEvent.objects.exists()
    assert not AuditChainHead.objects.filter(sequence=99).exists()


@pytest.mark.django_db
def test_record_many_writes_every_row_in_one_insert() -> None:
    audit_record(ACTOR, "user.updated", object_id="before")
    rows = [
        {"object_type": "user", "object_id": str(number), "after": {"n": number}} for number in range(300)
    ]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        assert audit_record_many(ACTOR, "user.updated", rows) == 300
    inserts = [q for q in queries.captured_queries if 'INSERT INTO "audit_auditevent"' in q["sql"]]
    if connection.vendor == "postgresql":
        assert len(inserts) == 1
    assert AuditEvent.objects.count() == 301
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(1, 302)
    )
    assert AuditEvent.objects.get(sequence=301).after == {"n": 299}


@pytest.mark.django_db
def test_a_stream_is_read_at_commit_in_order_and_inserted_in_bounded_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_services, "INSERT_BYTES", 2_000)  # a few events per INSERT
    reads: list[int] = []

    def rows() -> Any:
        reads.append(AuditEvent.objects.count())  # what was written when the stream was read
        for number in range(40):
            yield {"object_type": "user", "object_id": str(number), "after": {"n": number, "pad": "x" * 100}}

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        audit_record(ACTOR, "user.updated", object_id="first")
        audit_record_stream(ACTOR, "user.updated", rows)
        audit_record(ACTOR, "user.updated", object_id="last")
        assert reads == []  # nothing read before the commit
    assert reads == [0]  # read once, at commit
    inserts = [q for q in queries.captured_queries if 'INSERT INTO "audit_auditevent"' in q["sql"]]
    assert len(inserts) > 2
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [event.object_id for event in events] == ["first", *map(str, range(40)), "last"]
    previous = GENESIS_HASH
    for sequence, event in enumerate(events, start=1):
        assert (event.sequence, event.prev_hash) == (sequence, previous)
        assert event.hash == event_hash(fields_of(event), sequence=sequence, prev_hash=previous)
        previous = event.hash
    assert AuditChainHead.objects.values_list("sequence", "hash").get() == (42, previous)


@pytest.mark.django_db
def test_a_large_event_goes_in_an_insert_of_its_own_in_sequence_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large events (an import's groups of records) are inserted one per statement, between the
    batches of the small events around them; the chain is the same as ever."""
    monkeypatch.setattr(audit_services, "LARGE_EVENT_BYTES", 1_000)
    sizes = [1, 1, 2_000, 1, 2_000, 2_000, 1, 1]

    def rows() -> Any:
        for number, size in enumerate(sizes):
            yield {"object_type": "user", "object_id": str(number), "after": {"pad": "x" * size}}

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        audit_record_stream(ACTOR, "user.updated", rows)
    inserts = [q for q in queries.captured_queries if 'INSERT INTO "audit_auditevent"' in q["sql"]]
    assert len(inserts) == 6  # small pair, large, small, large, large, small pair
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [(event.object_id, len(event.after["pad"])) for event in events] == [
        (str(number), size) for number, size in enumerate(sizes)
    ]
    assert list(AuditEvent.objects.order_by("id").values_list("sequence", flat=True)) == list(
        range(1, len(sizes) + 1)
    )
    previous = GENESIS_HASH
    for sequence, event in enumerate(events, start=1):
        assert (event.sequence, event.prev_hash) == (sequence, previous)
        assert event.hash == event_hash(fields_of(event), sequence=sequence, prev_hash=previous)
        previous = event.hash


@pytest.mark.django_db
def test_a_stream_of_a_rolled_back_savepoint_is_never_read() -> None:
    def rows() -> Any:
        raise AssertionError("read although its savepoint was rolled back")

    with transaction.atomic():
        try:
            with transaction.atomic():
                audit_record_stream(ACTOR, "user.updated", rows)
                raise IntegrityError("duplicate")
        except IntegrityError:
            pass
        audit_record_stream(ACTOR, "user.updated", lambda: [])  # an empty stream writes nothing
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_unregistered_codes_are_refused() -> None:
    with pytest.raises(KeyError):
        audit_record(ACTOR, "no.such.code")


@pytest.mark.django_db
def test_a_missing_head_is_rebuilt_from_the_newest_event() -> None:
    audit_record(ACTOR, "user.updated", object_id="1")
    AuditChainHead.objects.all().delete()
    audit_record(ACTOR, "user.updated", object_id="2")
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == [1, 2]
    assert AuditChainHead.objects.get().sequence == 2


@pytest.mark.django_db
def test_service_events_are_chained(world: object) -> None:
    from fincrm.audit.alerts import security_alert_acknowledge
    from fincrm.audit.models import SecurityEvent
    from fincrm.users.actors import actor_for_user
    from tests.support.world import World

    alert = SecurityEvent.objects.create(
        occurred_at=datetime.datetime.now(datetime.UTC), kind="auth.new_ip", severity="alert", actor_label="x"
    )
    security_alert_acknowledge(actor=actor_for_user(World.user("system_admin_a")), alert_id=alert.pk)
    event = AuditEvent.objects.get(action="security.alert.acknowledged")
    assert event.sequence == AuditChainHead.objects.get().sequence


@pytest.mark.django_db
def test_atomic_works_as_decorator_with_arguments_and_inside_a_django_block() -> None:
    @transaction.atomic(using="default", savepoint=True)
    def service(number: int) -> int:
        audit_record(ACTOR, "user.updated", object_id=str(number))
        return number

    with django_transaction.atomic():
        assert service(1) == 1
        assert AuditEvent.objects.filter(object_id="1").exists()  # flushed at the end of our block
        assert not transaction.in_block()
        with transaction.atomic():
            assert transaction.in_block()
            assert transaction.storage() == {}
    assert transaction.storage() is None

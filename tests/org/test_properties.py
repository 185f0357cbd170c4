"""Property: after any sequence of creates and moves, every unit's path and depth are what its
parent chain says, and refused operations change nothing."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fincrm.org import services
from fincrm.org.models import OrgUnit
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from tests.support.world import World

pytestmark = pytest.mark.django_db

KINDS = [OrgUnit.Kind.BRANCH, OrgUnit.Kind.SUB_BRANCH, OrgUnit.Kind.DEPARTMENT]

create_op = st.tuples(st.just("create"), st.integers(min_value=0, max_value=50), st.sampled_from(KINDS))
move_op = st.tuples(
    st.just("move"), st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=50)
)
operations = st.lists(st.one_of(create_op, move_op), min_size=1, max_size=25)


def expected_paths() -> dict[int, tuple[str, int]]:
    parents = dict(OrgUnit.objects.values_list("pk", "parent_id"))
    expected: dict[int, tuple[str, int]] = {}
    for pk in parents:
        chain = [pk]
        while parents[chain[-1]] is not None:
            chain.append(parents[chain[-1]])
        chain.reverse()
        expected[pk] = ("/" + "".join(f"{node}/" for node in chain), len(chain) - 1)
    return expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_paths_follow_the_parent_chain(world: World, ops: list[tuple[str, int, object]]) -> None:
    actor = Actor.cli()
    with transaction.atomic():
        for index, (op, first, second) in enumerate(ops):
            units = list(OrgUnit.objects.order_by("pk").values_list("pk", flat=True))
            before = list(OrgUnit.objects.order_by("pk").values_list("pk", "parent_id", "path", "depth"))
            try:
                if op == "create":
                    services.org_unit_create(
                        actor=actor,
                        parent_id=units[first % len(units)],
                        code=f"P-{index}",
                        name=f"Unit {index}",
                        kind=str(second),
                    )
                else:
                    assert isinstance(second, int)
                    services.org_unit_move(
                        actor=actor,
                        unit_id=units[first % len(units)],
                        new_parent_id=units[second % len(units)],
                    )
            except ServiceError:
                after = list(OrgUnit.objects.order_by("pk").values_list("pk", "parent_id", "path", "depth"))
                assert after == before
        actual = {pk: (path, depth) for pk, path, depth in OrgUnit.objects.values_list("pk", "path", "depth")}
        assert actual == expected_paths()
        transaction.set_rollback(True)


CODE_ALPHABET = st.characters(codec="ascii")


@given(st.text(alphabet=CODE_ALPHABET, max_size=40))
def test_a_code_is_accepted_exactly_when_it_fits_the_allow_list(raw: str) -> None:
    stripped = raw.strip()
    fits = (
        0 < len(stripped) <= 32
        and stripped[0].isalnum()
        and all(char.isalnum() or char in "._-" for char in stripped)
    )
    if fits:
        assert services.clean_code(raw) == stripped
    else:
        with pytest.raises(ServiceError) as excinfo:
            services.clean_code(raw)
        assert list(excinfo.value.fields) == ["code"]


@given(st.text(max_size=120))
def test_a_name_is_trimmed_and_bounded(raw: str) -> None:
    collapsed = " ".join(raw.split())
    if collapsed and len(collapsed) <= services.NAME_MAX_LENGTH:
        assert services.clean_name(raw) == collapsed
    else:
        with pytest.raises(ServiceError) as excinfo:
            services.clean_name(raw)
        assert list(excinfo.value.fields) == ["name"]

"""Duplicates: the similarity formula (properties), set-based detection (idempotent, incremental),
the queue's scope rule, dismissing, the pages, the API, and a merged customer's address."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from fincrm.audit.models import AuditEvent
from fincrm.customers.models import Customer, CustomerStatus, CustomerTag, DuplicateCandidate
from fincrm.customers.selectors.duplicates import duplicate_list
from fincrm.customers.services.merge import (
    customers_merge,
    duplicate_dismiss,
    duplicates_detect,
    duplicates_detect_for,
    names_similar,
)
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden, NotFound
from fincrm.platform.models import OutboxEvent
from fincrm.platform.outbox import dispatch
from fincrm.users.actors import actor_for_user
from fincrm.users.models import Role, RoleAssignment, User
from tests.customers.factories import CustomerFactory, TagFactory
from tests.support.auth import sign_in
from tests.support.english import client, english
from tests.support.world import World

__all__ = ["client", "english"]

SYSTEM = Actor.system("tests")


def actor(username: str) -> Actor:
    return actor_for_user(World.user(username))


def hq_operations_user(world: World) -> User:
    user = User.objects.create(username="ops_hq", full_name="Ops HQ", org_unit_id=world.hq)
    RoleAssignment.objects.create(user=user, role=Role.objects.get(code="operations"))
    return User.objects.select_related("org_unit").get(pk=user.pk)


def pairs() -> set[tuple[int, int, str]]:
    return set(DuplicateCandidate.objects.values_list("first_id", "second_id", "reason"))


# ---------------------------------------------------------------- the formula

HAN = st.text(alphabet="张王李赵刘陈杨黄周吴小明华伟芳娜静丽强磊军洋勇艳杰娟涛", min_size=1, max_size=4)


@given(HAN, HAN)
def test_similarity_is_symmetric(first: str, second: str) -> None:
    assert names_similar(first, second) == names_similar(second, first)


@given(HAN)
def test_a_name_is_similar_to_itself(name: str) -> None:
    assert names_similar(name, name)


@given(HAN, HAN)
def test_different_surnames_are_similar_only_with_the_same_pinyin(first: str, second: str) -> None:
    if first[0] != second[0] and names_similar(first, second):
        from fincrm.customers.search_terms import name_pinyin

        assert name_pinyin(first) == name_pinyin(second)


@given(st.text(max_size=5))
def test_similarity_never_raises_and_blank_never_matches(name: str) -> None:
    names_similar(name, "张三")
    assert not names_similar("", name)


@pytest.mark.parametrize(
    ("first", "second", "similar"),
    [
        ("王小明", "王晓明", True),  # surname + 2 of 3 characters
        ("王小明", "王大伟", False),  # surname only: 1 of 3
        ("张三", "章三", True),  # same pinyin zhangsan
        ("张三", "李三", False),
        ("欧阳娜娜", "欧阳娜", True),
        ("John Smith", "john  smith", True),
        ("John Smith", "Jane Doe", False),
    ],
)
def test_similarity_examples(first: str, second: str, similar: bool) -> None:
    assert names_similar(first, second) is similar


# ---------------------------------------------------------------- detection


@pytest.mark.django_db
def test_detect_finds_same_id_and_same_mobile_with_similar_name(world: World) -> None:
    same_id = CustomerFactory(name="完全不同", id_number="11010519491231002X", mobile=None)
    mobile_a = CustomerFactory(name="王小明", mobile="+8613711112222")
    mobile_b = CustomerFactory(name="王晓明", mobile="+8613711112222")
    CustomerFactory(name="李大伟", mobile="+8613711112222")  # same mobile, another name: a family phone
    merged = CustomerFactory(id_number="11010519491231002X", status=CustomerStatus.MERGED)

    found = duplicates_detect(actor=SYSTEM)

    assert found == {"same_id_number": 1, "same_mobile": 1}
    assert pairs() == {
        (world.customer_a, same_id.pk, "same_id_number"),
        (mobile_a.pk, mobile_b.pk, "same_mobile"),
    }
    assert merged.pk not in {pk for pair in pairs() for pk in pair[:2]}
    event = AuditEvent.objects.get(action="customer.duplicates.detected")
    assert event.after == {"same_id_number": 1, "same_mobile": 1, "scope": "all"}
    assert OutboxEvent.objects.filter(topic="customer.duplicates.detected", payload={"found": 2}).exists()


@pytest.mark.django_db
def test_detect_is_idempotent_and_never_reopens_a_dismissed_pair(world: World) -> None:
    CustomerFactory(id_number="11010519491231002X")
    duplicates_detect(actor=SYSTEM)
    DuplicateCandidate.objects.update(status=DuplicateCandidate.Status.DISMISSED)

    assert duplicates_detect(actor=SYSTEM) == {"same_id_number": 0, "same_mobile": 0}
    assert DuplicateCandidate.objects.get().status == "dismissed"
    assert AuditEvent.objects.filter(action="customer.duplicates.detected").count() == 1


@pytest.mark.django_db
def test_detect_for_only_looks_at_the_given_customers(world: World) -> None:
    CustomerFactory(id_number="11010519491231002X")  # pairs with customer_a
    lonely = CustomerFactory(name="王小明", mobile="+8613711112222")
    twin = CustomerFactory(name="王小明", mobile="+8613711112222")

    assert duplicates_detect_for([lonely.pk]) == {"same_id_number": 0, "same_mobile": 1}
    assert pairs() == {(lonely.pk, twin.pk, "same_mobile")}


@pytest.mark.django_db
def test_detect_needs_the_merge_permission(world: World) -> None:
    with pytest.raises(Forbidden):
        duplicates_detect(actor=actor("branch_manager_a"))


@pytest.mark.django_db
def test_a_created_customer_is_checked_after_commit(world: World) -> None:
    created = CustomerFactory(name="张三", mobile="+8613800138000", id_number=None)
    OutboxEvent.objects.create(topic="customer.created", payload={"customer_id": created.pk})

    dispatch()

    assert pairs() == {(world.customer_a, created.pk, "same_mobile")}


# ---------------------------------------------------------------- the queue's scope rule


@pytest.mark.django_db
def test_queue_lists_pairs_whose_both_customers_are_in_merge_scope(world: World) -> None:
    inside = CustomerFactory()
    across = CustomerFactory(org_unit_id=world.sub_b1)
    DuplicateCandidate.objects.create(first_id=world.customer_a, second_id=inside.pk, reason="same_mobile")
    DuplicateCandidate.objects.create(
        first_id=world.customer_a, second_id=across.pk, reason="held_for_review"
    )

    branch_ops = list(duplicate_list(actor=actor("operations_a")))
    hq_ops = list(duplicate_list(actor=actor_for_user(hq_operations_user(world))))

    assert [c.second_id for c in branch_ops] == [inside.pk]
    assert sorted(c.second_id for c in hq_ops) == [inside.pk, across.pk]
    assert list(duplicate_list(actor=actor("operations_a"), reason="held_for_review")) == []


@pytest.mark.django_db
def test_dismiss_releases_a_held_customer_and_is_audited(world: World) -> None:
    ops = actor_for_user(hq_operations_user(world))
    held = CustomerFactory(status=CustomerStatus.NEEDS_REVIEW, org_unit_id=world.sub_b1)
    candidate = DuplicateCandidate.objects.create(
        first_id=world.customer_a, second_id=held.pk, reason="held_for_review"
    )

    duplicate_dismiss(actor=ops, candidate_id=candidate.pk, reason="namesakes")

    candidate.refresh_from_db()
    assert (candidate.status, candidate.resolved_by) == ("dismissed", "user:ops_hq")
    assert Customer.objects.get(pk=held.pk).status == CustomerStatus.ACTIVE
    event = AuditEvent.objects.get(action="customer.duplicate.dismissed")
    assert (event.object_id, event.reason) == (str(candidate.pk), "namesakes")
    with pytest.raises(NotFound):  # no longer open
        duplicate_dismiss(actor=ops, candidate_id=candidate.pk)


@pytest.mark.django_db
def test_dismiss_outside_scope_is_not_found(world: World) -> None:
    across = CustomerFactory(org_unit_id=world.sub_b1)
    candidate = DuplicateCandidate.objects.create(
        first_id=world.customer_a, second_id=across.pk, reason="held_for_review"
    )
    with pytest.raises(NotFound):
        duplicate_dismiss(actor=actor("operations_a"), candidate_id=candidate.pk)
    assert DuplicateCandidate.objects.get().status == "open"


# ---------------------------------------------------------------- pages


@pytest.mark.django_db
def test_queue_page_filters_by_reason_and_masks_names(world: World, client: Client) -> None:
    other = CustomerFactory(name="张三丰")
    candidate = DuplicateCandidate.objects.create(
        first_id=world.customer_a, second_id=other.pk, reason="same_mobile"
    )
    sign_in(client, World.user("operations_a"))

    page = client.get("/customers/duplicates/").content.decode()
    filtered = client.get("/customers/duplicates/?reason=same_id_number").content.decode()

    assert f'data-duplicate-row="{candidate.pk}"' in page
    assert "张*" in page
    assert "张三丰" not in page
    assert f'data-duplicate-row="{candidate.pk}"' not in filtered


@pytest.mark.django_db
def test_compare_page_and_merge_through_the_form(world: World, client: Client) -> None:
    other = CustomerFactory(name="张三", mobile="+8613800138000", id_number=None)
    tag = TagFactory()
    CustomerTag.objects.create(customer=other, tag=tag)
    candidate = DuplicateCandidate.objects.create(
        first_id=world.customer_a, second_id=other.pk, reason="same_mobile"
    )
    sign_in(client, World.user("operations_a"))

    page = client.get(f"/customers/duplicates/{candidate.pk}/")
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    text = page.content.decode()
    assert "138****8000" in text
    assert "13800138000" not in text
    assert "110***********002X" in text

    form = page.context["form"]
    data = {name: form[name].value() for name in form.fields}
    data["reason"] = "same person at two counters"
    response = client.post(f"/customers/duplicates/{candidate.pk}/", data)

    assert response.status_code == 302
    assert response["Location"] == f"/customers/{world.customer_a}/"
    assert CustomerTag.objects.filter(customer_id=world.customer_a, tag=tag).exists()
    assert Customer.objects.get(pk=other.pk).status == CustomerStatus.MERGED


@pytest.mark.django_db
def test_merge_form_needs_a_reason(world: World, client: Client) -> None:
    other = CustomerFactory()
    candidate = DuplicateCandidate.objects.create(
        first_id=world.customer_a, second_id=other.pk, reason="same_mobile"
    )
    sign_in(client, World.user("operations_a"))
    form = client.get(f"/customers/duplicates/{candidate.pk}/").context["form"]
    data = {name: form[name].value() for name in form.fields}
    data["reason"] = ""

    response = client.post(f"/customers/duplicates/{candidate.pk}/", data)

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert Customer.objects.get(pk=other.pk).status == CustomerStatus.ACTIVE


@pytest.mark.django_db
def test_dismiss_page(world: World, client: Client) -> None:
    other = CustomerFactory()
    candidate = DuplicateCandidate.objects.create(
        first_id=world.customer_a, second_id=other.pk, reason="same_mobile"
    )
    sign_in(client, World.user("operations_a"))

    response = client.post(f"/customers/duplicates/{candidate.pk}/dismiss/", {"reason": "twins"})

    assert response.status_code == 302
    assert response["Location"] == "/customers/duplicates/"
    assert DuplicateCandidate.objects.get().status == "dismissed"


@pytest.mark.django_db
def test_a_merged_customers_address_points_to_the_survivor(world: World, client: Client) -> None:
    other = CustomerFactory()
    customers_merge(
        actor=actor("operations_a"), survivor_id=world.customer_a, absorbed_id=other.pk, reason="same"
    )
    sign_in(client, World.user("operations_a"))

    response = client.get(f"/customers/{other.pk}/")

    assert response.status_code == 200
    text = response.content.decode()
    assert 'data-testid="merged-customer"' in text
    assert f'href="/customers/{world.customer_a}/"' in text


@pytest.mark.django_db
def test_a_merged_customer_outside_scope_stays_not_found(world: World, client: Client) -> None:
    other = CustomerFactory()
    customers_merge(
        actor=actor("operations_a"), survivor_id=world.customer_a, absorbed_id=other.pk, reason="same"
    )
    sign_in(client, World.user("account_manager_b"))

    assert client.get(f"/customers/{other.pk}/").status_code == 404


# ---------------------------------------------------------------- API


@pytest.mark.django_db
def test_api_lists_dismisses_and_merges(world: World, client: Client) -> None:
    first = CustomerFactory()
    second = CustomerFactory()
    candidate = DuplicateCandidate.objects.create(
        first_id=first.pk, second_id=second.pk, reason="same_mobile"
    )
    sign_in(client, World.user("operations_a"))

    listed = client.get("/api/v1/duplicates").json()
    assert [item["id"] for item in listed["items"]] == [candidate.pk]
    assert listed["items"][0]["first"]["name"].endswith("*")
    assert client.get("/api/v1/duplicates?reason=nonsense").status_code == 422

    dismissed = client.post(
        f"/api/v1/duplicates/{candidate.pk}/dismiss", {"reason": "no"}, content_type="application/json"
    )
    assert dismissed.status_code == 200
    assert dismissed.json()["status"] == "dismissed"

    merged = client.post(
        "/api/v1/customers/merge",
        {
            "survivor_id": first.pk,
            "absorbed_id": second.pk,
            "field_choices": {"name": "absorbed"},
            "reason": "same",
        },
        content_type="application/json",
    )
    assert merged.status_code == 200, merged.content
    body = merged.json()
    assert (body["survivor_id"], body["absorbed_id"], body["field_choices"]["name"]) == (
        first.pk,
        second.pk,
        "absorbed",
    )
    refused = client.post(
        "/api/v1/customers/merge",
        {
            "survivor_id": first.pk,
            "absorbed_id": world.customer_a,
            "field_choices": {"x": "y"},
            "reason": "same",
        },
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert set(refused.json()["fields"]) == {"field_choices.x"}

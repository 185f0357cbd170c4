"""The tags API: tag definitions, a customer's tags, and bulk tagging. Parse, call, serialize."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import AuthenticationError
from ninja.pagination import paginate
from ninja.responses import Status

from fincrm.customers.models import Tag
from fincrm.customers.selectors import VIEW, access_customer
from fincrm.customers.selectors.tags import MANAGE_TAGS, access_tag, tag_list, tags_for
from fincrm.customers.services import tags as services
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.pagination import CursorPagination

router = Router(tags=["customer tags"])


class TagOut(Schema):
    id: int
    label: str
    colour: str
    group: str
    is_active: bool


class TagCreateIn(Schema):
    label: str
    colour: str = Tag.Colour.BLUE
    group: str = ""


class TagUpdateIn(Schema):
    label: str | None = None
    colour: str | None = None
    group: str | None = None
    is_active: bool | None = None


class CustomerTagsIn(Schema):
    tag_ids: list[int]


class BulkTagIn(Schema):
    customer_ids: list[int]
    tag_ids: list[int]
    remove: bool = False


class BulkTagOut(Schema):
    changed: int


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


@router.get("/tags", response=list[TagOut])
@paginate(CursorPagination, ordering=("group", "label", "id"))
def list_tags(request: HttpRequest, include_inactive: bool = False) -> QuerySet[Tag]:
    """Tag definitions: for those who manage them, and for those who tag the customers they see."""
    actor = _actor(request)
    if not actor.can(MANAGE_TAGS):
        require_permission(actor, VIEW)
    return tag_list(include_inactive=include_inactive)


@router.get("/tags/{tag_id}", response=TagOut)
def get_tag(request: HttpRequest, tag_id: int) -> Tag:
    return access_tag(_actor(request), tag_id)


@router.post("/tags", response={201: TagOut})
def create_tag(request: HttpRequest, payload: TagCreateIn) -> Status[Tag]:
    return Status(201, services.tag_create(actor=_actor(request), **payload.dict()))


@router.patch("/tags/{tag_id}", response=TagOut)
def update_tag(request: HttpRequest, tag_id: int, payload: TagUpdateIn) -> Tag:
    return services.tag_update(actor=_actor(request), tag_id=tag_id, **payload.dict(exclude_unset=True))


@router.get("/customers/{customer_id}/tags", response=list[TagOut])
def customer_tags(request: HttpRequest, customer_id: int) -> list[Tag]:
    customer = access_customer(_actor(request), customer_id, VIEW)
    return tags_for([customer.pk])[customer.pk]


@router.put("/customers/{customer_id}/tags", response=list[TagOut])
def set_customer_tags(request: HttpRequest, customer_id: int, payload: CustomerTagsIn) -> list[Tag]:
    """Give the customer exactly these (active) tags."""
    return services.customer_tags_set(actor=_actor(request), customer_id=customer_id, tag_ids=payload.tag_ids)


@router.post("/customers/{customer_id}/tags/{tag_id}", response={204: None})
def add_customer_tag(request: HttpRequest, customer_id: int, tag_id: int) -> Status[None]:
    services.customer_tag_add(actor=_actor(request), customer_id=customer_id, tag_id=tag_id)
    return Status(204, None)


@router.delete("/customers/{customer_id}/tags/{tag_id}", response={204: None})
def remove_customer_tag(request: HttpRequest, customer_id: int, tag_id: int) -> Status[None]:
    services.customer_tag_remove(actor=_actor(request), customer_id=customer_id, tag_id=tag_id)
    return Status(204, None)


@router.post("/customer-tags/bulk", response=BulkTagOut)
def bulk_tag(request: HttpRequest, payload: BulkTagIn) -> dict[str, int]:
    """Add (or with ``remove``, take off) tags on a batch of customers: all in scope, or 404 and nothing
    written."""
    changed = services.customers_tag_bulk(
        actor=_actor(request),
        customer_ids=payload.customer_ids,
        tag_ids=payload.tag_ids,
        remove=payload.remove,
    )
    return {"changed": changed}

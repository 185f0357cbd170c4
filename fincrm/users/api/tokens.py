"""The caller's API tokens: list, create (the token is in the answer, once), revoke."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from fincrm.platform.api import ErrorOut
from fincrm.platform.pagination import CursorPagination
from fincrm.users.models import ApiToken
from fincrm.users.selectors.tokens import own_token_list
from fincrm.users.services.tokens import api_token_create, api_token_revoke

router = Router(tags=["tokens"])


class TokenOut(Schema):
    id: int
    owner_id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The token itself: shown only in this answer, store it now.")


class TokenIn(Schema):
    name: str = Field(max_length=100)
    scopes: list[str] | None = Field(None, description="Permissions; default: all the owner holds now.")
    expires_days: int | None = Field(None, description="1 to 365; default 90.")
    owner_id: int | None = Field(
        None, description="Another user's id (needs user.manage); default: yourself."
    )


def _out(token: ApiToken) -> TokenOut:
    return TokenOut.model_validate(token, from_attributes=True)


@router.get("/tokens", response=list[TokenOut], summary="Your API tokens, newest first")
@paginate(CursorPagination, ordering=("-id",))
def list_tokens(request: HttpRequest) -> object:
    return own_token_list(actor=request.actor)  # type: ignore[attr-defined]


@router.post("/tokens", response={201: TokenCreatedOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def create_token(request: HttpRequest, response: HttpResponse, payload: TokenIn) -> Status[TokenCreatedOut]:
    actor = request.actor  # type: ignore[attr-defined]
    token, plaintext = api_token_create(
        actor=actor,
        owner_id=payload.owner_id if payload.owner_id is not None else actor.user_id,
        name=payload.name,
        scopes=payload.scopes,
        expires_days=payload.expires_days,
    )
    response["Cache-Control"] = "no-store"
    return Status(201, TokenCreatedOut(**_out(token).model_dump(), token=plaintext))


@router.delete("/tokens/{token_id}", response={200: TokenOut, 404: ErrorOut, 409: ErrorOut})
def revoke_token(request: HttpRequest, token_id: int) -> TokenOut:
    return _out(api_token_revoke(actor=request.actor, token_id=token_id))  # type: ignore[attr-defined]

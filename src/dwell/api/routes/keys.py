"""Managing API keys over HTTP: admin keys only. The CLI (`dwell keys`) does the same."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from dwell import auth
from dwell.api.deps import get_conn, get_services
from dwell.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from dwell.api.security import forget_key_count, require
from dwell.api.services import Services

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require("admin"))])

Role = Literal["viewer", "uploader", "admin"]


class ApiKey(BaseModel):
    """A key as it may be shown: never its secret."""

    id: int = Field(examples=[3])
    name: str | None = Field(examples=["dashboard"])
    role: Role = Field(description="viewer reads; uploader also uploads; admin also manages keys.",
                       examples=["viewer"])
    prefix: str = Field(description="The head of the key, to tell keys apart.",
                        examples=["dwl_1a2b3c4d"])
    created_at: datetime = Field(examples=["2024-03-05T09:12:44Z"])
    last_used_at: datetime | None = Field(description="Updated at most once a minute.",
                                          examples=["2024-03-05T12:31:07Z"])
    revoked_at: datetime | None = Field(examples=[None])
    active: bool = Field(examples=[True])

    @classmethod
    def of(cls, info: auth.KeyInfo) -> ApiKey:
        return cls.model_validate({**vars(info), "active": info.active})


class NewKey(BaseModel):
    role: Role = Field(examples=["viewer"])
    name: str | None = Field(default=None, max_length=200,
                             description="A label for people, such as who uses the key.",
                             examples=["dashboard"])


class CreatedKey(ApiKey):
    secret: str = Field(description="The key itself. Shown this once: only its hash is stored.",
                        examples=["dwl_1a2b3c4d_" + "x" * 43])


Conn = Annotated[psycopg.Connection, Depends(get_conn)]
Svc = Annotated[Services, Depends(get_services)]


@router.get("", response_model=list[ApiKey], summary="All keys, revoked ones included")
def list_keys(conn: Conn) -> list[ApiKey]:
    return [ApiKey.of(info) for info in auth.list_keys(conn)]


@router.post("", response_model=CreatedKey, status_code=201, summary="Create a key",
             responses={400: {"model": ErrorBody, "description": "The body is not JSON."}})
def create_key(body: NewKey, conn: Conn, services: Svc, response: Response) -> CreatedKey:
    """Answers with the secret, once. Store it now: it cannot be shown again."""
    info, secret = auth.create_key(conn, body.role, body.name)
    forget_key_count(services)
    response.headers["Cache-Control"] = "no-store"
    return CreatedKey(**ApiKey.of(info).model_dump(), secret=secret)


@router.delete("/{key_id}", response_model=ApiKey, summary="Revoke a key",
               responses={404: {"model": ErrorBody, "description": "No key has this id."}})
def revoke_key(key_id: Annotated[int, Path(ge=1, description="The key's id.")], conn: Conn,
               services: Svc) -> ApiKey:
    """Requests with the key fail from now on. Revoking a revoked key changes nothing."""
    info = auth.revoke_key(conn, key_id)
    forget_key_count(services)
    if info is None:
        raise ApiError(404, "not_found", f"No API key has id {key_id}.", "key_id")
    return ApiKey.of(info)

"""Pages of a list: ``?limit=&offset=`` in, :class:`Page` out.

A list route takes :data:`PageDep` and answers ``Page[ItemPublic]``::

    @router.get("", response_model=Page[CampaignPublic])
    def list_campaigns(session: SessionDep, page: PageDep):
        return page.of(session, select(Campaign).order_by(Campaign.id), CampaignPublic)

The statement must be ordered by a unique key (its last ``order_by`` column, e.g. the id):
without one, rows that tie may move between pages, be served twice or never.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlalchemy.sql import Select
from sqlmodel import Session, select

from api.web.deps import public_url

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Both databases take 64-bit offsets; the bound keeps a larger number a 422 of ours instead of
# an overflow inside the database driver.
MAX_OFFSET = 2**53


class Page(BaseModel, Generic[T]):
    """One page of a list, and how to ask for the next."""

    items: list[T]
    total: int = Field(description="How many items the whole list has", examples=[120])
    limit: int = Field(description="The page size asked for", examples=[DEFAULT_LIMIT])
    offset: int = Field(description="How many items come before this page", examples=[0])
    next: str | None = Field(
        description="The URL of the next page; null on the last one",
        examples=["http://127.0.0.1:8000/api/v1/questionnaires?limit=50&offset=50"],
    )


@dataclass(frozen=True)
class PageRequest:
    """The page a request asks for: ``limit`` items after the first ``offset``."""

    limit: int
    offset: int
    request: Request

    def page(self, items: list[Any], total: int) -> dict[str, Any]:
        """The envelope of a page whose ``items`` were fetched by the caller."""
        after = self.offset + self.limit
        following = None
        if after < total:
            following = public_url(
                self.request, self.request.url.include_query_params(limit=self.limit, offset=after)
            )
        return {"items": items, "total": total, "limit": self.limit, "offset": self.offset,
                "next": following}  # fmt: skip

    def of(
        self,
        session: Session,
        statement: Select,
        convert: Callable[[Any], Any] | None = None,
    ) -> dict[str, Any]:
        """This page of ``statement``'s rows (each passed through ``convert`` if given)."""
        total = session.exec(select(func.count()).select_from(statement.subquery())).one()
        rows = session.exec(statement.offset(self.offset).limit(self.limit)).all()
        items = [convert(row) for row in rows] if convert else list(rows)
        return self.page(items, int(total))


async def page_request(
    request: Request,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page", examples=[DEFAULT_LIMIT])
    ] = DEFAULT_LIMIT,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Items to skip", examples=[0])
    ] = 0,
) -> PageRequest:
    return PageRequest(limit=limit, offset=offset, request=request)


PageDep = Annotated[PageRequest, Depends(page_request)]

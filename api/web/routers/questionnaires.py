"""Published questionnaire versions, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import select

from api.web.deps import QuestionnaireVersionDep, SessionDep
from api.web.errors import error_responses
from api.web.pagination import Page, PageDep
from api.web.strict_query import KnownQueryOnly
from survey.db.tables import QuestionnaireVersion

router = APIRouter(
    prefix="/api/v1/questionnaires", tags=["questionnaires"], dependencies=[KnownQueryOnly]
)

_VERSION_EXAMPLE = {
    "form_id": "csi_mobile",
    "version": "2026.1",
    "title": "移动业务客户满意度调查",
    "content_hash": "3f1c9a7e5b2d4c6a8e0f1b3d5c7a9e1f3b5d7c9a1e3f5b7d9c1a3e5f7b9d1c3a",
    "published_at": "2026-01-05T08:00:00Z",
}


class QuestionnaireVersionPublic(BaseModel):
    """A published questionnaire version, without its document."""

    form_id: str = Field(description="The questionnaire's identifier")
    version: str = Field(description="The version, as text (2026.10 is not 2026.1)")
    title: str = Field(description="The title in the questionnaire's default language")
    content_hash: str = Field(description="SHA-256 of the document: equal hashes, equal content")
    published_at: datetime

    model_config = {"from_attributes": True, "json_schema_extra": {"examples": [_VERSION_EXAMPLE]}}


class QuestionnaireDocument(QuestionnaireVersionPublic):
    """A published version with its full document."""

    document: dict[str, Any] = Field(
        description="The questionnaire as published: items, scales, labels, constructs, model"
    )

    model_config = {
        "from_attributes": True,
        "json_schema_extra": {
            "examples": [
                {
                    **_VERSION_EXAMPLE,
                    "document": {
                        "form_id": "csi_mobile",
                        "version": "2026.1",
                        "items": [{"name": "sat_overall", "construct": "satisfaction"}],
                        "model": "satisfaction ~ network + billing",
                    },
                }
            ]
        },
    }


@router.get(
    "",
    response_model=Page[QuestionnaireVersionPublic],
    summary="List published questionnaire versions",
    responses=error_responses(422),
)
def list_versions(session: SessionDep, page: PageDep):
    """Every published questionnaire version, a page at a time, ordered by form id, then
    publication time (oldest first)."""
    statement = select(QuestionnaireVersion).order_by(
        QuestionnaireVersion.form_id, QuestionnaireVersion.published_at, QuestionnaireVersion.id
    )
    return page.of(session, statement, QuestionnaireVersionPublic.model_validate)


@router.get(
    "/{form_id}/{version}",
    response_model=QuestionnaireDocument,
    summary="Get one published questionnaire version",
    responses=error_responses(404, 422, _404="No such published questionnaire version"),
)
def get_version(row: QuestionnaireVersionDep):
    """One published version with its full document (items, scales, constructs, model)."""
    return row

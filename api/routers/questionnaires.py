"""Published questionnaire versions, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from survey.publish import published_versions

from ..deps import QuestionnaireVersionDep, SessionDep

router = APIRouter(prefix="/api/v1/questionnaires", tags=["questionnaires"])


class QuestionnaireVersionPublic(BaseModel):
    form_id: str
    version: str
    title: str
    content_hash: str
    published_at: datetime


class QuestionnaireDocument(QuestionnaireVersionPublic):
    document: dict[str, Any]


@router.get("", response_model=list[QuestionnaireVersionPublic])
def list_versions(session: SessionDep):
    """Every published questionnaire version."""
    return published_versions(session)


@router.get("/{form_id}/{version}", response_model=QuestionnaireDocument)
def get_version(row: QuestionnaireVersionDep):
    """One published version with its full document (items, scales, constructs, model)."""
    return row

"""FastAPI dependencies: settings, database sessions and lookups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from survey.publish import find_version
from survey.tables import QuestionnaireVersion

from .settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_questionnaire_version(form_id: str, version: str, session: SessionDep):
    row = find_version(session, form_id, version)
    if row is None:
        raise HTTPException(
            status_code=404,
            detail=f"no published questionnaire {form_id!r} version {version!r}",
        )
    return row


QuestionnaireVersionDep = Annotated[QuestionnaireVersion, Depends(get_questionnaire_version)]

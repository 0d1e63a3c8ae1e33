"""FastAPI dependencies: settings, database sessions and lookups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from survey.group_commit import GroupCommit
from survey.publish import find_version
from survey.tables import QuestionnaireVersion

from .settings import Settings


def settings_of(request: Request) -> Settings:
    """The settings the application was built with (``create_app`` keeps them on its state).

    Hot routes (hundreds of requests a second) call this in their body instead of taking a
    dependency: FastAPI runs a sync dependency in a worker thread, which costs more CPU than
    the request's own work.
    """
    return request.app.state.settings


async def _settings_on_loop(request: Request) -> Settings:
    return settings_of(request)


#: The application's settings, read on the event loop (no worker-thread hop).
SettingsDep = Annotated[Settings, Depends(_settings_on_loop)]


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_group_commit(request: Request) -> GroupCommit:
    """The application's group commit over its engine (see :mod:`survey.group_commit`).

    Made on first use; call it from the event loop (an async route), where two first requests
    cannot both make one.
    """
    writer = getattr(request.app.state, "group_commit", None)
    if writer is None or writer.engine is not request.app.state.engine:
        writer = request.app.state.group_commit = GroupCommit(request.app.state.engine)
    return writer


#: A questionnaire's form id is an identifier (see survey.questionnaire.validate).
FormId = Annotated[
    str,
    Path(max_length=64, pattern=r"^[a-z][a-z0-9_]*$", description="The questionnaire's form id",
         examples=["csi_mobile"]),
]  # fmt: skip
#: A version is free text, but never a control character (PostgreSQL refuses NUL in text).
VersionText = Annotated[
    str,
    Path(max_length=32, pattern=r"^[^\x00-\x1f\x7f]+$", description="The version, as published",
         examples=["2026.1"]),
]  # fmt: skip


def get_questionnaire_version(form_id: FormId, version: VersionText, session: SessionDep):
    row = find_version(session, form_id, version)
    if row is None:
        raise HTTPException(
            status_code=404,
            detail=f"no published questionnaire {form_id!r} version {version!r}",
        )
    return row


QuestionnaireVersionDep = Annotated[QuestionnaireVersion, Depends(get_questionnaire_version)]

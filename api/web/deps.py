"""FastAPI dependencies: settings, database sessions, the SMS transport, the clock, lookups."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from pydantic import Field
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.datastructures import URL

from api.settings import Settings
from api.transports import make_transport
from survey.db.group_commit import GroupCommit
from survey.db.tables import QuestionnaireVersion
from survey.questionnaire.publish import find_version
from survey.sms.transport import SmsTransport


def settings_of(request: Request) -> Settings:
    """The settings the application was built with (``create_app`` keeps them on its state).

    Hot routes (hundreds of requests a second) call this in their body instead of taking a
    dependency: FastAPI runs a sync dependency in a worker thread, which costs more CPU than
    the request's own work.
    """
    return request.app.state.settings


def public_url(request: Request, url: URL | str) -> str:
    """``url``'s path and query on the public base URL (``MANYI_PUBLIC_BASE_URL``): URLs the
    service gives out never repeat the request's ``Host`` header, which a client chooses."""
    if isinstance(url, str):
        url = URL(url)
    path = url.path + (f"?{url.query}" if url.query else "")
    return str(settings_of(request).public_base_url).rstrip("/") + path


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

#: The largest id a table holds: ids are 32-bit INTEGER columns on PostgreSQL, so a larger
#: number in a URL is refused by the schema (422, or the page's 404) before a driver overflows.
MAX_ID = 2**31 - 1
#: A row id in a path: ``case_id: RowId``.
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: The days a page may ask about (``day: Annotated[Day | None, Query()] = None``): an earlier
#: or later date is a 422 rather than an overflow when a time zone moves it past year 9999.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2199, 12, 31)
Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]
EngineDep = Annotated[Engine, Depends(get_engine)]


def get_sms_transport(request: Request, settings: SettingsDep, engine: EngineDep) -> SmsTransport:
    """The transport the settings choose, made once per application."""
    transport = getattr(request.app.state, "sms_transport", None)
    if transport is None:
        transport = make_transport(settings, engine)
        request.app.state.sms_transport = transport
    return transport


SmsTransportDep = Annotated[SmsTransport, Depends(get_sms_transport)]


async def current_time(request: Request) -> datetime:
    """Now, from ``app.state.clock`` when the app has one (tests), else the real clock."""
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


Now = Annotated[datetime, Depends(current_time)]


def get_group_commit(request: Request) -> GroupCommit:
    """The application's group commit over its engine (see :mod:`survey.db.group_commit`).

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

"""The FastAPI application."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from api.settings import DEFAULT_SECRET_KEY, Settings, get_settings
from api.web import auth, errors, headers, limits
from api.web.deps import SessionDep
from api.web.routers import (
    account,
    agents,
    analyses,
    calls,
    console,
    console_fieldwork,
    console_programmes,
    console_questionnaires,
    console_results,
    console_staff,
    contacts,
    dashboard,
    exports,
    intercept,
    phone,
    questionnaires,
    respondent,
    sms_webhooks,
    supervision,
)
from survey.db.engine import current_revision, head_revision, make_engine
from survey.db.tables import Customer, QuestionnaireVersion, Response, Staff
from survey.staff.accounts import sees_everywhere

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))

log = logging.getLogger("manyi")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; the database engine is created at start-up (lifespan)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.secret_key.get_secret_value() == DEFAULT_SECRET_KEY:
            log.warning(
                "MANYI_SECRET_KEY is the development default: anyone who reads this code can "
                "forge links, CSRF fields and phone hashes. Set it before anybody else can "
                "reach this service (it is refused outside MANYI_ENV=development)."
            )
        app.state.engine = make_engine(settings.database_url)
        # Everything imported and built so far lives as long as the process: out of the
        # collector's sight, a full collection no longer walks it (some 240,000 objects,
        # 0.13 s, about every 20 requests of 500 contacts). Given back at shutdown, so
        # that a process building many apps (the tests) leaks no cycle.
        gc.freeze()
        yield
        gc.unfreeze()
        writer = getattr(app.state, "group_commit", None)
        if writer is not None:
            writer.close()
        app.state.engine.dispose()

    app = FastAPI(
        # The docs are installed by api.web.headers.install_docs, as MANYI_API_DOCS says.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        title="Manyi 满意",
        summary="Customer-satisfaction measurement: questionnaires, collection, "
        "structural equation models and improvement priorities.",
        version="0.1.0",
        lifespan=lifespan,
    )
    # Routes read the settings this app was built with (api.web.deps.SettingsDep), never the
    # process environment's.
    app.state.settings = settings
    app.include_router(questionnaires.router)
    app.include_router(respondent.router)
    app.include_router(intercept.router)
    app.include_router(intercept.pages)
    app.include_router(sms_webhooks.router)
    if settings.env != "production":
        # The simulator's phones read and answer any number's messages: never in production.
        app.include_router(phone.router)
    app.include_router(account.router)
    app.include_router(calls.router)
    app.include_router(calls.pages)
    app.include_router(supervision.router)
    app.include_router(dashboard.router)
    app.include_router(agents.router)
    app.include_router(exports.router)
    app.include_router(contacts.router)
    app.include_router(analyses.router)
    app.include_router(console.router)
    app.include_router(console_questionnaires.router)
    app.include_router(console_fieldwork.router)
    app.include_router(console_programmes.router)
    app.include_router(console_results.router)
    app.include_router(console_staff.router)
    auth.install(app)
    errors.install(app)
    headers.install_docs(app, settings, auth.current_staff)
    limits.install(app)
    # Outermost, so that every answer gets its headers, refusals at the door included.
    headers.install(app, settings)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(
        request: Request,
        session: SessionDep,
        staff: Annotated[Staff | None, Depends(auth.optional_staff)],
    ):
        counts = {"questionnaires": _count(session, QuestionnaireVersion)}
        # The database's totals only for staff who see everything: next to a limited
        # manager's own count, a total gives the other units' by subtraction.
        if staff is not None and sees_everywhere(staff):
            counts |= {
                "customers": _count(session, Customer),
                "responses": _count(session, Response),
            }
        return TEMPLATES.TemplateResponse(request, "home.html", {"counts": counts})

    @app.get("/health", tags=["service"])
    def health(request: Request) -> dict[str, object]:
        """Whether the database answers and its schema is current."""
        engine = request.app.state.engine
        try:
            with Session(engine) as session:
                session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            revision = current_revision(engine)
        except SQLAlchemyError as error:
            return {"status": "error", "database": f"unreachable: {type(error).__name__}"}
        head = head_revision()
        return {
            "status": "ok" if revision == head else "migrations-pending",
            "database": engine.dialect.name,
            "schema_revision": revision,
            "schema_head": head,
        }

    return app


def _count(session: Session, table) -> int:
    return int(session.exec(select(func.count()).select_from(table)).one())

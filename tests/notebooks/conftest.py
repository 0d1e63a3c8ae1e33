"""A running Manyi with the sample data, for the notebooks that load responses from a service.

Its SQLite database is prepared as ``make demo`` prepares one (:func:`api.cli.demo.prepare_demo`:
the sample questionnaire, frame and 5,000 responses), with a researcher and an API key made by
:mod:`survey.staff.accounts`, then ``manyi serve`` and the analysis worker
(``manyi analyses work``) run
in subprocesses (tests/service_process.py), the server on a free loopback port. It is started
once per session, and only when a notebook that needs it runs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, select

from api.cli.demo import prepare_demo
from survey.db.engine import make_engine
from survey.db.tables import AuditLog
from survey.staff import audit
from survey.staff.accounts import Role, create_api_key, create_staff, find_staff
from tests.service_process import free_port, manyi, running

RESEARCHER = "notebook.researcher"


@dataclass(frozen=True)
class Service:
    """Where the service answers, the researcher's API key, and what it was loaded with."""

    url: str
    api_key: str
    database_url: str
    #: Completed responses in the database (the sample's): what an export should hold.
    responses: int

    def exports(self) -> list[dict[str, Any]]:
        """The audit details of the researcher's exports, oldest first."""
        engine = make_engine(self.database_url)
        try:
            with Session(engine) as session:
                staff = find_staff(session, RESEARCHER)
                rows = session.exec(
                    select(AuditLog.detail)
                    .where(AuditLog.staff_id == staff.id, AuditLog.action == audit.EXPORT)
                    .order_by(AuditLog.id)
                )
                return list(rows)
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def manyi_service(tmp_path_factory) -> Iterator[Service]:
    """``manyi serve`` and ``manyi analyses work`` on the sample data; stopped at the end of
    the session."""
    folder = tmp_path_factory.mktemp("service")
    database_url = f"sqlite:///{folder / 'manyi.db'}"
    engine = make_engine(database_url)
    try:
        loaded = prepare_demo(engine)
        with Session(engine) as session:
            # Nobody signs in with it: the password only has to be valid and unguessable.
            staff = create_staff(session, RESEARCHER, Role.RESEARCHER, secrets.token_urlsafe(24))
            _, api_key = create_api_key(session, staff, "tests/notebooks")
    finally:
        engine.dispose()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        # "test" refuses a default secret: the one below is random, as in production.
        "MANYI_ENV": "test",
        "MANYI_SECRET_KEY": secrets.token_urlsafe(48),
        "MANYI_DATABASE_URL": database_url,
        "MANYI_PUBLIC_BASE_URL": url,
    }
    # The analysis worker beside the server, as in production: notebook 04 starts an analysis.
    worker = manyi("analyses", "work", "--poll", "0.5")
    serve = manyi("serve", "--host", "127.0.0.1", "--port", str(port))
    with running(serve, base_url=url, env=env, log_path=folder / "server.log",
                 companions=[worker]):  # fmt: skip
        yield Service(url, api_key, database_url, loaded.responses)

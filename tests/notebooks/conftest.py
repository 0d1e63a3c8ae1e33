"""A running Manyi with the sample data, for the notebooks that load responses from a service.

Its SQLite database is prepared as ``make demo`` prepares one (:func:`api.demo.prepare_demo`:
the sample questionnaire, frame and 5,000 responses), with a researcher and an API key made by
:mod:`survey.staff`, then ``manyi serve`` and the analysis worker (``manyi analyses work``) run
in subprocesses, the server on a free loopback port. It is
started once per session, and only when a notebook that needs it runs.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, select

from api.demo import prepare_demo
from survey import audit
from survey.db import make_engine
from survey.staff import Role, create_api_key, create_staff, find_staff
from survey.tables import AuditLog

RESEARCHER = "notebook.researcher"
# Generous against a loaded 2-core CI machine: the server starts in a few seconds when idle.
STARTUP_TIMEOUT_S = 120


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        # "test" refuses a default secret: the one below is random, as in production.
        "MANYI_ENV": "test",
        "MANYI_SECRET_KEY": secrets.token_urlsafe(48),
        "MANYI_DATABASE_URL": database_url,
        "MANYI_PUBLIC_BASE_URL": url,
    }
    # The server's output goes to a file: an unread pipe would block it once full.
    log = open(folder / "server.log", "w+", encoding="utf-8")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    # The analysis worker beside the server, as in production: notebook 04 starts an analysis.
    worker = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "analyses", "work", "--poll", "0.5"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if server.poll() is not None:
                log.seek(0)
                pytest.fail(f"manyi serve exited with {server.returncode}:\n{log.read()}")
            try:
                urllib.request.urlopen(url + "/health", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"manyi serve did not answer /health in {STARTUP_TIMEOUT_S} s:\n"
                                f"{log.read()}")  # fmt: skip
                time.sleep(0.1)
        yield Service(url, api_key, database_url, loaded.responses)
    finally:
        for process in (server, worker):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()

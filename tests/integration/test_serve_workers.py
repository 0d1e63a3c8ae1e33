"""`manyi serve --workers 2` on PostgreSQL: two processes, one service.

Which process answered a request is read where an operator reads it, in the server's log:
with several workers every line carries its process id, and an access line names the
client's address and port, which the test knows for each of its connections. A keep-alive
connection stays with the process that accepted it, so the test can send a request to the
worker it chooses: sign in on one and use the session on the other, fail to sign in on both
and see the throttle count the failures of both.
"""

from __future__ import annotations

import http.client
import os
import re
import time
import urllib.parse
from contextlib import suppress
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from api.web.answering_pages import csrf_token
from survey.answering.links import invitation_token
from survey.answering.pages import build_pages
from survey.campaigns.lifecycle import change_status, create_campaign, invite
from survey.db.tables import Customer, Invitation, Response
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.staff import throttle
from survey.staff.accounts import create_api_key, create_staff
from tests.integration.staff_login import PASSWORD, SECRET, field
from tests.service_process import free_port, manyi, run_manyi, running

pytestmark = pytest.mark.postgres

ACCESS_LINE = re.compile(r"\[(\d+)\] 127\.0\.0\.1:(\d+) - \"")


class Workers:
    """Connections to a running ``manyi serve --workers N``, each known by its process."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path

    def pid_of(self, connection: http.client.HTTPConnection) -> int:
        """The process behind a connection that has answered at least one request."""
        client_port = connection.sock.getsockname()[1]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for pid, port in ACCESS_LINE.findall(self.log_path.read_text(encoding="utf-8")):
                if int(port) == client_port:
                    return int(pid)
            time.sleep(0.05)
        raise AssertionError(f"no access line for client port {client_port}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def connect(self) -> tuple[http.client.HTTPConnection, int]:
        """A new keep-alive connection and the process it reached (a /health to learn it)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", "/health")
        answer = connection.getresponse()
        assert answer.status == 200, answer.read()
        answer.read()
        return connection, self.pid_of(connection)

    def one_on_each(
        self, count: int = 2, tries: int = 200
    ) -> dict[int, http.client.HTTPConnection]:
        """A connection to each of ``count`` distinct processes (the kernel chooses which
        process accepts a connection: new ones are opened until each has one)."""
        found: dict[int, http.client.HTTPConnection] = {}
        for _ in range(tries):
            connection, pid = self.connect()
            if pid in found:
                connection.close()
            else:
                found[pid] = connection
            if len(found) == count:
                return found
        raise AssertionError(f"only processes {sorted(found)} answered:\n{self.log()}")


def request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    sent = dict(headers or {})
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body)
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, data, sent)
    answer = connection.getresponse()
    text = answer.read().decode("utf-8", "replace")
    cookies = {}
    for name, value in answer.getheaders():
        if name.lower() == "set-cookie":
            key, _, rest = value.partition("=")
            cookies[key] = rest.split(";", 1)[0]
    return answer.status, cookies, text


@pytest.fixture
def service(database_url, engine, sample_questionnaire, cheap_hashing, tmp_path):
    """A researcher with an API key, a running campaign of six invitations, and the server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with Session(engine) as session:
        staff = create_staff(session, "lin", "researcher", PASSWORD)
        _, key = create_api_key(session, staff, "tests")
        version = publish(session, sample_questionnaire)
        frame = store_frame(session, generate_frame(6, seed=5), "workers", "test")
        customers = list(session.execute(select(Customer).where(Customer.frame_id == frame.id))
                         .scalars())  # fmt: skip
        for customer in customers:
            customer.consent = True
            session.add(customer)
        session.commit()
        campaign = create_campaign(session, version.id, "workers", message={"zh": "{link}"})
        invite(session, campaign, [c.id for c in customers], secret=SECRET,
               public_base_url=base, timezone="Asia/Shanghai")  # fmt: skip
        change_status(session, campaign, "launch")
        tokens = [invitation_token(SECRET, i) for i in session.execute(select(Invitation.id))
                  .scalars()]  # fmt: skip
    env = {**os.environ, "MANYI_DATABASE_URL": database_url, "MANYI_SECRET_KEY": SECRET,
           "MANYI_PUBLIC_BASE_URL": base, "MANYI_ENV": "test"}  # fmt: skip
    log_path = tmp_path / "serve.log"
    command = manyi("serve", "--workers", "2", "--port", str(port))
    with running(command, base_url=base, env=env, log_path=log_path):
        yield {"workers": Workers(port, log_path), "key": key, "tokens": tokens}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_answer_pages_and_the_api_and_share_sessions_and_throttling(
    service, engine, sample_questionnaire
):
    workers: Workers = service["workers"]
    assert "in 2 processes" in workers.log()
    # The second worker may still be starting: connections are opened until both answered.
    first, second = workers.one_on_each(2).values()
    pids = {workers.pid_of(first), workers.pid_of(second)}
    assert len(pids) == 2

    # Pages: a customer's first page saved by each process.
    answers = {}
    for item in build_pages(sample_questionnaire, "grouped")[0].items:
        codes = [c.name for c in item.choices.choices if c.missing is None] if item.choices else []
        answers[item.name] = "4" if "4" in codes else (codes[0] if codes else "8")
    for connection, token in ((first, service["tokens"][0]), (second, service["tokens"][1])):
        status, _, _ = request(connection, "GET", f"/s/{token}/p/1")
        assert status == 200
        answers["csrf"] = csrf_token(SECRET, token)
        status, _, _ = request(connection, "POST", f"/s/{token}/p/1", answers)
        assert status == 303
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Response)).scalar() == 2

    # The API, with a key, from each process.
    bearer = {"Authorization": f"Bearer {service['key']}"}
    for connection in (first, second):
        status, _, body = request(connection, "GET", "/api/v1/me", headers=bearer)
        assert status == 200 and '"username":"lin"' in body

    # A session started on one process is known to the other: sessions are rows.
    status, cookies, page_text = request(first, "GET", "/login")
    assert status == 200
    login_cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    form = {"username": "lin", "password": PASSWORD, "csrf": field(page_text, "csrf"),
            "next": field(page_text, "next")}  # fmt: skip
    # The login form from one process is posted to the other (its cookie is signed, not kept).
    status, cookies, _ = request(second, "POST", "/login", form, {"Cookie": login_cookie})
    assert status == 303 and "manyi_session" in cookies
    session_cookie = f"manyi_session={cookies['manyi_session']}"
    for connection in (first, second):
        status, _, body = request(connection, "GET", "/api/v1/me",
                                  headers={"Cookie": session_cookie})  # fmt: skip
        assert status == 200 and '"username":"lin"' in body

    # Sign-in throttling counts the failures of both processes: MAX_FAILURES in all, split
    # between them (neither saw that many), lock the account from this address on both.
    wrong = form | {"password": "not the password"}
    for attempt in range(throttle.MAX_FAILURES):
        connection = (first, second)[attempt % 2]
        status, _, _ = request(connection, "POST", "/login", wrong, {"Cookie": login_cookie})
        assert status == 401, attempt
    for connection in (first, second):
        status, _, _ = request(connection, "POST", "/login", form, {"Cookie": login_cookie})
        assert status == 429

    for connection in (first, second):
        with suppress(OSError):
            connection.close()


def test_two_workers_on_sqlite_are_refused_with_the_reason(tmp_path):
    url = f"sqlite:///{tmp_path / 'one-writer.db'}"
    run = run_manyi("serve", "--workers", "2", "--port", str(free_port()),
                    env={"MANYI_DATABASE_URL": url})  # fmt: skip
    assert run.returncode == 1
    assert "--workers 2 refused" in run.stderr and "SQLite lets one process write" in run.stderr
    assert "--workers 1" in run.stderr and "PostgreSQL" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_workers_whose_pools_would_not_fit_the_server_are_told(engine, capsys):
    from api.cli.main import _warn_if_connections_short
    from survey.db.engine import MAX_OVERFLOW, POOL_SIZE

    with engine.connect() as connection:
        allowed = int(connection.exec_driver_sql("SHOW max_connections").scalar())
    _warn_if_connections_short(engine, 1)
    assert capsys.readouterr().err == ""
    too_many = allowed // (POOL_SIZE + MAX_OVERFLOW) + 1
    _warn_if_connections_short(engine, too_many)
    warned = capsys.readouterr().err
    assert f"warning: {too_many} workers may open up to" in warned
    assert "Run fewer workers, or raise max_connections" in warned


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_workers_group_commit_writes_batches_side_by_side_on_postgresql(engine):
    """Several writer threads, each a batch in a transaction of its own; a result only after
    its commit; a failing job fails alone; idle writers give their connections back."""
    import threading

    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from survey.db.group_commit import PARALLEL_WRITERS, GroupCommit

    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE gc_probe (k TEXT PRIMARY KEY)"))
    writer = GroupCommit(engine, idle_seconds=0.2)
    assert writer.writers == PARALLEL_WRITERS > 1
    inside = {"a": threading.Event(), "b": threading.Event()}
    release = threading.Event()

    def insert(key: str, wait: bool = False):
        def job(connection):
            connection.execute(text("INSERT INTO gc_probe (k) VALUES (:k)"), {"k": key})
            if wait:
                inside[key].set()
                release.wait(10)
            return key

        return job

    first = writer.submit(insert("a", wait=True))
    assert inside["a"].wait(10)
    # The first writer is busy with its batch: a second one takes the next job meanwhile.
    second = writer.submit(insert("b", wait=True))
    assert inside["b"].wait(10)
    with engine.connect() as connection:  # neither is committed, nor answered
        assert connection.execute(text("SELECT count(*) FROM gc_probe")).scalar() == 0
    assert not first.done() and not second.done()
    release.set()
    assert (first.result(10), second.result(10)) == ("a", "b")

    futures = [writer.submit(insert(k)) for k in ("c", "a", "d")]
    assert futures[0].result(10) == "c" and futures[2].result(10) == "d"
    with pytest.raises(IntegrityError):
        futures[1].result(10)
    with engine.connect() as connection:
        keys = set(connection.execute(text("SELECT k FROM gc_probe")).scalars())
    assert keys == {"a", "b", "c", "d"}
    writer.close()
    for _ in range(100):
        if writer._running == 0:
            break
        time.sleep(0.05)
    assert writer._running == 0 and engine.pool.checkedout() == 0

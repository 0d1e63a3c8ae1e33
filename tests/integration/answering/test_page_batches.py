"""Pages saved together in one group-commit batch, as the web form's POST saves them.

The route reads the link, checks the page and writes it inside the batch's transaction; these
tests run that job (survey only, no HTTP) for double taps that land in the same batch.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlmodel import Session

from survey.answering.pages import apply_page, plan_page, read_link, stored_answers
from survey.db.group_commit import GroupCommit
from survey.db.tables import Answer, Invitation, Response
from tests.integration.answering.web_pages import FULL

FIRST_PAGE = {"img_advertising": "4", "img_position": "5", "img_innovation": "6"}


def save_job(token: str, values: dict[str, str], complete: bool = False):
    def job(connection):
        link = read_link(connection, token)
        if link.completed:
            return False
        write = plan_page(link, values, language="zh", complete=complete)
        return apply_page(connection, write)

    return job


def one_writer(engine) -> GroupCommit:
    """A group commit with one writer, whose batches these tests are about (on PostgreSQL a
    group commit has several writers, and two jobs may then land in two transactions: which
    of two completing pages wins is then the database's order, not the batch's)."""
    return GroupCommit(engine, writers=1)


def in_one_batch(writer: GroupCommit, jobs) -> list:
    started, release = threading.Event(), threading.Event()
    first = writer.submit(lambda _connection: (started.set(), release.wait(10)))
    started.wait(10)
    futures = [writer.submit(job) for job in jobs]
    release.set()
    first.result(10)
    return [future.result(10) for future in futures]


def responses(engine) -> list[Response]:
    with Session(engine) as session:
        return list(session.execute(select(Response)).scalars())


def test_two_first_pages_of_one_link_in_one_batch_make_one_response(engine, world):
    token = world["zh"][0]
    writer = one_writer(engine)
    changed = {**FIRST_PAGE, "img_position": "1"}
    results = in_one_batch(writer, [save_job(token, FIRST_PAGE), save_job(token, changed)])
    assert results == [True, True]
    assert writer.commits == 2  # the blocker's, then both pages together
    [response] = responses(engine)
    assert response.status == "in_progress" and response.channel == "sms_link"
    with Session(engine) as session:
        assert stored_answers(session, response.id) == changed
        # The second tap read the first one's rows in the same transaction: one new row only.
        rows = session.execute(select(func.count()).select_from(Answer)).scalar_one()
        assert rows == len(FIRST_PAGE) + 1
        invitation = session.get(Invitation, response.invitation_id)
        assert invitation.status == "started"


def test_two_completing_pages_in_one_batch_complete_the_response_once(engine, world):
    token = world["zh"][0]
    writer = one_writer(engine)
    everything_but_nps = {k: v for k, v in FULL.items() if k != "nps"}
    assert writer.run(save_job(token, everything_but_nps)) is True
    results = in_one_batch(
        writer,
        [save_job(token, {"nps": "4"}, complete=True), save_job(token, {"nps": "10"}, True)],
    )
    assert results == [True, False]
    [response] = responses(engine)
    assert response.status == "completed"
    with Session(engine) as session:
        assert stored_answers(session, response.id)["nps"] == "4"
        assert session.get(Invitation, response.invitation_id).status == "completed"

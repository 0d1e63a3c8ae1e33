"""The interviewer's pages (/calls), through real logins, on SQLite and PostgreSQL.

The app's clock is ``app.state.clock``: tests move it across simulated days. Times are wall
clock in Shanghai (the customers' zone): ``at(2, 10, 30)`` is 2 March 2026, 10:30 there.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from api.settings import Settings
from api.web.answering_pages import csrf_token as page_csrf
from api.web.app import create_app
from survey.answering.pages import stored_answers
from survey.db.tables import (
    CallAttempt,
    CallCase,
    FollowUp,
    Response,
)
from survey.frames.phones import mask_phone
from survey.remedy.report import weekly_report
from tests.integration.answering.web_pages import FULL, csrf, form_action, questions
from tests.integration.cati.call_pages import (
    BASE,
    DONT_KNOW,
    REFUSED,
    SHANGHAI,
    at,
    audit_rows,
    case_row,
    make_world,
    open_follow_up,
    post,
    record,
    take_next,
)
from tests.integration.staff_login import SECRET

pytestmark = pytest.mark.usefixtures("cheap_hashing")


# --- a full case through the pages ------------------------------------------------------------


def test_mask_phone_shows_the_prefix_and_the_last_four_digits_only():
    assert mask_phone("+8613812348000") == "+86 138****8000"
    assert mask_phone("+12125550142") == "+1 212***0142"


def test_an_interviewer_takes_a_case_reveals_the_number_and_completes_the_interview(
    engine, world, login, clock
):
    a = login("ann")
    first = world["cases"][0]
    assert take_next(a) == first
    case_page = a.get(f"/calls/{first}")
    customer_id = world["customers"][0]
    phone = world["phones"][customer_id]
    assert case_page.status_code == 200
    assert mask_phone(phone) in case_page.text and phone not in case_page.text
    assert case_page.headers["cache-control"] == "no-store"
    assert 'accesskey="r"' in case_page.text and 'accesskey="s"' in case_page.text

    # Revealing the number shows it once, and the access is on record before it is shown.
    clock.now = at(1, 10, 1)
    revealed = post(a, f"/calls/{first}/reveal", case_page.text)
    assert revealed.status_code == 200 and f'href="tel:{phone}"' in revealed.text
    (row,) = audit_rows(engine)
    assert (row.staff_id, row.target, row.at) == (
        world["staff"]["ann"],
        f"customer:{customer_id}",
        at(1, 10, 1),
    )
    assert row.detail == {"field": "phone", "purpose": "dial", "case_id": first}
    assert phone not in a.get(f"/calls/{first}").text

    # The questionnaire: the respondent's page flow in interviewer mode.
    started = post(a, f"/calls/{first}/interview", case_page.text)
    assert started.headers["location"] == f"/calls/interview/case-{first}"
    page = a.get(started.headers["location"])
    assert page.status_code == 200, page.text
    assert f'href="/calls/{first}"' in page.text  # the way back to the case
    assert "· None" not in page.text  # a phone interview has no service hall to show
    answers = dict(FULL)
    asked_first = questions(page.text)
    # "Refused" and "don't know" are offered to the interviewer as two distinct codes.
    for code in (REFUSED, DONT_KNOW):
        assert f'name="{asked_first[0]}" value="{code}"' in page.text
    answers[asked_first[0]], answers[asked_first[1]] = REFUSED, DONT_KNOW
    pages = 0
    while True:
        pages += 1
        clock.now += timedelta(minutes=1)
        data = {"csrf": csrf(page.text), **{n: answers[n] for n in questions(page.text)}}
        reply = a.post(form_action(page.text), data=data)
        assert reply.status_code == 303, reply.text
        location = reply.headers["location"]
        # Saving a page renews the hold (20 minutes from the save).
        assert case_row(engine, first).held_until == clock.now + timedelta(minutes=20)
        if location.endswith("/done") or "/done?" in location:
            break
        page = a.get(location)
    assert pages > 1
    back = a.get(location)
    assert back.headers["location"] == f"/calls/{first}?m=completed"
    done_page = a.get(back.headers["location"])
    assert "questionnaire is complete" in done_page.text

    clock.now = at(1, 10, 20)
    recorded = post(a, f"/calls/{first}/outcome", done_page.text, outcome="complete", notes="ok")
    assert (recorded.status_code, recorded.headers["location"]) == (303, "/calls?m=recorded")
    with Session(engine) as session:
        call_case = session.get(CallCase, first)
        assert (call_case.status, call_case.final_disposition) == ("final", "1.1")
        response = session.get(Response, call_case.response_id)
        assert (response.status, response.channel, response.interviewer) == (
            "completed",
            "cati",
            "ann",
        )
        stored = stored_answers(session, response.id)
        assert (stored[asked_first[0]], stored[asked_first[1]]) == (REFUSED, DONT_KNOW)
        (attempt,) = session.execute(select(CallAttempt)).scalars()
        # The call started when the number was revealed to dial.
        assert (attempt.started_at, attempt.ended_at) == (at(1, 10, 1), at(1, 10, 20))
        assert (attempt.outcome, attempt.notes) == ("complete", "ok")
    queue = a.get("/calls?m=recorded")
    assert re.search(r'id="my-completes">1<', queue.text)
    assert re.search(r'id="my-attempts">1<', queue.text)
    # The case is final: its page is closed to everyone now.
    assert a.get(f"/calls/{first}").status_code == 403


def test_a_complete_without_the_finished_questionnaire_is_refused_and_a_stop_follows_the_threshold(
    engine, world, login, clock
):
    a = login("ann")
    first = world["cases"][0]
    assert take_next(a) == first
    page = a.get(f"/calls/{first}")
    post(a, f"/calls/{first}/interview", page.text)
    reply = record(a, first, outcome="complete")
    assert reply.status_code == 422 and "a complete needs the case" in reply.text
    reply = record(a, first, outcome="appointment")
    assert reply.status_code == 422 and "Give the appointment" in reply.text
    assert case_row(engine, first).attempts == 0
    # Nothing answered: a stop is a break-off, decided by the threshold, not the interviewer.
    assert record(a, first, outcome="stopped").status_code == 303
    with Session(engine) as session:
        (attempt,) = session.execute(select(CallAttempt)).scalars()
        assert (attempt.outcome, attempt.disposition) == ("break_off", "2.12")


# --- holds ------------------------------------------------------------------------------------


def test_an_interviewer_is_refused_a_case_another_interviewer_holds(engine, world, login):
    a, b = login("ann"), login("ben")
    first = world["cases"][0]
    assert take_next(a) == first
    queue = b.get("/calls")
    for reply in (
        b.get(f"/calls/{first}"),
        post(b, f"/calls/{first}/reveal", queue.text),
        post(b, f"/calls/{first}/outcome", queue.text, outcome="no_answer"),
        post(b, f"/calls/{first}/release", queue.text),
        b.get(f"/calls/interview/case-{first}"),
    ):
        assert reply.status_code == 403, reply.text
        assert "不在您手上" in reply.text
        assert world["phones"][world["customers"][0]] not in reply.text
    # A page's field is tied to the session it was shown to: B has none for this case.
    posted = b.post(
        f"/calls/interview/case-{first}/p/1",
        data={"csrf": page_csrf(SECRET, f"case-{first}"), "img_advertising": "1"},
    )
    assert posted.status_code == 403
    assert world["phones"][world["customers"][0]] not in posted.text
    assert audit_rows(engine) == []
    assert case_row(engine, first).held_by == world["staff"]["ann"]
    # B is given another case; A gives theirs back, and B then gets it.
    assert take_next(b) == world["cases"][1]
    page = a.get(f"/calls/{first}")
    assert post(a, f"/calls/{first}/release", page.text).headers["location"] == "/calls?m=released"
    assert case_row(engine, first).held_by is None
    record(b, world["cases"][1], outcome="no_answer")
    assert take_next(b) == first


def test_a_form_without_the_session_csrf_field_is_refused(engine, world, login):
    a = login("ann")
    first = world["cases"][0]
    assert take_next(a) == first
    assert a.post(f"/calls/{first}/reveal", data={"csrf": "forged"}).status_code == 403
    assert audit_rows(engine) == []


def test_two_interviewers_pressing_next_at_once_never_get_the_same_case(
    engine, sample_questionnaire, login
):
    rounds = 8
    world = make_world(engine, sample_questionnaire, n=2 * rounds)
    clients = {"ann": login("ann"), "ben": login("ben")}
    barrier = threading.Barrier(2, timeout=60)
    got: dict[str, list[int]] = {"ann": [], "ben": []}
    errors: list[BaseException] = []

    def work(who: str) -> None:
        client = clients[who]
        try:
            for _ in range(rounds):
                queue = client.get("/calls")
                barrier.wait()
                reply = post(client, "/calls/next", queue.text)
                case_id = int(reply.headers["location"].rsplit("/", 1)[1])
                got[who].append(case_id)
                barrier.wait()  # both hold a case now: any overlap would show here
                assert record(client, case_id, outcome="hard_refusal").status_code == 303
        except (AssertionError, KeyError, ValueError, threading.BrokenBarrierError) as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(who,)) for who in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors
    assert len(got["ann"]) == len(got["ben"]) == rounds
    assert not set(got["ann"]) & set(got["ben"])
    assert sorted(got["ann"] + got["ben"]) == world["cases"]


# --- appointments -----------------------------------------------------------------------------


def test_an_appointment_made_on_the_page_is_served_at_its_time(
    engine, sample_questionnaire, login, clock
):
    world = make_world(engine, sample_questionnaire, n=1)
    (only,) = world["cases"]
    a, b = login("ann"), login("ben")
    assert take_next(a) == only
    clock.now = at(1, 10, 5)
    late = record(a, only, outcome="appointment", appointment_date="2026-03-01",
                  appointment_time="22:00")  # fmt: skip
    assert late.status_code == 422 and "outside the calling hours" in late.text
    made = record(a, only, outcome="appointment", appointment_date="2026-03-02",
                  appointment_time="10:30", notes="call after the meeting")  # fmt: skip
    assert made.status_code == 303
    row = case_row(engine, only)
    assert row.appointment_at == row.next_call_at == at(2, 10, 30)
    clock.now = at(2, 10, 29)
    assert take_next(b) is None
    assert "No case is due now" in b.get("/calls?m=empty").text
    clock.now = at(2, 10, 30)
    assert take_next(b) == only
    page = b.get(f"/calls/{only}")
    # B sees A's call, its appointment and its notes.
    assert "call after the meeting" in page.text and "2026-03-02 10:30" in page.text


# --- follow-ups -------------------------------------------------------------------------------


def test_a_follow_up_is_called_first_and_closed_on_the_page(engine, world, login, clock):
    opened = open_follow_up(engine, world, at(1, 9, 55))
    assert opened is not None and "overall_dissatisfied" in opened.reasons
    a = login("ann")
    assert take_next(a) == opened.case_id
    page = a.get(f"/calls/{opened.case_id}")
    assert "总体满意度低" in page.text and "overall satisfaction 2 or less" in page.text
    assert "Very dissatisfied" in page.text  # the low answer that opened it
    assert 'value="stopped"' not in page.text  # no questionnaire to stop
    clock.now = at(1, 10, 10)
    unresolved = record(a, opened.case_id, outcome="complete")
    assert unresolved.status_code == 422 and "resolved or not" in unresolved.text
    no_cause = record(a, opened.case_id, outcome="complete", remedy="resolved")
    assert no_cause.status_code == 422 and "Choose the root cause" in no_cause.text
    closed = record(a, opened.case_id, outcome="complete", remedy="resolved",
                    root_cause="network", notes="new SIM sent")  # fmt: skip
    assert closed.status_code == 303
    with Session(engine) as session:
        follow_up = session.get(FollowUp, opened.follow_up_id)
        assert (follow_up.status, follow_up.outcome, follow_up.root_cause) == (
            "closed",
            "resolved",
            "network",
        )
        assert (follow_up.closed_by, follow_up.closed_at) == (world["staff"]["ann"], at(1, 10, 10))
        call_case = session.get(CallCase, opened.case_id)
        assert (call_case.status, call_case.final_disposition) == ("final", "1.1")
        report = weekly_report(session, at(1, 0).astimezone(SHANGHAI).date(), "Asia/Shanghai",
                               now=at(1, 12))  # fmt: skip
    assert (report.opened, report.closed, report.closed_within_sla) == (1, 1, 1)
    assert report.by_outcome == {"resolved": 1} and report.resolution_rate == 1.0


def test_an_unreachable_follow_up_is_closed_without_a_root_cause(engine, world, login, clock):
    opened = open_follow_up(engine, world, at(1, 9, 55))
    a = login("ann")
    assert take_next(a) == opened.case_id
    wrong = record(a, opened.case_id, outcome="no_answer", remedy="resolved", root_cause="hall")
    assert wrong.status_code == 422 and "needs the outcome" in wrong.text
    assert record(a, opened.case_id, outcome="no_answer", remedy="unreachable").status_code == 303
    with Session(engine) as session:
        follow_up = session.get(FollowUp, opened.follow_up_id)
        assert (follow_up.outcome, follow_up.root_cause) == ("unreachable", None)
        assert session.get(CallCase, opened.case_id).status == "final"


# --- who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["mgr", "res", "boss"])
def test_only_callers_reach_the_interviewer_pages(engine, world, login, username):
    client = login(username)
    first = world["cases"][0]
    queue = client.get("/calls")
    if username == "boss":  # supervisors call customers too
        assert queue.status_code == 200
        return
    assert queue.status_code == 403
    account = client.get("/me")
    for reply in (
        client.get(f"/calls/{first}"),
        post(client, "/calls/next", account.text),
        post(client, f"/calls/{first}/reveal", account.text),
        client.get(f"/calls/interview/case-{first}"),
    ):
        assert reply.status_code == 403
    assert audit_rows(engine) == [] and case_row(engine, first).held_by is None


def test_the_pages_send_a_signed_out_browser_to_the_login(world, database_url):
    settings = Settings(database_url=database_url, public_base_url=BASE, env="test",
                        secret_key=SECRET)  # fmt: skip
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        reply = client.get("/calls", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=")

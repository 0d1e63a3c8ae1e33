"""The interviewer's desk: the interview pages for the phone (instructions, number keys, the
interviewer's missing codes) and the queue that says why no case is due and lists the
call-backs the interviewer booked. Through real logins, on SQLite and PostgreSQL.

Times are wall clock in Shanghai, ``MANYI_TIMEZONE`` of these apps: ``at(1, 7)`` is 1 March
2026, 07:00 there.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from sqlmodel import Session

from api.web.answering_pages import KEYS_SCRIPT
from survey.campaigns.lifecycle import change_status
from survey.db.tables import Campaign
from tests.integration.answering.web_pages import FULL, csrf, form_action, questions
from tests.integration.cati.call_pages import at, make_world, post, record, take_next

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def why(page: str) -> str:
    found = re.search(r'<ul id="why"[^>]*>(.*?)</ul>', page, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""


def start_interview(client, case_id: int):
    case_page = client.get(f"/calls/{case_id}")
    started = post(client, f"/calls/{case_id}/interview", case_page.text)
    return client.get(started.headers["location"])


# --- why nothing is due -----------------------------------------------------------------------


def test_before_the_calling_hours_the_queue_says_so_and_when_they_open(
    engine, sample_questionnaire, login, clock
):
    make_world(engine, sample_questionnaire, n=3)
    clock.now = at(1, 7, 30)
    a = login("ann")
    assert take_next(a) is None
    page = a.get("/calls?m=empty").text
    assert "No case is due now" in page
    said = why(page)
    assert "Outside the calling hours (09:00-21:00 Asia/Shanghai): 3 due case(s)" in said
    assert "Next case due: 2026-03-01 09:00 (Asia/Shanghai)." in said
    assert "下一个案例到期：2026-03-01 09:00（Asia/Shanghai）" in said
    clock.now = at(1, 9)
    assert why(a.get("/calls").text) == ""  # due now: nothing to explain
    assert take_next(a) is not None


def test_due_cases_held_by_other_interviewers_are_named_as_the_reason(
    engine, sample_questionnaire, login, clock
):
    world = make_world(engine, sample_questionnaire, n=1)
    a, b = login("ann"), login("ben")
    assert take_next(a) == world["cases"][0]
    assert take_next(b) is None
    said = why(b.get("/calls?m=empty").text)
    assert "1 due case(s) are held by other interviewers." in said
    assert "Next case due" not in said  # the only case is on someone else's screen
    # The holder sees the case they hold, not a reason.
    assert why(a.get("/calls").text) == ""


def test_a_booked_call_back_is_in_my_appointments_and_is_why_nothing_is_due(
    engine, sample_questionnaire, login, clock
):
    world = make_world(engine, sample_questionnaire, n=1)
    (only,) = world["cases"]
    a, b = login("ann"), login("ben")
    assert take_next(a) == only
    clock.now = at(1, 10, 5)
    made = record(a, only, outcome="appointment", appointment_date="2026-03-02",
                  appointment_time="10:30", notes="after the meeting")  # fmt: skip
    assert made.status_code == 303
    page = a.get("/calls").text
    row = re.search(rf'<tr id="appointment-{only}">(.*?)</tr>', page, re.S).group(1)
    assert "2026-03-02 10:30" in row and f"#{only}" in row and "after the meeting" in row
    assert "Phone March" in row and "due" not in row
    said = why(page)
    assert "1 case(s) wait for their next call time (1 of them appointments)." in said
    assert "Next case due: 2026-03-02 10:30 (Asia/Shanghai)." in said
    # Ben did not book it: not in his appointments, though he may be served it when due.
    assert 'id="appointments"' not in b.get("/calls").text
    assert "You have no call-backs booked." in b.get("/calls").text
    clock.now = at(2, 10, 31)
    assert "已到时" in a.get("/calls").text
    assert take_next(b) == only
    page = a.get("/calls").text
    assert "held by another interviewer" in page


def test_interview_cases_of_a_paused_campaign_are_named_as_paused(
    engine, sample_questionnaire, login, clock
):
    world = make_world(engine, sample_questionnaire, n=2)
    with Session(engine) as session:
        change_status(session, session.get(Campaign, world["campaign_id"]), "pause")
    a = login("ann")
    assert take_next(a) is None
    said = why(a.get("/calls?m=empty").text)
    assert "2 interview case(s) belong to paused or ended campaigns." in said
    assert "There is no case left to call." in said


# --- the interview pages ----------------------------------------------------------------------


def test_the_interview_page_reads_out_instructions_and_keys_every_answer(
    engine, sample_questionnaire, login, clock
):
    world = make_world(engine, sample_questionnaire, n=1)
    a = login("ann")
    first = take_next(a)
    assert first == world["cases"][0]
    page = start_interview(a, first)
    assert page.status_code == 200
    html = page.text
    assert '<body class="desk">' in html and "data-desk" in html
    # The first item of the page carries its read-out instruction, the others none.
    assert html.count('class="instruction"') == 1
    assert "读出：“下面请您为我们公司的几个方面打分。”" in html
    # Each answer has its key: 1-5 the scale, 6 cannot answer, 7 refused, 8 don't know.
    for code in map(str, range(1, 9)):
        assert f'name="img_advertising" value="{code}" data-key="{code}"' in html
    # The one script is inline and allowed by its hash, nothing else may run.
    assert f"<script>{KEYS_SCRIPT}</script>" in html and html.count("<script") == 1
    digest = base64.b64encode(hashlib.sha256(str(KEYS_SCRIPT).encode()).digest()).decode()
    policy = page.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in policy
    script_src = policy.split("script-src")[1].split(";")[0]
    assert "default-src 'none'" in policy and script_src == f" 'sha256-{digest}'"


def test_nps_and_yes_no_offer_the_interviewer_refused_and_dont_know(
    engine, sample_questionnaire, login, clock
):
    world = make_world(engine, sample_questionnaire, n=1)
    a = login("ann")
    page = start_interview(a, take_next(a))
    seen = set()
    while True:
        html = page.text
        names = questions(html)
        seen.update(names)
        if "complained" in names:
            for code, key in (("yes", "1"), ("no", "2"), ("77", "3"), ("88", "4")):
                assert f'name="complained" value="{code}" data-key="{key}"' in html
            assert "拒绝回答" in html and "不知道" in html
        if "nps" in names:
            # The 0-10 scale is keyed by its scores; refused and don't know come after.
            assert 'name="nps" value="7" data-key="7"' in html
            assert 'name="nps" value="77" data-key="11"' in html
            assert 'name="nps" value="88" data-key="12"' in html
        answers = {n: FULL[n] for n in names}
        reply = a.post(form_action(html), data={"csrf": csrf(html), **answers})
        assert reply.status_code == 303, reply.text
        if "/done" in reply.headers["location"]:
            break
        page = a.get(reply.headers["location"])
    assert {"complained", "nps"} <= seen
    assert world["cases"]

"""The supervisor's pages (/supervision), through real logins, on SQLite and PostgreSQL.

Calls are made with :mod:`survey.cati.queue` directly (the interviewer's pages have their own
tests in test_call_pages.py); the supervisor's pages are read through HTTP. Times are wall
clock in Shanghai: ``at(1, 10, 30)`` is Sunday 1 March 2026, 10:30 there.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlmodel import Session

from survey.cati.queue import (
    next_case,
    open_phone_interview,
    record_attempt,
    start_phone_interview,
)
from survey.db.tables import AuditLog, CallCase, Staff
from survey.staff import audit
from tests.integration.cati.call_pages import (
    at,
    audit_rows,
    case_row,
    make_world,
    open_follow_up,
    post,
    record,
    save_answers,
    take_next,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def world(engine, sample_questionnaire):
    # Calling from 07:00: a call at 07:30 in Shanghai is 23:30 UTC the day before.
    return make_world(engine, sample_questionnaire, n=5, calling={"hours": "07:00-21:00"})


def call(engine, world, who, taken: datetime, ended: datetime, outcome="complete", **kwargs):
    """Take the next case as ``who`` at ``taken`` and record ``outcome`` at ``ended``; a
    complete first answers every required question."""
    staff_id = world["staff"][who]
    with Session(engine) as session:
        case = next_case(session, staff_id, taken)
        if outcome == "complete":
            start_phone_interview(session, case.id, staff_id, taken)
            link = open_phone_interview(session, case.id, staff_id)
            values = {item.name: "4" for item in link.questionnaire.items if item.required}
            assert save_answers(session, link, values, language="zh", complete=True, now=ended)
        record_attempt(session, case.id, staff_id, outcome, ended, started_at=taken, **kwargs)
        return case.id


def cells(html: str, row_id: str) -> list[str]:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r'<td class="n">(.*?)</td>', row)]


def test_the_dashboard_shows_the_queue_held_cases_and_the_numbers_of_the_day(
    engine, world, login, clock
):
    call(engine, world, "ann", at(1, 10), at(1, 10, 12))  # complete, 12 minutes
    call(engine, world, "ben", at(1, 10), at(1, 10, 5), "soft_refusal")
    call(engine, world, "ann", at(1, 10, 15), at(1, 10, 20), "appointment",
         appointment_at=at(1, 15))  # fmt: skip
    with Session(engine) as session:
        held = next_case(session, world["staff"]["ben"], at(1, 11)).id
    clock.now = at(1, 11, 10)
    page = login("boss").get("/supervision")
    assert page.status_code == 200, page.text
    # Open: the refusal (in 7 days), the appointment (15:00), the held one and one fresh.
    assert cells(page.text, f"queue-{world['campaign_id']}") == ["4", "1", "1", "1"]
    held_row = re.search(rf'<tr id="held-{held}">(.*?)</tr>', page.text, re.S).group(1)
    assert "BEN" in held_row and "11:00" in held_row and "11:20" in held_row
    assert cells(page.text, "person-ann") == ["2", "1", "0% (0/1)", "12.0 min"]
    assert cells(page.text, "person-ben") == ["1", "0", "100% (1/1)", "–"]
    assert cells(page.text, "team") == ["3", "1", "50% (1/2)", "12.0 min"]
    assert '<td>ann</td><td class="n">2 / 1</td>' in page.text  # the hour 10:00
    assert world["phones"][world["customers"][0]] not in page.text
    # Another day has its own numbers.
    other = login("boss").get("/supervision?day=2026-03-02")
    assert cells(other.text, "team") == ["0", "0", "–", "–"]


def test_a_supervisor_reassigns_and_releases_cases_with_an_audit_row_each(
    engine, world, login, clock
):
    ann, ben, boss = login("ann"), login("ben"), login("boss")
    first = take_next(ben)
    page = boss.get("/supervision")
    reply = post(boss, "/supervision/reassign", page.text, case_id=first,
                 to=world["staff"]["ann"])  # fmt: skip
    assert (reply.status_code, reply.headers["location"]) == (303, "/supervision?m=reassigned")
    assert ben.get(f"/calls/{first}").status_code == 403
    assert take_next(ann) == first
    # Ann holds a case now: a second one is refused, with the reason on the page.
    second = take_next(ben)
    busy = post(boss, "/supervision/reassign", page.text, case_id=second,
                to=world["staff"]["ann"])  # fmt: skip
    assert busy.status_code == 409 and "holds case" in busy.text
    released = post(boss, "/supervision/release", page.text, case_id=second)
    assert released.headers["location"] == "/supervision?m=released"
    with Session(engine) as session:
        assert session.get(CallCase, second).held_by is None
    rows = [(r.action, r.target, r.detail) for r in audit_rows(engine, "case_reassigned")]
    assert rows == [
        (
            "case_reassigned",
            f"call_case:{first}",
            {"from": world["staff"]["ben"], "to": world["staff"]["ann"]},
        )
    ]
    (row,) = audit_rows(engine, "case_released")
    assert (row.target, row.detail) == (f"call_case:{second}", {"from": world["staff"]["ben"]})
    # Without the session's CSRF field nothing happens.
    forged = boss.post("/supervision/release", data={"csrf": "x", "case_id": str(first)})
    assert forged.status_code == 403
    with Session(engine) as session:
        assert session.get(CallCase, first).held_by == world["staff"]["ann"]


def test_the_productivity_export_counts_completes_per_interviewer_and_local_day_exactly(
    engine, world, login
):
    with Session(engine) as session:
        ben = session.get(Staff, world["staff"]["ben"])
        ben.display_name = "=Ben"  # typed by a person: must not become a formula
        session.add(ben)
        session.commit()
    call(engine, world, "ann", at(1, 10), at(1, 10, 9))
    call(engine, world, "ben", at(1, 11), at(1, 11, 8))
    call(engine, world, "ann", at(1, 12), at(1, 12, 1), "no_answer")
    # 07:30 on 2 March in Shanghai is still 1 March in UTC: it counts for 2 March.
    call(engine, world, "ann", at(2, 7, 30), at(2, 7, 40))
    call(engine, world, "ben", at(3, 10), at(3, 10, 10))  # after the period
    boss = login("boss")
    reply = boss.get("/supervision/productivity.csv?from=2026-03-01&to=2026-03-02")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert "productivity_2026-03-01_2026-03-02.csv" in reply.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(reply.text))) == [
        ["date", "username", "display_name", "completes"],
        ["2026-03-01", "ann", "ANN", "1"],
        ["2026-03-01", "ben", "'=Ben", "1"],
        ["2026-03-02", "ann", "ANN", "1"],
    ]
    (row,) = audit_rows(engine, audit.EXPORT)
    assert (row.staff_id, row.target) == (world["staff"]["boss"], "productivity.csv")
    assert row.detail == {"from": "2026-03-01", "to": "2026-03-02", "rows": 3, "completes": 3,
                          "timezone": "Asia/Shanghai"}  # fmt: skip
    whole = boss.get("/supervision/productivity.csv?from=2026-03-01&to=2026-03-31")
    assert whole.text.count("\n") == 5  # header and four interviewer-days
    assert boss.get("/supervision/productivity.csv?from=2026-03-02&to=2026-03-01").status_code == (
        422
    )
    assert boss.get("/supervision/productivity.csv?from=yesterday&to=2026-03-01").status_code == (
        422
    )
    assert len(audit_rows(engine, audit.EXPORT)) == 2


def test_a_follow_up_closed_on_the_interviewer_page_appears_in_the_weekly_report(
    engine, world, login, clock
):
    closed = open_follow_up(engine, world, at(1, 9, 55))
    late = open_follow_up(engine, {**world, "customers": world["customers"][1:]}, at(1, 9, 56))
    ann = login("ann")
    assert take_next(ann) == closed.case_id
    clock.now = at(1, 10, 10)
    done = record(ann, closed.case_id, outcome="complete", remedy="resolved", root_cause="billing")
    assert done.status_code == 303
    clock.now = at(3, 10)  # the other one is past its 48 hours now
    boss = login("boss")
    report = boss.get("/supervision/follow-ups?week=2026-03-01")
    assert report.status_code == 200, report.text
    names = ("opened", "closed", "within-sla", "resolution-rate", "breaches")
    number = {k: re.search(rf'id="{k}">([^<]*)<', report.text).group(1) for k in names}
    assert number == {"opened": "2", "closed": "1", "within-sla": "1",
                      "resolution-rate": "100%", "breaches": "1"}  # fmt: skip
    assert cells(report.text, "outcome-resolved") == ["1"]
    assert cells(report.text, "cause-billing") == ["1", "1"]
    assert f'id="follow-up-{late.follow_up_id}"' in report.text
    assert f'id="follow-up-{closed.follow_up_id}"' not in report.text
    assert "past due" in report.text
    # The default week starts on Monday 2 March: nothing was opened in it.
    assert re.search(r'id="opened">0<', boss.get("/supervision/follow-ups").text)
    # Managers read the report too, but not the call team's dashboard.
    manager = login("mgr")
    assert manager.get("/supervision/follow-ups?week=2026-03-01").status_code == 200
    assert manager.get("/supervision").status_code == 403


def test_an_interviewer_is_refused_every_supervisor_page(engine, world, login):
    ann = login("ann")
    first = take_next(ann)
    queue = ann.get("/calls")
    for reply in (
        ann.get("/supervision"),
        ann.get("/supervision/follow-ups"),
        ann.get("/supervision/productivity.csv?from=2026-03-01&to=2026-03-02"),
        post(ann, "/supervision/release", queue.text, case_id=first),
        post(ann, "/supervision/reassign", queue.text, case_id=first, to=world["staff"]["ben"]),
    ):
        assert reply.status_code == 403
    with Session(engine) as session:
        assert session.get(CallCase, first).held_by == world["staff"]["ann"]
        assert session.execute(select(AuditLog).where(AuditLog.action == "export")).first() is None


def test_a_supervisor_picks_a_case_from_the_list_and_hands_it_over_audited(
    engine, world, login, clock, monkeypatch
):
    from api.web.routers import supervision

    ben, boss = login("ben"), login("boss")
    taken = take_next(ben)
    page = boss.get("/supervision")
    listed = re.findall(r'<tr id="open-(\d+)">', page.text)
    # Every open case, in the queue's order (fresh ones by age), each with its own button.
    assert sorted(map(int, listed)) == sorted(world["cases"])
    for case_id in world["cases"]:
        assert f'name="case_id" value="{case_id}"' in page.text
    assert "Cases 1–5 of 5." in page.text
    held_row = re.search(rf'<tr id="open-{taken}">(.*?)</tr>', page.text, re.S).group(1)
    assert "ben" in held_row and "holds until" in held_row
    assert all(phone not in page.text for phone in world["phones"].values())
    # The row's button posts its case; the interviewer is chosen once above the list.
    picked = next(int(i) for i in listed if int(i) != taken)
    reply = post(boss, "/supervision/reassign", page.text, case_id=picked,
                 to=world["staff"]["ann"])  # fmt: skip
    assert (reply.status_code, reply.headers["location"]) == (303, "/supervision?m=reassigned")
    assert case_row(engine, picked).held_by == world["staff"]["ann"]
    (row,) = audit_rows(engine, "case_reassigned")
    assert (row.target, row.detail) == (
        f"call_case:{picked}",
        {"from": None, "to": world["staff"]["ann"]},
    )
    after = boss.get("/supervision").text
    picked_row = re.search(rf'<tr id="open-{picked}">(.*?)</tr>', after, re.S).group(1)
    assert "ann" in picked_row and "holds until" in picked_row
    # A campaign of its own, and pages of the list.
    assert "No open case." in boss.get("/supervision?campaign=999").text
    only = boss.get(f"/supervision?campaign={world['campaign_id']}").text
    assert len(re.findall(r'<tr id="open-', only)) == 5
    monkeypatch.setattr(supervision, "CASES_PER_PAGE", 2)
    second = boss.get(f"/supervision?campaign={world['campaign_id']}&cases_from=2").text
    assert re.findall(r'<tr id="open-(\d+)">', second) == listed[2:4]
    assert "Cases 3–4 of 5." in second
    assert f"campaign={world['campaign_id']}&amp;cases_from=0" in second
    assert f"campaign={world['campaign_id']}&amp;cases_from=4" in second
    assert boss.get("/supervision?cases_from=-1").status_code == 422

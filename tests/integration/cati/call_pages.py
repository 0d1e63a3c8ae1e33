"""The interviewer's pages driven as a browser would, and phone-campaign worlds: shared
helpers of the phone-interview tests (fixtures are in this folder's conftest.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from survey.answering.pages import apply_page, plan_page
from survey.campaigns.lifecycle import change_status, create_call_cases, create_campaign
from survey.db.tables import (
    Answer,
    AuditLog,
    CallCase,
    Customer,
    Response,
)
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.remedy.rules import open_follow_ups
from survey.staff import audit
from survey.staff.accounts import create_staff
from tests.integration.answering.web_pages import FULL, csrf
from tests.integration.staff_login import PASSWORD

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = "https://manyi.example.org"
#: The sample's interviewer codes on its 1-5 scales ("refused", "don't know").
REFUSED, DONT_KNOW = "7", "8"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


class Clock:
    """The app's clock: tests set ``now``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_world(engine, questionnaire, n=3, calling=None):
    """A running phone campaign with ``n`` cases, and one account per role."""
    with Session(engine) as session:
        version = publish(session, questionnaire)
        frame = store_frame(session, generate_frame(n + 2, seed=11), "phone", "test")
        customers = list(
            session.execute(
                select(Customer).where(Customer.frame_id == frame.id).order_by(Customer.id)
            ).scalars()
        )
        for customer in customers:
            customer.consent, customer.language = True, "zh"
            session.add(customer)
        session.commit()
        staff = {
            name: create_staff(session, name, role, PASSWORD, display_name=name.upper()).id
            for name, role in (
                ("ann", "interviewer"),
                ("ben", "interviewer"),
                ("boss", "supervisor"),
                ("mgr", "manager"),
                ("res", "researcher"),
            )
        }
        campaign = create_campaign(
            session, version.id, "Phone March", channels=["cati"], calling=calling or {}
        )
        change_status(session, campaign, "launch")
        create_call_cases(session, campaign, [c.id for c in customers[:n]], now=at(1, 8))
        cases = list(
            session.execute(
                select(CallCase.id).where(CallCase.campaign_id == campaign.id).order_by(CallCase.id)
            ).scalars()
        )
        return {
            "campaign_id": campaign.id,
            "version_id": version.id,
            "customers": [c.id for c in customers],
            "phones": {c.id: c.phone_e164 for c in customers},
            "staff": staff,
            "cases": cases,
        }


def post(client: TestClient, url: str, page_html: str, **data):
    return client.post(url, data={"csrf": csrf(page_html), **data})


def take_next(client: TestClient) -> int | None:
    """Press "next case"; the case id it leads to, or None when the queue is empty."""
    queue = client.get("/calls")
    assert queue.status_code == 200, queue.text
    reply = post(client, "/calls/next", queue.text)
    assert reply.status_code == 303, reply.text
    found = re.fullmatch(r"/calls/(\d+)", reply.headers["location"])
    return int(found.group(1)) if found else None


def record(client: TestClient, case_id: int, **data):
    page = client.get(f"/calls/{case_id}")
    assert page.status_code == 200, page.text
    return post(client, f"/calls/{case_id}/outcome", page.text, **data)


def audit_rows(engine, action=audit.PERSONAL_DATA_ACCESS) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.execute(select(AuditLog).where(AuditLog.action == action)).scalars())


def case_row(engine, case_id) -> CallCase:
    with Session(engine) as session:
        return session.get(CallCase, case_id)


def open_follow_up(engine, world, now):
    """A completed web response with overall satisfaction 1 of 5: a follow-up is opened."""
    with Session(engine) as session:
        response = Response(
            questionnaire_version_id=world["version_id"],
            customer_id=world["customers"][3],
            channel="web",
            language="zh",
            status="completed",
            started_at=now,
            completed_at=now,
        )
        session.add(response)
        session.flush()
        for name, value in {**FULL, "sat_overall": "1", "net_coverage": "2"}.items():
            session.add(Answer(response_id=response.id, item_name=name, value=value))
        session.flush()  # open_follow_ups reads through the connection, not the session
        opened = open_follow_ups(session, response.id, now)
        session.commit()
        return opened


def save_answers(session, link, values, *, language, complete, now=None):
    """Store answers to any items of an interview (not a page as posted), committed."""
    write = plan_page(link, values, language=language, complete=complete, now=now)
    saved = apply_page(session.connection(), write)
    session.commit()
    return saved

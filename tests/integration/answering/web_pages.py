"""The customer's questionnaire pages, read and answered as a browser would: shared helpers
of the answering tests (fixtures are in this folder's conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from survey.answering.pages import stored_answers
from survey.db.tables import Campaign, Response

SECRET = "respondent-pages-test-secret-0123456789"
BASE = "https://survey.example.org"
CSS = Path(__file__).resolve().parents[3] / "api" / "web" / "templates" / "respondent" / "form.css"

# Every answer of a customer who complained and is dissatisfied: both conditional questions
# (complaint_topic, improve) are asked. "6" is "cannot answer".
FULL = {
    "img_advertising": "4",
    "img_position": "5",
    "img_innovation": "6",
    "net_moving": "3",
    "net_clarity": "4",
    "net_coverage": "2",
    "net_dropped": "6",
    "net_data_speed": "1",
    "bil_notice": "2",
    "bil_clarity": "3",
    "bil_accuracy": "4",
    "bil_payment": "5",
    "hall_waiting": "1",
    "hall_complaints": "6",
    "hall_location": "4",
    "hall_hotline": "3",
    "hall_attitude": "5",
    "new_usefulness": "3",
    "new_notice": "2",
    "new_ease": "4",
    "complained": "yes",
    "complaint_topic": "话费多扣了 10 元",
    "cmp_speed": "2",
    "cmp_result": "1",
    "cmp_staff": "3",
    "sat_overall": "2",
    "sat_expectation": "2",
    "sat_ideal": "6",
    "improve": "Bill clarity",
    "loy_continue": "3",
    "loy_recommend": "2",
    "loy_price": "1",
    "nps": "4",
}
# A satisfied customer who never complained: neither conditional question is asked.
CONTENT = {**FULL, "complained": "no", "sat_overall": "4"}
del CONTENT["complaint_topic"], CONTENT["improve"]


def set_campaign(engine, campaign_id, **values):
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        for key, value in values.items():
            setattr(campaign, key, value)
        session.add(campaign)
        session.commit()


# -- reading pages ----------------------------------------------------------------------------


def form_action(html: str) -> str:
    return re.search(r'<form method="post" action="([^"]+)"', html).group(1)


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def questions(html: str) -> list[str]:
    """The item names a page asks, in order."""
    found = re.findall(r'<(?:input|textarea)[^>]* name="([a-z][a-z0-9_]*)"', html)
    return [name for name in dict.fromkeys(found) if name not in ("csrf", "lang")]


def checked(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="([a-z_0-9]+)" value="([^"]+)" checked', html))


def progress(html: str) -> tuple[int, int]:
    position, total = re.search(r'<progress max="(\d+)" value="(\d+)"', html).group(2, 1)
    return int(position), int(total)


def post_page(client, html: str, answers: dict[str, str], **extra):
    data = {"csrf": csrf(html), **{n: answers[n] for n in questions(html) if n in answers}}
    data.update(extra)
    return client.post(form_action(html), data=data)


def answer_all(
    client,
    token: str,
    answers: dict[str, str],
    stop_after: int | None = None,
    start: str | None = None,
):
    """Answer page after page from where the link resumes (``start``, by default the web
    form's ``/s/{token}``); returns the pages seen and the last response (the redirect to
    the thank-you page, or to the next page when stopped)."""
    page = client.get(start or f"/s/{token}")
    assert page.status_code == 200, page.text
    seen = []
    while True:
        seen.append((form_action(page.text), questions(page.text), page))
        reply = post_page(client, page.text, answers)
        assert reply.status_code == 303, reply.text
        location = reply.headers["location"]
        if "/done" in location or (stop_after is not None and len(seen) == stop_after):
            return seen, reply
        page = client.get(location)
        assert page.status_code == 200


def response_rows(engine):
    with Session(engine) as session:
        return list(session.execute(select(Response)).scalars())


def answers_of(engine, response_id):
    with Session(engine) as session:
        latest = stored_answers(session, response_id)
    return {name: value for name, value in latest.items() if value is not None}



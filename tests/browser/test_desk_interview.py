"""An interviewer at a desk: a phone interview at 1366 px answered with number keys only,
a refusal recorded on one question, and the stored answers read back from the live server's
database: the refused code where it was keyed, scores everywhere else. The same page then
fits a 360 px phone.

The case is handed to the interviewer by a supervisor (in the database, as the supervision
page does), so that the test does not depend on the calling hours at the time it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pandas as pd
import pytest
from sqlalchemy import select
from sqlmodel import Session

from survey.answering.pages import stored_answers
from survey.campaigns.lifecycle import change_status, create_call_cases, create_campaign
from survey.cati.queue import reassign_case
from survey.db.engine import make_engine
from survey.db.tables import CallCase, Customer, QuestionnaireVersion, Response
from survey.questionnaire.publish import load_version
from survey.questionnaire.scores import item_scores
from survey.staff.accounts import create_staff
from tests.common import PHONE

pytestmark = pytest.mark.browser

PASSWORD = "lantern orbit pebble sonata"
DESK = {"width": 1366, "height": 860}
#: Keys that differ from "4": a refusal (7 on the 1-5 scales), "no" (the 2nd answer) to the
#: complaint question, 9 on the 0-10 scale. Everything else is keyed 4.
KEYS = {"img_position": "7", "complained": "2", "nps": "9"}
REFUSED_ITEM = "img_position"


@pytest.fixture(scope="module")
def desk_case(live_server, live_database):
    """An interview case held by a new interviewer; yields (case id, username)."""
    engine = make_engine(f"sqlite:///{live_database}")
    try:
        with Session(engine) as session:
            version = session.execute(
                select(QuestionnaireVersion).where(QuestionnaireVersion.form_id == "csi_mobile")
            ).scalar_one()
            customer = session.execute(select(Customer).order_by(Customer.id.desc())).scalar()
            customer.consent, customer.language = True, "zh"
            session.add(customer)
            session.commit()
            interviewer = create_staff(session, "desk_ann", "interviewer", PASSWORD,
                                       display_name="Ann at the desk")  # fmt: skip
            boss = create_staff(session, "desk_boss", "supervisor", PASSWORD)
            campaign = create_campaign(session, version.id, "Desk calls", channels=["cati"])
            change_status(session, campaign, "launch")
            create_call_cases(session, campaign, [customer.id])
            case_id = session.execute(
                select(CallCase.id).where(CallCase.campaign_id == campaign.id)
            ).scalar_one()
            reassign_case(session, case_id, interviewer.id, boss.id, datetime.now(UTC))
        yield case_id, "desk_ann"
    finally:
        engine.dispose()


def sign_in(page, base: str, username: str, target: str) -> None:
    page.goto(f"{base}/login?next={quote(target, safe='')}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form button[type=submit]")


def key_in_page(page) -> list[str]:
    """Answer every question of the page by keys alone, then Enter; the names asked."""
    page.wait_for_selector("body.keys-on")  # the script ran: the page's policy allowed it
    names = [
        element.get_attribute("id")[2:]
        for element in page.locator("fieldset[data-question]").element_handles()
    ]
    for name in names:
        page.keyboard.press(KEYS.get(name, "4"))
    for name in names:
        checked = page.locator(f"input[name={name}]:checked")
        assert checked.get_attribute("data-key") == KEYS.get(name, "4"), name
    # The last answer moves the focus to the button: Enter sends the page.
    assert page.evaluate("document.activeElement.type") == "submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    return names


def test_an_interviewer_answers_by_number_keys_and_records_a_refusal(
    live_server, live_database, browser, desk_case
):
    case_id, username = desk_case
    context = browser.new_context(viewport=DESK, locale="zh-CN")
    page = context.new_page()
    try:
        sign_in(page, live_server, username, "/calls")
        with page.expect_navigation():
            page.click(f'a[href="/calls/{case_id}"]')
        with page.expect_navigation():
            page.click(f'form[action="/calls/{case_id}/interview"] button[type=submit]')
        assert "/calls/interview/case-" in page.url

        # The desk: the question large, its read-out instruction, every answer keyed.
        legend = page.locator("fieldset[data-question] legend").first
        assert legend.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 24
        assert "读出" in page.locator(".instruction").first.inner_text()
        refused = page.locator(f"#q-{REFUSED_ITEM} .opt").nth(6)
        assert refused.locator("kbd.key").inner_text() == "7"
        assert refused.inner_text().strip().endswith("拒绝回答")
        # The same page on a phone: nothing wider than the screen.
        page.set_viewport_size(PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.set_viewport_size(DESK)

        asked: list[str] = []
        while "/calls/interview/" in page.url:
            asked += key_in_page(page)
        assert page.url.endswith(f"/calls/{case_id}?m=completed")
        assert {REFUSED_ITEM, "complained", "sat_overall", "nps"} <= set(asked)
    finally:
        context.close()

    engine = make_engine(f"sqlite:///{live_database}")
    try:
        with Session(engine) as session:
            response = session.get(Response, session.get(CallCase, case_id).response_id)
            assert response.status == "completed" and response.channel == "cati"
            answers = stored_answers(session, response.id)
            questionnaire = load_version(
                session.get(QuestionnaireVersion, response.questionnaire_version_id)
            )
    finally:
        engine.dispose()
    assert answers[REFUSED_ITEM] == "7" and answers["complained"] == "no"
    scores = item_scores(pd.DataFrame([answers]), asked, questionnaire).iloc[0]
    assert pd.isna(scores[REFUSED_ITEM])  # refused: a missing value, never a score
    keyed = [name for name in asked if name != REFUSED_ITEM]
    assert scores[keyed].notna().all()
    assert scores["img_advertising"] == 4.0 and scores["nps"] == 9.0

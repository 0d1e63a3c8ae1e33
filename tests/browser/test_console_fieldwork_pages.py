"""The console's fieldwork pages at a desktop's 1366 px and a phone's 360 px: no text over
text, no sideways scrolling, no serious accessibility fault (as tests/browser/test_staff_pages).

One server for the module on a fresh database: a frame, an import report with problems, a
campaign with quotas launched, dispatched through the SMS simulator and partly answered
through the web form's routes, so that the monitor shows every section with numbers.
Screenshots go to the test's tmp_path, or to MANYI_SCREENSHOTS when set (page_checks).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.answering.links import invitation_token
from survey.db.engine import make_engine, upgrade
from survey.db.tables import FrameImportReport, Invitation
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.sms.dispatch import Dispatcher
from survey.sms.simulator_transport import SimulatorTransport
from survey.staff.accounts import create_staff
from tests.browser.staff_tabs import CHECKS, WIDTHS, StaffTabs, check_page
from tests.common import SAMPLES
from tests.integration.answering.web_pages import CONTENT, FULL, answer_all
from tests.integration.staff_login import field, log_in
from tests.service_process import local_base, serving

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
SECRET = "a-test-secret-that-is-long-enough-for-the-browser"

#: A report's problems, as the importer words them (long values included: they must wrap).
PROBLEMS = [
    {"row": 4, "column": "phone", "code": "invalid-phone", "value": "12345",
     "problem": "not a valid phone number", "fix": "write the number with its country code, "
     "e.g. +86 138 0013 8000"},
    {"row": 7, "column": "customer_id", "code": "duplicate-id", "value": "C000002",
     "problem": "the same id as row 3", "fix": "remove the repeated row, or give the customer "
     "their own id"},
    {"row": 9, "column": "service_hall", "code": "too-long",
     "value": "Hangzhou-West-Lake-District-Flagship-Service-Hall-Number-Twelve-North-Entrance",
     "problem": "longer than 64 characters", "fix": "shorten it to 64 characters"},
]  # fmt: skip


def build(url: str, base: str) -> dict[str, int]:
    """The module's data; the ids its pages name."""
    engine = make_engine(url)
    upgrade(engine)
    questionnaire, _ = load_questionnaire(SAMPLES / "csi_questionnaire.yaml")
    with Session(engine) as session:
        publish(session, questionnaire)
        frame = generate_frame(120, seed=3)
        frame["consent"] = [i % 15 != 0 for i in range(len(frame))]
        store_frame(session, frame, "2026-04 customers", "customers-april.xlsx")
        create_staff(session, "rita", "researcher", PASSWORD)
        report = FrameImportReport(
            name="2026-05 customers", filename="customers-may.csv", frame_id=None,
            counts={"rows_read": 9, "stored": 0, "invalid": 2, "duplicates": 1, "opted_out": 0},
            problems=PROBLEMS,
        )  # fmt: skip
        session.add(report)
        session.commit()
        report_id = report.id
    settings = Settings(database_url=url, public_base_url=base, env="test", secret_key=SECRET)
    with TestClient(create_app(settings), base_url="https://testserver",
                    follow_redirects=False) as client:  # fmt: skip
        assert log_in(client, "rita", PASSWORD).status_code == 303
        token = field(client.get("/console/campaigns/new").text, "csrf")
        reply = client.post("/console/campaigns", data={
            "csrf": token, "questionnaire": "csi_mobile@2026.1", "frame": "2026-04 customers",
            "name": "April satisfaction, stratified by tier", "channels": ["sms_link"],
            "stratify": ["tier"], "quotas": "1=8\n2=8\n3=6\n4=4", "seed": "11",
            "rate": "1000", "quiet": "none", "expires": "7d", "layout": "grouped",
        })  # fmt: skip
        assert reply.status_code == 303, reply.text
        campaign_id = int(reply.headers["location"].split("/")[-1].split("?")[0])
        launched = client.post(f"/console/campaigns/{campaign_id}/launch", data={"csrf": token})
        assert launched.status_code == 303, launched.text
        Dispatcher(engine=engine, transport=SimulatorTransport(engine), worker_id="w",
                   secret=SECRET, public_base_url=base).run(until_idle=True)  # fmt: skip
        with Session(engine) as session:
            ids = session.execute(
                select(Invitation.id)
                .where(Invitation.campaign_id == campaign_id).order_by(Invitation.id)
            ).scalars().all()  # fmt: skip
        for n, invitation_id in enumerate(ids[:7]):
            answer_all(
                client,
                invitation_token(SECRET, invitation_id),
                FULL if n % 3 == 0 else CONTENT,
                stop_after=1 if n == 6 else None,
            )
    engine.dispose()
    return {"campaign_id": campaign_id, "report_id": report_id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fieldwork-pages")
    url = f"sqlite:///{folder / 'manyi.db'}"
    base = local_base()
    ids = build(url, base)
    with serving(url, folder, base, MANYI_SECRET_KEY=SECRET, MANYI_ENV="test"):
        yield {"base": base, **ids}


def fill_errors(tab) -> None:
    """Submit the new-campaign form with mistakes: the answer is the form with errors."""
    tab.fill("#name", "")
    tab.fill("#sample", "lots")
    tab.fill("#quiet", "9pm")
    tab.fill("#quotas", "5=3")
    tab.fill("#expires", "soon")
    tab.evaluate("document.getElementById('name').removeAttribute('required')")
    with tab.expect_navigation():
        tab.click("#campaign button[type=submit]")


PAGES = {
    "frames": ("/console/frames", None),
    "frame-import-report": ("/console/frames/imports/{report_id}", None),
    "campaigns": ("/console/campaigns", None),
    "campaign-new": ("/console/campaigns/new", None),
    "campaign-new-errors": ("/console/campaigns/new", fill_errors),
    "monitor": ("/console/campaigns/{campaign_id}", None),
}


def then_of(fill: Callable | None) -> Callable | None:
    """What is done on a page before it is checked: the form filled with errors, whose
    answer, the form again with each error beside its field, is what is checked."""
    if fill is None:
        return None

    def then(tab) -> None:
        fill(tab)
        assert tab.locator(".err").count() >= 4, tab.content()[:2000]

    return then


@pytest.fixture(scope="module")
def opened(browser, site):
    tabs = StaffTabs(browser, site["base"], PASSWORD)

    def open_page(name: str, width: int):
        path, fill = PAGES[name]
        return tabs.open(name, "rita", path.format(**site), width, then=then_of(fill))

    yield open_page
    tabs.close()


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("name", list(PAGES))
def test_fieldwork_page_shows_no_text_over_text_and_no_serious_accessibility_fault(
    opened, name, width, check, tmp_path
):
    check_page(opened(name, width), check, tmp_path, f"fieldwork-{name}-{width}")

"""The console's programme pages at a desktop's 1366 px and a phone's 360 px: no text over
text, no sideways scrolling, no serious accessibility fault (as tests/browser/test_staff_pages).

One server for the module on a fresh database: two programmes (one paused), today's contact
events of every stored decision, an incentive rule with a monthly cap and a lottery, two
months of answers credited and both months drawn, so that every section of the pages shows
numbers. Screenshots go to the test's tmp_path, or to MANYI_SCREENSHOTS when set.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import Session

from survey.db.engine import make_engine, upgrade
from survey.db.tables import ContactEvent, Programme, ProgrammeIncentive
from survey.programmes.incentives import credit, draw, set_rule
from survey.programmes.manage import change_state, create_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_staff
from tests.browser.staff_tabs import CHECKS, WIDTHS, StaffTabs, check_page
from tests.common import SAMPLES
from tests.integration.test_incentives import respond
from tests.service_process import local_base, serving

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
SECRET = "a-test-secret-that-is-long-enough-for-the-browser"
ZONE = "Asia/Shanghai"
#: Today's contacts of the hotline programme, by decision.
TODAY = {"invited": 212, "sampled_out": 1830, "frequency_capped": 41, "opted_out": 6,
         "outside_window": 3}  # fmt: skip


def months_before(now: datetime, n: int) -> datetime:
    """The first instant (UTC) of the local month ``n`` months before ``now``'s."""
    local = now.astimezone(ZoneInfo(ZONE))
    year, month = divmod(local.year * 12 + local.month - 1 - n, 12)
    return datetime(year, month + 1, 1, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def build(url: str) -> dict[str, int]:
    """The module's data; the ids its pages name."""
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    with Session(engine) as session:
        version = publish(session, load_questionnaire(SAMPLES / "contact_evaluation.yaml")[0])
        create_staff(session, "rita", "researcher", PASSWORD)
        hotline = create_programme(
            session, version, "hotline-10086", mode="sms_reply",
            channels=["hotline", "hall", "online"], sample_rate=0.1,
            channel_rates={"hall": 0.3, "online": 0.25},
            queue_rates={"billing": 0.5, "complaints": 1.0, "broadband-installation": 0.75},
            min_per_agent=20, delay_minutes=5, reply_window_hours=24, rate_per_second=50,
        )  # fmt: skip
        halls = create_programme(session, version, "service-halls", mode="sms_link",
                                 channels=["hall"], sample_rate=1.0, quiet_start="00:00",
                                 quiet_end="00:00")  # fmt: skip
        change_state(session, halls, "pause")
        decisions = [d for d, count in TODAY.items() for _ in range(count)]
        for n, decision in enumerate(decisions):
            session.add(ContactEvent(contact_id=f"CC-{n:06d}", programme_id=hotline.id,
                                     phone_e164=f"+86139{n:08d}", channel="hotline",
                                     ended_at=now - timedelta(minutes=5), source="api",
                                     decision=decision, reason="-", received_at=now))  # fmt: skip
        session.commit()
        set_rule(session, hotline, per_question=1, per_survey=20, monthly_cap=50, lottery=True)
        # The rule as if set three months ago, before the answers below.
        session.execute(update(ProgrammeIncentive).values(effective_from=months_before(now, 3)))
        session.commit()
        ids = {"hotline": hotline.id, "halls": halls.id}
    for back in (1, 2):
        start = months_before(now, back)
        for i in range(30 + 10 * back):
            answers = ("1", "话务员很耐心，问题一次就解决了") if i % 3 else ("3",)
            respond(engine, ids["hotline"], f"+86138{back}{i:07d}",
                    start + timedelta(days=i % 27, hours=3), answers)  # fmt: skip
    with Session(engine) as session:
        hotline = session.get(Programme, ids["hotline"])
        credit(session, hotline, timezone=ZONE)
        for back, winners, seed in ((2, 10, 20261), (1, 5, 1739042)):
            period = months_before(now, back).astimezone(ZoneInfo(ZONE)).strftime("%Y-%m")
            draw(session, session.get(Programme, ids["hotline"]), period, winners, seed,
                 timezone=ZONE)  # fmt: skip
            ids["drawn"] = period
    engine.dispose()
    return ids


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("programme-pages")
    url = f"sqlite:///{folder / 'manyi.db'}"
    base = local_base()
    ids = build(url)
    with serving(url, folder, base, MANYI_SECRET_KEY=SECRET, MANYI_ENV="test",
                 MANYI_TIMEZONE=ZONE):  # fmt: skip
        yield {"base": base, **ids}


def fill_errors(tab) -> None:
    """Submit the new-programme form with mistakes: the answer is the form with errors."""
    tab.fill("#name", "hotline 10086")
    tab.fill("#channels", "Hotline, Hall")
    tab.fill("#sample_rate", "20%")
    tab.fill("#queue_rates", "billing=0.5\ncomplaints")
    tab.fill("#reply_window_hours", "0")
    tab.fill("#quiet", "9pm-8am")
    with tab.expect_navigation():
        tab.click("#programme button[type=submit]")


def draw_again(tab) -> None:
    """Draw a month already drawn: the answer is the page with the refusal at the form."""
    tab.fill("#period", tab.evaluate("document.querySelector('section.draw').dataset.period"))
    tab.fill("#winners", "3")
    with tab.expect_navigation():
        tab.click("#draw button[type=submit]")


PAGES = {
    "list": ("/console/programmes", None, ".err", 0),
    "new": ("/console/programmes/new", None, ".err", 0),
    "new-errors": ("/console/programmes/new", fill_errors, ".err", 5),
    "programme": ("/console/programmes/{hotline}", None, "li[data-winner]", 15),
    "paused": ("/console/programmes/{halls}", None, "#act-resume", 1),
    "draw-refused": ("/console/programmes/{hotline}", draw_again, "#draw-refused", 1),
}


def then_of(fill: Callable | None, selector: str, least: int) -> Callable | None:
    """What is done on a page before it is checked: a form submitted, whose answer is what
    is checked, holding at least ``least`` of ``selector``."""
    if fill is None:
        return None

    def then(tab) -> None:
        fill(tab)
        assert tab.locator(selector).count() >= least, tab.content()[:2000]

    return then


@pytest.fixture(scope="module")
def opened(browser, site):
    tabs = StaffTabs(browser, site["base"], PASSWORD)

    def open_page(name: str, width: int):
        path, fill, selector, least = PAGES[name]
        tab = tabs.open(name, "rita", path.format(**site), width,
                        then=then_of(fill, selector, least))  # fmt: skip
        assert tab.locator(selector).count() >= least, name
        return tab

    yield open_page
    tabs.close()


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("name", list(PAGES))
def test_programme_page_shows_no_text_over_text_and_no_serious_accessibility_fault(
    opened, name, width, check, tmp_path
):
    check_page(opened(name, width), check, tmp_path, f"programmes-{name}-{width}")

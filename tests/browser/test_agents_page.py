"""The page of agents, teams and queues (``/dashboard/agents``) at a desktop's 1366 px and a
phone's 360 px: no text over text, no sideways scrolling, no serious accessibility fault.

One server (``manyi serve``) on a SQLite database holding the small programme of
tests/integration/test_contact_report.py (48 contacts, 8 agents, replies by SMS), with a
researcher, a Hangzhou manager and the team leader of T0 (their agents ranked among all 8).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session

from survey.db.engine import make_engine, upgrade
from survey.staff.accounts import create_staff
from tests.browser.staff_tabs import CHECKS, WIDTHS, StaffTabs, check_page
from tests.integration.staff_login import PASSWORD, SECRET
from tests.integration.test_contact_report import ZONE, build
from tests.service_process import serving

pytestmark = pytest.mark.browser

PAGES = [
    ("agents", "rita", "/dashboard/agents?by=agent&programme=hotline"),
    ("agents-by-day", "rita", "/dashboard/agents?by=agent&period=day"),
    ("teams-weekly", "rita", "/dashboard/agents?by=team&period=week"),
    ("queues-hangzhou", "hz", "/dashboard/agents?by=queue"),
    ("team-leader", "tl", "/dashboard/agents?by=agent"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agents-page")
    url = f"sqlite:///{folder / 'manyi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    build(engine)
    with Session(engine) as session:
        create_staff(session, "rita", "researcher", PASSWORD, display_name="Rita 研究员")
        create_staff(session, "hz", "manager", PASSWORD, regions=["Hangzhou"])
        create_staff(session, "tl", "team_leader", PASSWORD, teams=["T0"])
    engine.dispose()
    with serving(url, folder, MANYI_TIMEZONE=ZONE, MANYI_SECRET_KEY=SECRET) as base:
        yield base


@pytest.fixture(scope="module")
def opened(browser, site) -> Callable:
    tabs = StaffTabs(browser, site, PASSWORD)
    yield lambda name, role, path, width: tabs.open(name, role, path, width)
    tabs.close()


@pytest.mark.parametrize(
    ("page", "width", "check"),
    [pytest.param(p, w, c, id=f"{p[0]}-{w}-{c}") for p in PAGES for w in WIDTHS for c in CHECKS],
)
def test_the_agents_page_shows_no_text_over_text_and_no_serious_accessibility_fault(
    opened, page, width, check, tmp_path
):
    tab = opened(*page, width)
    assert tab.locator("#units").count() == 1
    check_page(tab, check, tmp_path, f"agents-{page[0]}-{width}")

"""The console's staff pages where an admin gives a team leader their teams, at a desktop's
1366 px and a phone's 360 px: the list with its add form (the teams field and the known
teams), and a member's page refusing a team leader without a team, the reason beside the
field. No text over text, no sideways scrolling, no serious accessibility fault.

One server (``manyi serve``) on a SQLite database holding the small programme of
tests/integration/test_contact_report.py (teams T0 and T1), an admin and a team leader.
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


def _refuse_no_team(tab) -> None:
    tab.select_option("#role", "team_leader")
    tab.fill("#teams", "")
    with tab.expect_navigation():
        tab.click("#role-form button[type=submit]")


#: (name, path, then): the page under test is where ``then`` leads.
PAGES = [
    ("staff-list", "/console/staff", None),
    ("team-leader-refused", "/console/staff/{leader}", _refuse_no_team),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("staff-teams-pages")
    url = f"sqlite:///{folder / 'manyi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    build(engine)
    with Session(engine) as session:
        create_staff(session, "ada", "admin", PASSWORD, display_name="Ada 管理员")
        leader = create_staff(session, "tl", "team_leader", PASSWORD, teams=["T0"])
        leader_id = leader.id
    engine.dispose()
    with serving(url, folder, MANYI_TIMEZONE=ZONE, MANYI_SECRET_KEY=SECRET) as base:
        yield base, leader_id


@pytest.fixture(scope="module")
def opened(browser, site) -> Callable:
    base, leader = site
    tabs = StaffTabs(browser, base, PASSWORD)

    def open_page(page, width):
        name, path, then = page
        return tabs.open(name, "ada", path.format(leader=leader), width, then=then)

    yield open_page
    tabs.close()


@pytest.mark.parametrize(
    ("page", "width", "check"),
    [pytest.param(p, w, c, id=f"{p[0]}-{w}-{c}") for p in PAGES for w in WIDTHS for c in CHECKS],
)
def test_the_staff_pages_with_teams_show_no_text_over_text_and_no_serious_accessibility_fault(
    opened, page, width, check, tmp_path
):
    tab = opened(page, width)
    assert tab.locator("#teams").count() == 1
    check_page(tab, check, tmp_path, f"staff-teams-{page[0]}-{width}")


@pytest.mark.parametrize("width", list(WIDTHS), ids=[f"w{w}" for w in WIDTHS])
def test_a_team_leader_without_a_team_is_refused_with_the_reason_beside_the_field(opened, width):
    tab = opened(PAGES[1], width)
    error = tab.locator("#teams-error")
    assert error.is_visible() and "name at least one team" in error.inner_text()
    field = tab.locator("#teams")
    assert field.get_attribute("aria-invalid") == "true"
    assert "teams-error" in field.get_attribute("aria-describedby")
    below, box = error.bounding_box(), field.bounding_box()
    # Beside the field: right under it, not at the top of the page only.
    assert 0 <= below["y"] - (box["y"] + box["height"]) < 40

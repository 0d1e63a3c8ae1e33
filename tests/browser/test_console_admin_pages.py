"""The console's staff, audit, exports and analyses pages at a desktop's 1366 px and a
phone's 360 px: no text over text, no sideways scrolling, no serious accessibility fault.

One server for the module (``manyi serve``, no analysis worker: a queued job stays queued)
on a copy of the database with computed analyses (tests/analysed_demo.py), with an admin,
a researcher, audit rows of several kinds and one queued job. Each page is opened once per
width by a browser context of its role and checked for its layout (a screenshot in the
test's tmp_path, or MANYI_SCREENSHOTS when set) and with axe-core, as
tests/browser/test_staff_pages.py does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from survey.analyses import jobs
from survey.db.engine import make_engine
from survey.db.tables import Analysis
from survey.questionnaire.publish import find_version
from survey.staff import audit
from survey.staff.accounts import create_api_key, create_staff
from tests.analysed_demo import PASSWORD, VERSION, copy_to
from tests.browser.staff_tabs import CHECKS, WIDTHS, StaffTabs, check_page
from tests.service_process import serving

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Site:
    base: str
    member_id: int  # rita, a researcher with an API key
    done_id: int  # the all-data analysis, done
    queued_id: int  # a job nobody computes


@dataclass(frozen=True)
class AdminPage:
    name: str
    role: str
    path: str  # may name the Site's ids
    #: Run in the tab after loading ``path``: the page under test is where it leads.
    then: Callable | None = None


def _create_key(tab) -> None:
    tab.fill("#key_name", "notebook of rita")
    with tab.expect_navigation():
        tab.click("#key-form button[type=submit]")


PAGES = [
    AdminPage("console-home", "ada", "/console"),
    AdminPage("console-home-researcher", "rita", "/console"),
    AdminPage("staff", "ada", "/console/staff"),
    AdminPage("staff-member", "ada", "/console/staff/{member_id}"),
    AdminPage("staff-key-shown-once", "ada", "/console/staff/{member_id}", _create_key),
    AdminPage("audit", "ada", "/console/audit"),
    AdminPage("exports", "rita", "/console/exports"),
    AdminPage("exports-regional", "hz", "/console/exports"),
    AdminPage("analyses", "rita", "/console/analyses"),
    AdminPage("analysis-done", "rita", "/console/analyses/{done_id}"),
    AdminPage("analysis-queued", "rita", "/console/analyses/{queued_id}"),
]


def cases() -> list:
    return [
        pytest.param(page, width, check, id=f"{page.name}-{width}-{check}")
        for page in PAGES
        for width in WIDTHS
        for check in CHECKS
    ]


def prepare(url: str) -> tuple[int, int, int]:
    """An admin and a researcher (with a key), audit rows, a queued job; the ids."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            create_staff(session, "ada", "admin", PASSWORD, display_name="Ada 管理员")
            rita = create_staff(session, "rita", "researcher", PASSWORD, display_name="Rita 研究员")
            create_api_key(session, rita, "weekly report script")
            now = datetime.now(UTC)
            for n, (action, target) in enumerate([
                ("export", "responses:csi_mobile@2026.1"), ("staff_added", "rita"),
                ("personal_data_access", "customer:17"), ("api_key_created", "manyi_abcdefgh"),
            ] * 5):  # fmt: skip
                audit.audit(session, rita if n % 2 else None, action, target,
                            {"via": "console", "format": "xlsx", "rows": 120 + n,
                             "campaign": None, "phone": "hashed"},
                            "10.0.0.7", at=now - timedelta(minutes=n))  # fmt: skip
            version = find_version(session, *VERSION.split("@"))
            queued, _ = jobs.submit(session, version.id, {
                "version": VERSION, "period": "2026-Q2", "segment": "region", "filters": {},
                "engine": "pls", "bootstrap": 200, "seed": 1,
            }, requested_by=rita.id)  # fmt: skip
            done = session.exec(
                select(Analysis.id).where(Analysis.status == "done", col(Analysis.period).is_(None))
            ).first()  # fmt: skip
            return rita.id, done, queued.id
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("console-admin-pages")
    url = copy_to(folder)
    ids = prepare(url)
    with serving(url, folder) as base:
        yield Site(base, *ids)


@pytest.fixture(scope="module")
def opened(browser, site) -> Callable:
    """``opened(page, width)``: the page loaded in a tab of its role at that width, once for
    its checks."""
    tabs = StaffTabs(browser, site.base, PASSWORD)

    def open_page(page: AdminPage, width: int):
        path = page.path.format(**vars(site))
        return tabs.open(page.name, page.role, path, width, then=page.then)

    yield open_page
    tabs.close()


@pytest.mark.parametrize(("page", "width", "check"), cases())
def test_console_admin_page_shows_no_text_over_text_and_no_serious_accessibility_fault(
    opened, page, width, check, tmp_path
):
    check_page(opened(page, width), check, tmp_path, f"admin-{page.name}-{width}")


def test_the_key_page_shows_the_key_once_and_the_members_page_never(opened, site, browser):
    tab = opened(PAGES[4], 1366)
    key = tab.input_value("#key")
    assert key.startswith("manyi_")
    member = tab.context.new_page()
    member.goto(f"{site.base}/console/staff/{site.member_id}")
    assert key not in member.content() and key[:14] in member.content()
    member.close()

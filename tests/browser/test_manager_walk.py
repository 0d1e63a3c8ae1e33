"""A manager at a desk, in Chromium: from a driver to its items to what customers wrote, and
a follow-up assigned and closed.

The server is ``manyi serve`` on a copy of the database with computed analyses
(tests/analysed_demo.py), with open follow-ups added.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from survey.db.engine import make_engine
from survey.db.tables import AuditLog, FollowUp
from tests.analysed_demo import copy_to, open_follow_ups
from tests.browser.test_manager_dashboard import sign_in
from tests.service_process import serving

pytestmark = pytest.mark.browser

DESK = {"width": 1366, "height": 900}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("manager-walk")
    url = copy_to(folder)
    late = open_follow_ups(url, datetime.now(UTC) - timedelta(hours=2), {"Hangzhou": 1})
    with serving(url, folder) as base:
        yield {"base": base, "url": url, "follow_up": late["Hangzhou"][0]}


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport=DESK, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def follow(page, link) -> None:
    with page.expect_navigation():
        link.click()


def test_a_manager_goes_from_a_driver_to_its_items_to_what_customers_wrote(server, desk):
    sign_in(desk, server["base"], "boss", "/dashboard/priorities")
    # The drivers' matrix: network's row leads to its items' matrix.
    follow(desk, desk.locator("#point-network a", has_text="its items' matrix"))
    assert "dimension=network" in desk.url
    names = desk.locator("svg.matrix text.name").all_text_contents()
    assert "通话清晰度" in names and "net_clarity" not in names  # labels, not codes
    # A point is a link to its row: its details, by keyboard or touch as well as by mouse.
    point = desk.locator('svg.matrix a.pt[data-name="net_clarity"]')
    point.focus()
    desk.keyboard.press("Enter")
    desk.wait_for_url(re.compile(r"#point-net_clarity$"))
    row = desk.locator("#point-net_clarity")
    assert "[" in row.inner_text()  # its intervals
    assert desk.evaluate("getComputedStyle(document.querySelector(':target')).outlineStyle") == (
        "solid"
    )
    # The item's answers and the comments of those who rated it low.
    follow(desk, row.locator("a", has_text="answers and comments"))
    assert "item=net_clarity" in desk.url
    bar = desk.locator("#item-net_clarity")
    assert bar.locator("svg.bar rect").count() == 5 and "%" in bar.inner_text()
    scope = desk.locator("#comment-scope").inner_text()
    assert "通话清晰度" in scope and "rated" in scope
    low = int(desk.locator("#comment-count").inner_text())
    assert low > 0
    desk.fill("#q", "网速")
    follow(desk, desk.locator("#item-filters button[type=submit]"))
    found = int(desk.locator("#comment-count").inner_text())
    assert 0 < found < low
    comments = desk.locator("#comment-list tbody td.words").all_inner_texts()
    assert comments and all("网速" in c for c in comments)


def test_a_manager_assigns_a_follow_up_and_closes_it(server, desk):
    case = server["follow_up"]
    sign_in(desk, server["base"], "boss", "/dashboard/follow-ups")
    follow(desk, desk.locator(f"#follow-up-{case} a"))
    assert desk.locator("#breach").is_visible()  # past its SLA
    assert desk.locator("#answers tr.low").count() > 0  # the low answers stand out
    desk.select_option("#to", "ivy")
    follow(desk, desk.locator("#assign button"))
    assert desk.locator("#done").is_visible() and desk.locator("#assignee").inner_text() == "ivy"
    desk.select_option("#outcome-choice", "resolved")
    desk.select_option("#root-cause", "network")
    desk.fill("#notes", "换了新卡，客户满意")
    follow(desk, desk.locator("#close button"))
    assert "已解决 resolved" in desk.locator("#outcome").inner_text()
    history = desk.locator("#history").inner_text()
    assert "assigned to" in history and "ivy" in history and "closed" in history
    assert desk.locator("#assign").count() == 0  # nothing more to do on a closed case
    follow(desk, desk.locator("a", has_text="All follow-ups"))
    assert desk.locator(f"#follow-up-{case}").count() == 0
    engine = make_engine(server["url"])
    with Session(engine) as session:
        closed = session.get(FollowUp, case)
        assert (closed.status, closed.outcome, closed.root_cause) == (
            "closed",
            "resolved",
            "network",
        )
        actions = session.exec(select(AuditLog.action).where(
            AuditLog.target == f"follow_up:{case}").order_by(AuditLog.id)).all()  # fmt: skip
        assert actions == ["follow_up_assigned", "follow_up_closed"]
    engine.dispose()

"""Every staff page at a desktop's 1366 px and a phone's 360 px: no text over text (the
priority matrix's labels included), no sideways scrolling, no serious accessibility fault.

One server for the module, on a copy of the database with computed analyses
(tests/analysed_demo.py), to which a phone campaign is added: an interviewer holds two
cases, one with its interview started, and follow-ups and customers' messages are open.
Each page is opened once per width, by a browser context of its role, and checked twice:
its layout (:func:`tests.browser.page_checks.assert_no_overlap`, a screenshot in the test's
tmp_path) and axe-core (:func:`tests.browser.page_checks.assert_accessible`).

A page that fails on another team's template is marked ``xfail(strict=True)`` with what
fails: fixing it turns the mark into a failure, and the mark is then removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from survey.campaigns.lifecycle import change_status, create_call_cases, create_campaign
from survey.cati.queue import start_phone_interview
from survey.db.engine import make_engine
from survey.db.tables import CallCase, Customer, InboundSms, Staff
from survey.questionnaire.publish import find_version
from tests.analysed_demo import PASSWORD, VERSION, copy_to, open_follow_ups
from tests.browser.page_checks import CONTEXT, axe_violations, measure, overlap_problems
from tests.browser.staff_tabs import CHECKS, WIDTHS, StaffTabs, check_page
from tests.common import PHONE
from tests.service_process import serving

pytestmark = pytest.mark.browser



@dataclass(frozen=True)
class Site:
    base: str
    case_id: int  # held by ivy, not started
    interview_id: int  # held by ivy, its interview started
    follow_up_id: int  # open, past due


@dataclass(frozen=True)
class StaffPage:
    name: str
    role: str | None  # who is signed in (None: nobody)
    path: str  # may name the Site's ids: {case_id}, {interview_id}, {follow_up_id}
    status: int = 200


PAGES = [
    StaffPage("login", None, "/login"),
    StaffPage("home", None, "/"),
    StaffPage("account", "boss", "/me"),
    StaffPage("calls-queue", "ivy", "/calls"),
    StaffPage("calls-case", "ivy", "/calls/{case_id}"),
    StaffPage("calls-interview", "ivy", "/calls/interview/case-{interview_id}"),
    StaffPage("supervision", "sue", "/supervision"),
    StaffPage("supervision-follow-ups", "sue", "/supervision/follow-ups"),
    StaffPage("dashboard", "boss", "/dashboard"),
    StaffPage("priorities", "boss", "/dashboard/priorities"),
    StaffPage("priorities-network", "boss", "/dashboard/priorities?dimension=network"),
    StaffPage(
        "priorities-network-hangzhou",
        "boss",
        "/dashboard/priorities?dimension=network&segment=Hangzhou",
    ),
    StaffPage("priorities-regional", "hz", "/dashboard/priorities?segment=Hangzhou"),
    StaffPage("items", "boss", "/dashboard/items?driver=network"),
    StaffPage("item-comments", "boss", "/dashboard/items?item=net_coverage"),
    StaffPage("rankings", "boss", "/dashboard/rankings"),
    StaffPage("rankings-regional", "hz", "/dashboard/rankings"),
    StaffPage("dashboard-follow-ups", "boss", "/dashboard/follow-ups"),
    StaffPage("follow-up-case", "boss", "/dashboard/follow-ups/{follow_up_id}"),
    StaffPage("report", "boss", "/dashboard/report"),
    StaffPage("error-403", "ivy", "/dashboard", 403),
    StaffPage("error-404", "boss", "/dashboard/no-such-page", 404),
]


#: Known failures, as strict xfails naming what fails and how to fix it (none today).
KNOWN: dict[tuple[str, int, str], str] = {}


def cases() -> list:
    out = []
    for page in PAGES:
        for width in WIDTHS:
            for check in CHECKS:
                reason = KNOWN.get((page.name, width, check))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                out.append(pytest.param(page, width, check, marks=marks,
                                        id=f"{page.name}-{width}-{check}"))  # fmt: skip
    return out


def add_phone_work(url: str) -> tuple[int, int, int]:
    """A launched phone campaign of whom ivy holds two cases, the second one's interview
    started; follow-ups (some past due) and two customers' messages in words. The cases'
    ids and a late follow-up's."""
    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            version = find_version(session, *VERSION.split("@"))
            ivy = session.exec(select(Staff).where(Staff.username == "ivy")).one()
            customers = session.exec(
                select(Customer).where(Customer.consent).order_by(Customer.id).limit(8)
            ).all()
            campaign = create_campaign(session, version.id, "Phone: April", channels=["cati"])
            change_status(session, campaign, "launch")
            create_call_cases(session, campaign, [c.id for c in customers[:4]], now=now)
            ids = session.exec(
                select(CallCase.id).where(CallCase.campaign_id == campaign.id)
                .order_by(CallCase.id).limit(2)
            ).all()  # fmt: skip
            # Held directly: the queue hands out cases only within the calling hours.
            session.execute(
                update(CallCase).where(CallCase.id.in_(ids))
                .values(held_by=ivy.id, held_until=now + timedelta(hours=12))
            )  # fmt: skip
            session.commit()
            start_phone_interview(session, ids[1], ivy.id, now)
            for n, (customer, body) in enumerate(zip(customers[4:6], WORDS, strict=True)):
                session.add(InboundSms(provider_message_id=f"words-{n}", body=body,
                                       from_phone=customer.phone_e164, handled_as="ignored",
                                       received_at=now - timedelta(hours=n + 1)))  # fmt: skip
            session.commit()
            case_id, interview_id = ids
    finally:
        engine.dispose()
    late = open_follow_ups(url, now - timedelta(days=1), {"Hangzhou": 2, "Wenzhou": 1})
    open_follow_ups(url, now + timedelta(days=2), {"Hangzhou": 1, "Ningbo": 2})
    return case_id, interview_id, late["Hangzhou"][0]


WORDS = (
    "营业厅排队一个多小时，工作人员态度也不好，希望改进",
    "Please stop sending me these messages, I already answered twice",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("staff-pages")
    url = copy_to(folder)
    ids = add_phone_work(url)
    with serving(url, folder) as base:
        yield Site(base, *ids)


@pytest.fixture(scope="module")
def opened(browser, site) -> Callable:
    """``opened(page, width)``: the page loaded in a tab of its role at that width, once for
    its checks."""
    tabs = StaffTabs(browser, site.base, PASSWORD)

    def open_page(page: StaffPage, width: int):
        path = page.path.format(**vars(site))
        return tabs.open(page.name, page.role, path, width, status=page.status)

    yield open_page
    tabs.close()


@pytest.mark.parametrize(("page", "width", "check"), cases())
def test_staff_page_shows_no_text_over_text_and_no_serious_accessibility_fault(
    opened, page, width, check, tmp_path
):
    check_page(opened(page, width), check, tmp_path, f"staff-{page.name}-{width}")


#: A page with one of each fault the checks look for, and text they must leave alone.
FAULTS = """<!doctype html><html lang="en"><meta name="viewport" content="width=device-width">
<title>Faults</title><style>body{margin:0;font:16px/1.5 sans-serif}
.sr{position:absolute;top:0;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
.scroll{overflow-x:auto;width:120px}</style>
<main><span class="sr">Hidden words over the heading</span>
<h1>Heading</h1><p style="margin-top:-2.5rem">Crossing text</p>
<details><summary>More</summary><p style="margin-top:-3rem">Closed content</p></details>
<div style="display:flex"><div class="scroll"><p style="white-space:nowrap">A line far too
long for its scrolling region</p></div><p>Beside</p></div>
<p style="color:#bbb">Faint</p>
<svg class="matrix" viewBox="0 0 100 40" width="300" height="120">
<a class="pt" data-name="one"><circle cx="20" cy="20" r="9"/><text class="name" x="45" y="24"
 font-size="10">one</text></a>
<a class="pt" data-name="two"><circle cx="60" cy="20" r="9"/></a></svg>{wide}</main>"""


def test_the_checks_find_crossing_text_a_covered_point_a_wide_page_and_low_contrast(browser):
    context = browser.new_context(viewport=PHONE, **CONTEXT)
    try:
        tab = context.new_page()
        tab.set_content(FAULTS.replace("{wide}", ""))
        found = measure(tab)
        crossing = [{o["a"]["text"], o["b"]["text"]} for o in found["overlaps"]]
        assert crossing == [{"Heading", "Crossing text"}], found["overlaps"]
        assert [(c["label"]["text"], c["point"]) for c in found["covered"]] == [("one", "two")]
        assert found["scrollWidth"] <= PHONE["width"]
        found = sorted(v["id"] for v in axe_violations(tab))
        assert found == ["color-contrast", "scrollable-region-focusable"]
        tab.set_content(FAULTS.replace("{wide}", '<div style="width:500px">Wide</div>'))
        assert "scrolls sideways" in overlap_problems(measure(tab))[0]
    finally:
        context.close()

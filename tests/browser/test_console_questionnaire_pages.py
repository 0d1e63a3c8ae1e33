"""The console's questionnaire pages at a desktop's 1366 px and a phone's 360 px: no text over
text, no sideways scrolling, no serious accessibility fault (axe-core).

One server for the module, on a migrated SQLite database holding the sample questionnaire
published and two drafts stored as an upload stores them
(:func:`api.web.routers.console_questionnaires.store_draft`): one with problems, one ready
to publish. A researcher signs in through /login. Screenshots are kept in the test's
tmp_path, or in MANYI_SCREENSHOTS when set (page_checks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlmodel import Session

from api.web.routers.console_questionnaires import store_draft
from survey.db.engine import make_engine, upgrade
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_staff
from tests.browser.staff_tabs import CHECKS, WIDTHS, StaffTabs, check_page
from tests.common import SAMPLES
from tests.service_process import serving

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"

SAMPLE = (SAMPLES / "csi_questionnaire.yaml").read_text("utf-8")
#: Three mistakes a questionnaire's author makes: a misspelt type, a name that is no
#: identifier, a condition naming a question that does not exist.
BROKEN = (
    SAMPLE.replace("name: img_position, type: rating", "name: img_position, type: ratting")
    .replace("- {name: net_clarity,", "- {name: Net-Clarity,")
    .replace("${complained} = 'yes'", "${complaned} = 'yes'")
)
NEXT = SAMPLE.replace('version: "2026.1"', 'version: "2026.2"')


@dataclass(frozen=True)
class Site:
    base: str
    broken: int
    ready: int


PAGES = {
    "list": "/console/questionnaires",
    "draft-problems": "/console/questionnaires/drafts/{broken}",
    "draft-ready": "/console/questionnaires/drafts/{ready}",
    "preview-customer-zh": "/console/questionnaires/drafts/{ready}/preview?view=customer&lang=zh",
    "preview-customer-en": "/console/questionnaires/drafts/{ready}/preview?view=customer&lang=en",
    "preview-interviewer-zh": (
        "/console/questionnaires/drafts/{ready}/preview?view=interviewer&lang=zh"
    ),
    "preview-interviewer-en": (
        "/console/questionnaires/drafts/{ready}/preview?view=interviewer&lang=en"
    ),
    "preview-published": "/console/questionnaires/versions/csi_mobile/2026.1/preview",
}


def prepare(url: str) -> tuple[int, int]:
    """The sample published, a researcher, and the two drafts; their ids."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            rita = create_staff(session, "rita", "researcher", PASSWORD)
            questionnaire, _ = load_questionnaire(SAMPLES / "csi_questionnaire.yaml")
            publish(session, questionnaire)
            broken = store_draft(session, "csi_questionnaire.yaml", BROKEN.encode(), rita.id)
            ready = store_draft(session, "csi_questionnaire_2026_2.yaml", NEXT.encode(), rita.id)
            assert broken.document is None and ready.document is not None
            return broken.id, ready.id
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("console-questionnaires")
    url = f"sqlite:///{folder / 'manyi.db'}"
    ids = prepare(url)
    with serving(url, folder) as base:
        yield Site(base, *ids)


@pytest.fixture(scope="module")
def opened(browser, site) -> Callable:
    """``opened(name, width)``: the page loaded in a signed-in tab at that width, once."""
    tabs = StaffTabs(browser, site.base, PASSWORD)

    def open_page(name: str, width: int):
        path = PAGES[name].format(broken=site.broken, ready=site.ready)
        return tabs.open(name, "rita", path, width)

    yield open_page
    tabs.close()


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(PAGES))
def test_a_questionnaire_page_shows_no_text_over_text_and_no_serious_accessibility_fault(
    opened, name, width, check, tmp_path
):
    check_page(opened(name, width), check, tmp_path, f"questionnaire-{name}-{width}")


def test_the_draft_with_problems_lists_them_and_offers_no_publish(opened):
    tab = opened("draft-problems", 1366)
    rows = tab.locator("table tbody tr")
    assert rows.count() == 3
    assert "items[1].type (line" in rows.nth(0).inner_text()
    assert tab.locator("form[action$='/publish']").count() == 0


def test_the_preview_cannot_send_and_switches_view_keeping_the_language(opened, site):
    # A tab of its own: the one the checks share stays on its page.
    tab = opened("preview-customer-en", 1366).context.new_page()
    tab.goto(site.base + PAGES["preview-customer-en"].format(ready=site.ready, broken=0))
    assert tab.locator("button[type=submit]").count() == 12
    assert tab.locator("button[type=submit]:enabled").count() == 0
    assert tab.locator("input:enabled").count() == 0
    tab.get_by_role("link", name="Interviewer's desk").click()
    tab.wait_for_load_state()
    assert "view=interviewer" in tab.url and "lang=en" in tab.url
    assert tab.locator("body.desk .instruction").count() > 0


def test_a_file_chosen_in_the_form_is_uploaded_and_its_problems_shown(opened, site, tmp_path):
    tab = opened("list", 1366).context.new_page()
    tab.goto(site.base + PAGES["list"])
    path = tmp_path / "csi_broken.yaml"
    path.write_text(BROKEN, "utf-8")
    tab.set_input_files("#file", path)
    with tab.expect_navigation():
        tab.click("form[enctype] button[type=submit]")
    assert "/console/questionnaires/drafts/" in tab.url
    assert "csi_broken.yaml" in tab.inner_text("dl.facts")
    assert tab.locator("table tbody tr").count() == 3

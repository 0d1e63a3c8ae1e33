"""The call team's supervisor pages on a phone: a wide table scrolls inside its own box
(a focusable region named by its heading) instead of widening the page, in Chromium."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.common import CHROMIUM, CHROMIUM_ARGS, PHONE, require
from tests.integration.cati.call_pages import at, make_world, open_follow_up

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def test_supervisor_pages_fit_a_phone_and_their_tables_scroll(
    engine, sample_questionnaire, login, clock
):
    require(shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM),
            f"no Chromium at {CHROMIUM} (apt-get install chromium)")  # fmt: skip
    from playwright.sync_api import sync_playwright

    world = make_world(engine, sample_questionnaire, n=5, calling={"hours": "07:00-21:00"})
    open_follow_up(engine, world, at(1, 9, 55))
    clock.now = at(3, 10)
    boss = login("boss")
    pages = {
        "/supervision/follow-ups?week=2026-03-01": boss.get(
            "/supervision/follow-ups?week=2026-03-01"
        ).text,
        "/supervision": boss.get("/supervision").text,
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            for path, html in pages.items():
                page.set_content(html)  # the pages carry their styles inline
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], (path, width)
                regions = page.locator("div.scroll[role=region][tabindex='0']")
                assert regions.count() >= 1, path
                for i in range(regions.count()):
                    heading = regions.nth(i).get_attribute("aria-labelledby")
                    assert page.locator(f"#{heading}").count() == 1, (path, heading)
        finally:
            browser.close()

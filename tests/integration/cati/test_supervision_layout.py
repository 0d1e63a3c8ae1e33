"""The call team's supervisor pages on a phone: a wide table scrolls inside its own box
(a focusable region named by its heading) instead of widening the page, in Chromium."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.common import CHROMIUM, CHROMIUM_ARGS, PHONE, require
from tests.integration.cati.call_pages import at, make_world, open_follow_up

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def measured(pages: dict[str, str]) -> dict[str, tuple[int, list[bool]]]:
    """Per page: its width at the phone's viewport, and for each scrolling region whether
    the heading that names it is on the page."""
    from playwright.sync_api import sync_playwright

    found = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            for path, html in pages.items():
                page.set_content(html)  # the pages carry their styles inline
                regions = page.locator("div.scroll[role=region][tabindex='0']")
                named = [
                    page.locator(f"#{regions.nth(i).get_attribute('aria-labelledby')}").count() == 1
                    for i in range(regions.count())
                ]
                found[path] = (page.evaluate("document.documentElement.scrollWidth"), named)
        finally:
            browser.close()
    return found


def test_supervisor_pages_fit_a_phone_and_their_tables_scroll(
    engine, sample_questionnaire, login, clock
):
    require(shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM),
            f"no Chromium at {CHROMIUM} (apt-get install chromium)")  # fmt: skip
    world = make_world(engine, sample_questionnaire, n=5, calling={"hours": "07:00-21:00"})
    open_follow_up(engine, world, at(1, 9, 55))
    clock.now = at(3, 10)
    boss = login("boss")
    paths = ("/supervision/follow-ups?week=2026-03-01", "/supervision")
    pages = {path: boss.get(path).text for path in paths}
    # Sync Playwright refuses a thread where an event loop runs, as one may in this one
    # after other tests: a thread of its own has none.
    with ThreadPoolExecutor(max_workers=1) as pool:
        found = pool.submit(measured, pages).result()
    for path, (width, named) in found.items():
        assert width <= PHONE["width"], (path, width)
        assert named and all(named), path

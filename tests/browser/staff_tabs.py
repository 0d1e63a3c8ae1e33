"""Staff pages opened for the page checks: a signed-in tab per role and width, each page
loaded once for its two checks (layout and axe), and the two checks themselves.

Shared by the page-check modules (tests/browser/test_staff_pages.py, the console's): each
signs its people in once, through the login page, and keeps the session's cookies.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.browser.page_checks import (
    CONTEXT,
    assert_accessible,
    assert_no_overlap,
    screenshot_path,
)
from tests.common import PHONE

DESKTOP = {"width": 1366, "height": 768}
#: The two widths every staff page is checked at: a desk's and a cheap phone's.
WIDTHS = {1366: DESKTOP, 360: PHONE}
CHECKS = ("layout", "axe")


class StaffTabs:
    """Tabs of ``base``'s pages, signed in as a username (None: nobody) at a width."""

    def __init__(self, browser, base: str, password: str) -> None:
        self.browser, self.base, self.password = browser, base, password
        self.signed_in: dict[str | None, dict] = {}
        self.contexts: dict[tuple[str | None, int], object] = {}
        self.tabs: dict[tuple[str, int], object] = {}

    def _state(self, username: str | None) -> dict:
        if username not in self.signed_in:
            context = self.browser.new_context(viewport=DESKTOP, **CONTEXT)
            if username is not None:
                tab = context.new_page()
                tab.goto(f"{self.base}/login")
                tab.fill("#username", username)
                tab.fill("#password", self.password)
                with tab.expect_navigation():
                    tab.click("form button[type=submit]")
                assert "/login" not in tab.url, f"{username} could not sign in: {tab.url}"
            self.signed_in[username] = context.storage_state()
            context.close()
        return self.signed_in[username]

    def context(self, username: str | None, width: int):
        if (username, width) not in self.contexts:
            phone = {"is_mobile": True, "has_touch": True} if width == PHONE["width"] else {}
            self.contexts[username, width] = self.browser.new_context(
                viewport=WIDTHS[width], locale="zh-CN", storage_state=self._state(username),
                **phone, **CONTEXT,
            )  # fmt: skip
        return self.contexts[username, width]

    def open(
        self,
        name: str,
        username: str | None,
        path: str,
        width: int,
        *,
        status: int = 200,
        then: Callable | None = None,
    ):
        """The page ``name`` at ``path``, loaded once per width (``then(tab)`` acts on it
        first, e.g. submits a form whose answer is the page to check). Tabs of other pages
        are closed: the checks of one page run in a row."""
        if (name, width) not in self.tabs:
            for other in self.tabs.values():
                other.close()
            self.tabs.clear()
            tab = self.context(username, width).new_page()
            answer = tab.goto(self.base + path)
            assert answer is not None and answer.status == status, (
                f"{path} as {username}: {answer and answer.status}, not {status}"
            )
            if then is not None:
                then(tab)
            self.tabs[name, width] = tab
        return self.tabs[name, width]

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


def check_page(tab, check: str, tmp_path: Path, name: str) -> None:
    """One check of a loaded page: ``layout`` (a screenshot, then no text over text, no
    covered point, no sideways scrolling) or ``axe`` (no serious accessibility fault)."""
    if check == "layout":
        screenshot = screenshot_path(tmp_path, f"{name}.png")
        tab.screenshot(path=screenshot, full_page=True)
        assert_no_overlap(tab, screenshot)
    else:
        assert_accessible(tab)

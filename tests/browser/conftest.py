"""A running Manyi with the sample data, and Debian's Chromium driven by Playwright.

Playwright cannot download its own browser here: it drives /usr/bin/chromium. Without it
the browser tests are skipped with a reason, except when CI=true, where they are mandatory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.common import CHROMIUM, CHROMIUM_ARGS, PHONE, require
from tests.service_process import free_port, manyi, running


@pytest.fixture(scope="session")
def live_database(tmp_path_factory) -> Path:
    """The SQLite file the live server uses; tests read what it stored."""
    return tmp_path_factory.mktemp("browser") / "manyi.db"


@pytest.fixture(scope="session")
def live_server(live_database):
    """`manyi demo` on a fresh SQLite file and a free port; yields the base URL.

    Without the analysis worker: the respondent's pages need none, and its scheduled fits
    would load the machine for the rest of the session.
    """
    base = f"http://127.0.0.1:{(port := free_port())}"
    env = {**os.environ, "MANYI_DATABASE_URL": f"sqlite:///{live_database}",
           "MANYI_PUBLIC_BASE_URL": base}  # fmt: skip
    command = manyi("demo", "--port", str(port), "--no-analyses")
    with running(command, base_url=base, env=env, log_path=live_database.with_name("server.log")):
        yield base


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests, closed after them: sync Playwright keeps an event
    loop marked running in the main thread while it is open, which later tests' own loops
    (asyncio.run) would trip over."""
    require(
        shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM),
        f"no Chromium at {CHROMIUM} (apt-get install chromium)",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  locale="zh-CN")  # fmt: skip
    page = context.new_page()
    yield page
    context.close()

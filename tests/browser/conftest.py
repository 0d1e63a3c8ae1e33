"""A running Manyi with the sample data, and Debian's Chromium driven by Playwright.

Playwright cannot download its own browser here: it drives /usr/bin/chromium. Without it
the browser tests are skipped with a reason, except when CI=true, where they are mandatory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import require

CHROMIUM = os.environ.get("MANYI_CHROMIUM", "/usr/bin/chromium")
# The machine's network is closed: without these flags Chromium keeps trying to reach
# update and sync services at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_database(tmp_path_factory) -> Path:
    """The SQLite file the live server uses; tests read what it stored."""
    return tmp_path_factory.mktemp("browser") / "manyi.db"


@pytest.fixture(scope="session")
def live_server(live_database):
    """`manyi demo` on a fresh SQLite file and a free port; yields the base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MANYI_DATABASE_URL": f"sqlite:///{live_database}",
           "MANYI_PUBLIC_BASE_URL": base}  # fmt: skip
    # The server's output goes to a file: an unread pipe would block it once full.
    log = open(live_database.with_name("server.log"), "w+", encoding="utf-8")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "demo", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        for _ in range(600):
            if server.poll() is not None:
                log.seek(0)
                pytest.fail(f"manyi demo exited: {log.read()}")
            try:
                urllib.request.urlopen(base + "/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def browser():
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

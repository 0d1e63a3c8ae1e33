"""What every part of the suite shares: where things are, and how optional parts are required.

Optional parts of the suite (PostgreSQL, the browser) are skipped with a visible reason on
a developer's machine that lacks them, and are mandatory when CI=true: there a missing
service fails the run instead of silently skipping it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
CI = os.environ.get("CI", "").lower() == "true"


def require(available: bool, reason: str) -> None:
    """Skip when something optional is missing, or fail when CI=true makes it mandatory."""
    if available:
        return
    if CI:
        pytest.fail(f"{reason} (mandatory when CI=true)", pytrace=False)
    pytest.skip(reason)

#: Debian's Chromium, which Playwright drives (it cannot download its own here).
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

#: The viewport of a cheap phone, the narrowest screen the pages are made for.
PHONE = {"width": 360, "height": 740}

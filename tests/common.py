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

#: The viewport of a cheap phone, the narrowest screen the pages are made for.
PHONE = {"width": 360, "height": 740}

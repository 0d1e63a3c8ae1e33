"""Shared test helpers.

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


@pytest.fixture(scope="session")
def sample_questionnaire():
    from survey.questionnaire import load_questionnaire

    questionnaire, _ = load_questionnaire(SAMPLES / "csi_questionnaire.yaml")
    return questionnaire

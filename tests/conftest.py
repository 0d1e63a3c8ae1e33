"""Fixtures the whole suite shares (constants and helpers are in tests/common.py)."""

from __future__ import annotations

import pytest

from tests.common import SAMPLES


@pytest.fixture
def cheap_hashing(monkeypatch):
    """Staff passwords hashed at the lowest Argon2 cost: production's costs ~0.2 s a hash here
    (its parameters are checked once, in tests/unit/survey/staff/test_staff.py)."""
    from argon2 import PasswordHasher

    from survey.staff import accounts

    monkeypatch.setattr(accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture(scope="session")
def sample_questionnaire():
    from survey.questionnaire import load_questionnaire

    questionnaire, _ = load_questionnaire(SAMPLES / "csi_questionnaire.yaml")
    return questionnaire

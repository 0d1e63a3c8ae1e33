"""The contact events' phone fast path answers what phonenumbers answers, for every input."""

from __future__ import annotations

import random

import pytest

from survey.frames.importer import normalise_phone
from survey.programmes.decide import _phone

TRICKY = [
    "+8613800138000", "13800138000", " +8613800138000 ", "\t13800138000\n", "008613800138000",
    "+86 138 0013 8000", "138-0013-8000", "+86-13800138000", "+8613800138000 ext 12",
    "+86138001380001", "+861380013800", "1380013800", "138001380001", "+861", "+86", "",
    " ", "+", "++8613800138000", "+8612345678901", "12345678901", "11012345678",
    "+8611012345678", "12012345678", "17912345678", "+8617912345678", "17400012345",
    "17406012345", "+8616100000000", "16100000000", "16500000000", "16212345678",
    "14512345678", "14612345678", "19212345678", "19412345678", "10086", "+8610086",
    "1069012345678", "+8601012345678", "01012345678", "+861012345678", "8613800138000",
    "+8513800138000", "+44 7911 123456", "+14155552671", "４１５５５５２６７１",
    "+８６１３８００１３８０００", "１３８００１３８０００", "13800138000x", "１3800138000",
    "+86１3800138000", "+8613800138000\u200b", "tel:+8613800138000", "(+86)13800138000",
]  # fmt: skip


@pytest.mark.parametrize("raw", TRICKY)
def test_tricky_numbers_give_what_phonenumbers_gives(raw):
    assert _phone(raw) == normalise_phone(raw, "CN")


def test_every_three_digit_prefix_of_eleven_digits_gives_what_phonenumbers_gives():
    chance = random.Random(15)
    for prefix in range(100, 200):
        for tail in {chance.randrange(10**8) for _ in range(40)} | {0, 10**8 - 1}:
            for four in range(10):
                digits = f"{prefix}{four}{tail:07d}"[:11]
                for raw in (digits, "+86" + digits):
                    assert _phone(raw) == normalise_phone(raw, "CN"), raw

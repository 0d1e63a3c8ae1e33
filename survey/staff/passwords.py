"""What a staff password must be, and what is wrong with one that is not.

A password is refused when it is:

- shorter than :data:`MIN_LENGTH` or longer than :data:`MAX_LENGTH` characters;
- only spaces, or one character or a short pattern repeated (``aaaaaaaaaaaa``,
  ``abcabcabcabc``), or a run of consecutive digits or letters (``123456789012``);
- the user name, or contains it (case-insensitive; also without its ``.``, ``_`` and ``-``,
  or a part of it of four or more characters);
- a common password (:mod:`survey.staff.common_passwords`), also with capitals, digits or
  symbols added before or after it, with look-alike characters (``P@ssw0rd``) or repeated
  (``monkeymonkey``): ``Password1234`` is refused as ``password``.

Attackers try exactly these first, so each is refused whatever its length. The message says
what was wrong and how to choose instead: a few unrelated words are long and easy to remember.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from functools import cache

MIN_LENGTH = 12
# Argon2 takes any length, but a megabyte "password" would still cost a request's time.
MAX_LENGTH = 256

_ADVICE = "use a few unrelated words instead, e.g. from a sentence only you would say"
# What people add around a common password to pass a rule: digits, symbols, spaces.
_EDGES = string.digits + string.punctuation + string.whitespace
# Look-alike characters, read back as the letters they stand for.
_LOOK_ALIKES = str.maketrans("@4310!$5+7", "aaeioisstt")
_RUNS = (string.digits * 30, string.ascii_lowercase * 10)
# Shorter parts of a user name ("li" of "li.na") are in too many good passwords to refuse.
_NAME_PART = 4
# A core this short after stripping digits and symbols says nothing ("ab" + "1987!!!!!!!").
_SHORTEST_CORE = 3


@cache
def common_passwords() -> frozenset[str]:
    from survey.staff.common_passwords import WORDS

    return frozenset(WORDS.split())


def weakness(password: str, username: str = "") -> str | None:
    """What is wrong with ``password`` for the account ``username``, or None if nothing is.

    The answer is a sentence for the person choosing it: what was wrong and how to fix it.
    """
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return (
            f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters (this one has "
            f"{len(password)}): {_ADVICE}"
        )
    if not password.strip():
        return f"a password of spaces only is refused: {_ADVICE}"
    folded = password.casefold()
    unit = _repeated_unit(folded)
    if unit is not None:
        what = f"the character {unit!r}" if len(unit) == 1 else f"{unit!r}"
        return f"a password that only repeats {what} is guessed at once: {_ADVICE}"
    if any(folded in run or folded[::-1] in run for run in _RUNS):
        return f"a run of consecutive digits or letters is guessed at once: {_ADVICE}"
    name = _name_in(folded, username)
    if name is not None:
        return (
            f"the password contains the user name ({name!r}), which attackers try first: "
            f"{_ADVICE}, with nothing of the account in them"
        )
    core = next((core for core in _cores(folded) if core in common_passwords()), None)
    if core is not None:
        return (
            f"the password is the common password {core!r} (capitals, digits, symbols or "
            f"look-alike characters added to it do not help), which attackers try first: "
            f"{_ADVICE}"
        )
    return None


def _repeated_unit(text: str) -> str | None:
    """The shortest unit that ``text`` is two or more copies of, or None."""
    # A string is a rotation of itself (found before its own length in text + text) exactly
    # when it is made of copies of a shorter unit, whose length is where it is found.
    at = (text + text).find(text, 1)
    return text[:at] if at < len(text) else None


def _name_in(folded: str, username: str) -> str | None:
    name = username.strip().casefold()
    if not name:
        return None
    parts = [part for part in re.split(r"[._\-\s]+", name) if len(part) >= _NAME_PART]
    variants = {name, re.sub(r"[._\-\s]", "", name), *parts}
    # Only the name as typed: look-alikes and reversals would also refuse random passwords
    # (one in ten thousand of 22 random characters holds a four-letter name so read).
    texts = {folded, re.sub(r"\s", "", folded)}
    for variant in sorted(variants, key=len, reverse=True):
        if len(variant) >= _SHORTEST_CORE and any(variant in text for text in texts):
            return variant
    return None


def _cores(folded: str) -> Iterator[str]:
    """What ``folded`` may be built on: itself, without spaces, stripped of digits and symbols
    at either end, read with look-alikes replaced, and the unit of a repetition of any of these."""
    seen: set[str] = set()
    for text in (folded, "".join(folded.split())):
        for trimmed in (text, text.strip(_EDGES), text.rstrip(_EDGES), text.lstrip(_EDGES)):
            for core in (trimmed, trimmed.translate(_LOOK_ALIKES)):
                unit = _repeated_unit(core)
                for candidate in (core, unit) if unit else (core,):
                    if len(candidate) >= _SHORTEST_CORE and candidate not in seen:
                        seen.add(candidate)
                        yield candidate

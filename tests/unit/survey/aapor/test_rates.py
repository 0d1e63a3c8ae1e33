"""AAPOR outcome rates: a published worked example, the 10th edition's UR, edge cases.

Reference numbers
-----------------
outcomerate (rOpenSci R package), README "Example", https://github.com/ropensci/outcomerate
(also https://docs.ropensci.org/outcomerate/): 12 cases I=4, P=2, R=1, NC=1, O=1, UH=1,
UO=1, NE=1, with ``e = eligibility_rate(freq)`` (proportional allocation, 9/10), prints::

    RR1   RR2   RR3   RR4   RR5   RR6 COOP1 COOP2 COOP3 COOP4  REF1  REF2  REF3
  0.364 0.545 0.370 0.556 0.444 0.667 0.500 0.750 0.571 0.857 0.091 0.093 0.111
   CON1  CON2  CON3
  0.727 0.741 0.889

The numbers are printed to three decimals, so the tolerance is half a unit of the third
decimal (5e-4). The UR case is the package's 10th-edition test (tests/testthat/test-ur.R,
outcomerate 1.1.0), whose expected values are exact fractions (tolerance 1e-12).
"""

from __future__ import annotations

import math

import pytest

from survey.aapor.dispositions import CATEGORIES, DispositionError, category_of, classify
from survey.aapor.rates import (
    RATE_NAMES,
    InvalidDispositions,
    eligibility_rate,
    outcome_rates,
    outcome_rates_from_codes,
)

PUBLISHED_COUNTS = {"I": 4, "P": 2, "R": 1, "NC": 1, "O": 1, "UH": 1, "UO": 1, "NE": 1}
PUBLISHED_RATES = {
    "RR1": 0.364, "RR2": 0.545, "RR3": 0.370, "RR4": 0.556, "RR5": 0.444, "RR6": 0.667,
    "COOP1": 0.500, "COOP2": 0.750, "COOP3": 0.571, "COOP4": 0.857,
    "REF1": 0.091, "REF2": 0.093, "REF3": 0.111,
    "CON1": 0.727, "CON2": 0.741, "CON3": 0.889,
}  # fmt: skip
PRINTED_TO_3_DECIMALS = 5e-4

#: One code per case giving the published counts, with refinements a CATI system writes.
PUBLISHED_CODES = ["1.1", "1.1", "1.11", "1.1", "1.2", "1.21", "2.111", "2.21", "2.33",
                   "3.13", "3.90", "4.31"]  # fmt: skip


def test_published_worked_example_is_reproduced_with_proportional_e() -> None:
    result = outcome_rates(PUBLISHED_COUNTS)
    assert result.e_method == "proportional"
    assert result.e == pytest.approx(0.9)  # (4+2+1+1+1) / (9 + 1 NE)
    assert set(result.rates) == set(RATE_NAMES) == set(PUBLISHED_RATES)
    for name, published in PUBLISHED_RATES.items():
        assert result.rates[name] == pytest.approx(published, abs=PRINTED_TO_3_DECIMALS), name
    assert result.notes == []


def test_published_example_from_one_code_per_case_gives_the_same_rates() -> None:
    from_codes = outcome_rates_from_codes(PUBLISHED_CODES)
    assert from_codes.counts == {**dict.fromkeys(CATEGORIES, 0), **PUBLISHED_COUNTS}
    assert from_codes.rates == outcome_rates(PUBLISHED_COUNTS).rates


def test_tenth_edition_ur_counts_among_the_unknowns_in_every_formula() -> None:
    counts = {"I": 10, "P": 2, "R": 3, "NC": 4, "O": 1, "UH": 5, "UR": 7, "UO": 6, "NE": 8}
    known, unknown = 20, 18
    estimated = known + 0.4 * unknown
    expected = {
        "RR1": 10 / (known + unknown), "RR2": 12 / (known + unknown),
        "RR3": 10 / estimated, "RR4": 12 / estimated, "RR5": 10 / known, "RR6": 12 / known,
        "COOP1": 10 / 16, "COOP2": 12 / 16, "COOP3": 10 / 15, "COOP4": 12 / 15,
        "REF1": 3 / (known + unknown), "REF2": 3 / estimated, "REF3": 3 / known,
        "CON1": 16 / (known + unknown), "CON2": 16 / estimated, "CON3": 16 / known,
    }  # fmt: skip
    result = outcome_rates(counts, e=0.4)
    assert result.e_method == "given" and result.e == 0.4
    for name, value in expected.items():
        assert result.rates[name] == pytest.approx(value, abs=1e-12), name


def test_moving_3_20_from_uo_to_ur_changes_no_rate_for_one_e() -> None:
    ninth = {"I": 5, "P": 1, "R": 2, "NC": 1, "O": 1, "UO": 4, "NE": 2}
    tenth = {**ninth, "UO": 0, "UR": 4}
    assert outcome_rates(ninth, e=0.37).rates == outcome_rates(tenth, e=0.37).rates


def test_proportional_e_ignores_unknowns_and_counts_ne() -> None:
    # outcomerate test-ur.R: 100 UR cases do not move e = 10 / 15.
    counts = {"I": 4, "P": 1, "R": 2, "NC": 1, "O": 2, "UR": 100, "NE": 5}
    assert eligibility_rate(counts) == pytest.approx(10 / 15)
    assert eligibility_rate({"UH": 3}) is None


def test_given_e_replaces_the_estimate_and_is_recorded() -> None:
    proportional = outcome_rates(PUBLISHED_COUNTS)
    given = outcome_rates(PUBLISHED_COUNTS, e=0.5)
    assert (given.e, given.e_method) == (0.5, "given")
    assert given.rates["RR3"] == pytest.approx(4 / (9 + 0.5 * 2))
    assert given.rates["RR3"] != proportional.rates["RR3"]
    # Rates without e do not depend on it.
    assert given.rates["RR1"] == proportional.rates["RR1"]
    # e = 1 takes every unknown case as eligible: RR3 becomes RR1.
    assert outcome_rates(PUBLISHED_COUNTS, e=1.0).rates["RR3"] == pytest.approx(
        proportional.rates["RR1"]
    )


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, math.inf, True, "0.5", "half"])
def test_e_outside_zero_one_or_not_a_number_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="e must"):
        outcome_rates(PUBLISHED_COUNTS, e=bad)


def test_no_refusals_gives_zero_refusal_rates_not_undefined() -> None:
    result = outcome_rates({"I": 3, "NC": 2})
    assert result.rates["REF1"] == result.rates["REF2"] == result.rates["REF3"] == 0.0
    assert result.rates["COOP3"] == 1.0
    assert result.notes == []


def test_all_unknown_gives_none_with_notes_and_undefined_proportional_e() -> None:
    result = outcome_rates({"UH": 2, "UO": 1})
    assert result.e is None and result.e_method == "proportional"
    assert result.rates["RR1"] == 0.0  # the denominator holds the unknown cases
    for name in ("RR3", "RR4", "REF2", "CON2", "RR5", "RR6", "REF3", "CON3",
                 "COOP1", "COOP2", "COOP3", "COOP4"):  # fmt: skip
        assert result.rates[name] is None, name
    text = " | ".join(result.notes)
    assert "e is undefined" in text
    assert "RR5, RR6, REF3, CON3 undefined: (I+P)+(R+NC+O) is 0" in text
    assert "COOP3, COOP4 undefined: (I+P)+R is 0" in text


def test_all_unknown_with_given_e_defines_the_e_rates() -> None:
    result = outcome_rates({"UH": 2}, e=0.5)
    assert result.rates["RR3"] == 0.0 and result.rates["RR5"] is None
    assert outcome_rates({"UH": 2}, e=0.0).rates["RR3"] is None  # 0 + 0·U


def test_only_ineligible_cases_leave_every_rate_undefined_without_crashing() -> None:
    result = outcome_rates({"NE": 4})
    assert result.e == 0.0
    assert all(value is None for value in result.rates.values())
    assert len(result.notes) == 5  # one per distinct zero denominator


def test_no_cases_at_all_is_reported_not_crashed() -> None:
    result = outcome_rates({})
    assert result.e is None and all(v is None for v in result.rates.values())
    assert "n/a" in result.summary()


def test_counts_with_an_unknown_category_or_negative_count_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown categories"):
        outcome_rates({"I": 1, "U": 2})
    with pytest.raises(ValueError, match="negative"):
        outcome_rates({"I": 1, "R": -1})


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("1.1", "I"), ("1.11", "I"), ("1.2", "P"), ("1.21", "P"),
        ("2.10", "R"), ("2.11", "R"), ("2.111", "R"), ("2.1121", "R"), ("2.12", "R"),
        ("2.21", "NC"), ("2.27", "NC"), ("2.33", "O"), ("2.36", "O"), ("2.90", "O"),
        ("3.11", "UH"), ("3.13", "UH"), ("3.19", "UH"), ("3.20", "UR"), ("3.21", "UR"),
        ("3.30", "UO"), ("3.40", "UO"), ("3.90", "UO"),
        ("4", "NE"), ("4.0", "NE"), ("4.31", "NE"), ("4.80", "NE"),
        (" 2.21 ", "NC"), (2.11, "R"), (4, "NE"),
    ],
)  # fmt: skip
def test_codes_map_to_categories_by_prefix_whatever_the_extra_digits(code, category) -> None:
    assert category_of(code) == category


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("", "empty"), (None, "empty"), ("x", "not an AAPOR"), ("2,11", "not an AAPOR"),
        ("5.1", "not an AAPOR"), ("1", "too coarse"), ("2.0", "too coarse"),
        ("3", "too coarse"), ("2.5", "2.5x is not"), ("1.3", "1.3x is not"),
        ("2.01", "2.0x is not"), ("I", "not an AAPOR"),
    ],
)  # fmt: skip
def test_values_that_are_no_valid_code_say_what_is_wrong(code, problem) -> None:
    with pytest.raises(DispositionError, match=problem):
        category_of(code)


def test_invalid_codes_are_reported_per_row_never_dropped() -> None:
    codes = ["1.1", "2.5", "3.13", "", "2"]
    categories, problems = classify(codes, rows=[2, 3, 4, 5, 6])
    assert categories == ["I", None, "UH", None, None]
    assert [(p.row, p.value) for p in problems] == [(3, "2.5"), (5, ""), (6, "2")]
    with pytest.raises(InvalidDispositions) as caught:
        outcome_rates_from_codes(codes)
    assert len(caught.value.problems) == 3
    message = str(caught.value)
    assert "row 2: '2.5'" in message and "row 5: '2'" in message
    assert "valid codes: 1.1 (I)" in message


def test_summary_prints_every_rate_as_a_percentage() -> None:
    text = outcome_rates(PUBLISHED_COUNTS).summary()
    assert "e = 0.9000 (proportional)" in text
    assert "RR1   36.4%" in text and "CON3   88.9%" in text

"""Units whose items combine differently are flagged, and only they (MICOM step 2 per unit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.invariance import unit_comparability

MODEL = "A =~ a1 + a2 + a3\nB =~ b1 + b2 + b3\nB ~ A\n"
REGIONS = ("north", "south", "east", "west", "centre", "coast")


def survey(shifted: str | None, seed: int, n: int = 1200) -> pd.DataFrame:
    """Two constructs; in ``shifted`` the item a1 stops measuring A (pure noise), so that
    A's composite is formed differently there. Every region also has its own mean."""
    rng = np.random.default_rng(seed)
    region = np.resize(REGIONS, n)
    a = rng.normal(size=n) + (region == "south") * 0.5  # mean differences are not the point
    b = 0.6 * a + 0.8 * rng.normal(size=n)
    columns = {}
    for name, factor in (("a", a), ("b", b)):
        for i in (1, 2, 3):
            columns[f"{name}{i}"] = factor + rng.normal(scale=0.7, size=n)
    if shifted is not None:
        inside = region == shifted
        columns["a1"][inside] = rng.normal(scale=1.2, size=inside.sum())
    return pd.DataFrame(columns).assign(region=region)


def test_the_region_measured_differently_is_flagged_and_named_in_both_languages():
    check = unit_comparability(MODEL, survey("east", seed=3), "region", n_permutations=500,
                               random_state=1)  # fmt: skip
    assert check.flagged == {"east": ("A",)}
    assert check.table.loc["east", "p_adjusted"] < 0.05
    messages = check.messages()
    assert "east (A)" in messages["en"] and "not comparable" in messages["en"]
    assert "east (A)" in messages["zh"] and "不可比较" in messages["zh"]
    (warning,) = check.warnings()
    assert warning.code == "not-comparable" and warning.subject == "region=east"
    report = check.to_dict()
    assert {u["unit"]: u["comparable"] for u in report["units"]}["east"] is False


@pytest.mark.parametrize("seed", [4, 5])
def test_regions_measured_alike_are_all_comparable_despite_different_means(seed):
    check = unit_comparability(MODEL, survey(None, seed=seed), "region", n_permutations=500,
                               random_state=seed)  # fmt: skip
    assert check.flagged == {} and check.table["comparable"].tolist() == [True] * 6
    assert check.messages() == {"zh": "", "en": ""} and check.warnings() == []


def test_small_units_are_not_tested_but_stay_in_the_rest():
    data = survey(None, seed=6)
    data.loc[data.index[:15], "region"] = "island"
    check = unit_comparability(MODEL, data, "region", min_n=30, n_permutations=200,
                               random_state=1)  # fmt: skip
    assert check.table.loc["island", "comparable"] is None
    assert check.table.loc["island", "n"] == 15
    with pytest.raises(ValueError, match="no column 'hall'"):
        unit_comparability(MODEL, data, "hall")

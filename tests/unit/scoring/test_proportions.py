"""The Wilson interval of a share, checked against statsmodels' (a dev dependency)."""

from __future__ import annotations

import pytest

from scoring.proportions import wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 10), (28, 30), (30, 30), (412, 1000), (1, 3)])
def test_the_wilson_interval_is_statsmodels(k, n):
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-12)


def test_no_answer_has_no_interval_and_an_impossible_count_is_refused():
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson_interval(5, 3)

"""A share of customers with its confidence interval: the Wilson score interval.

"% satisfied" and top-2-box shares are proportions of small or lopsided counts (a hall's
30 answers, 28 of them top-two): the Wald interval p ± z·sqrt(p(1-p)/n) then leaves [0, 1]
or collapses to a point at 0 or 1. Wilson's (1927) interval stays inside and keeps close to
its nominal coverage (Brown, Cai & DasGupta 2001); it is statsmodels'
``proportion_confint(method="wilson")``, against which the tests check it.
"""

from __future__ import annotations

import math

from models.distributions import normal_quantile


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes`` out of ``n``; None when ``n`` is 0."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n}: give 0 <= successes <= n")
    z = normal_quantile(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)

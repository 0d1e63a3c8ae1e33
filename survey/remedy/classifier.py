"""The "potentially dissatisfied" classifier of the service remedy.

A logistic regression predicts whether a customer is dissatisfied (overall satisfaction of 2
or less on 1-5) from what is known without asking: the customer's frame attributes (tier,
region, tenure, spend), the survey channel, and the answers to the *driver* items (network,
billing, hall ...). The score is used to call back customers who did not say they are
dissatisfied but answer like those who did.

Why a logistic regression, and why scikit-learn only at training time: its coefficients can
be read by a supervisor ("a poor data-speed rating raises the odds by ..."), and scoring needs
nothing but a weighted sum, so the fitted parameters are stored as plain JSON
(:class:`~survey.db.tables.RemedyModel`) and a response is scored by :func:`score` without
scikit-learn and without unpickling anything. Scikit-learn fits, cross-validates and computes
the AUC; the JSON scoring is tested to equal its ``predict_proba`` to 1e-12.

Legitimate features (no target leakage):

- never the target item, nor any item of the target's construct (``sat_expectation``,
  ``sat_ideal`` measure satisfaction itself), nor items of constructs the questionnaire's
  structural model puts downstream of it (loyalty, caused by satisfaction);
- items with a construct upstream of the target (the drivers), of any scored type;
- items without a construct only when they report a fact (``yes_no``, ``single``, e.g.
  "complained"): a construct-less ``nps`` (likelihood to recommend) is a loyalty outcome;
- never an item whose skip logic refers to the target or to an excluded item: whether it was
  asked at all would reveal the answer (``improve`` is asked only when ``sat_overall <= 2``);
- text and multiple-choice items are not used.

"Cannot answer" is missing, never a score: a missing number is replaced by its training mean
(so it adds nothing to the sum once standardized), a missing category matches no category.

When the model is used (documented defaults, :class:`DissatisfactionClassifier`):

- ``usable`` only when the validation AUC is at least ``min_auc`` (0.70, "acceptable
  discrimination" in Hosmer & Lemeshow's scale) *and* its DeLong interval excludes 0.5; a
  weak model is stored for the record but its score is never used;
- the threshold serves the outbound team's time: the lowest score at which at least
  ``precision_target`` (50%) of the customers flagged are truly dissatisfied, chosen on
  out-of-fold predictions of the training part, then reported honestly on the validation
  part (precision, recall, share flagged). No threshold reaching the target: unusable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from survey.db.tables import RemedyModel, utcnow
from survey.questionnaire import Item, Questionnaire
from survey.questionnaire.structural import read_statements

TARGET_ITEM = "sat_overall"
#: The target: dissatisfied means a score of at most this on the target item (2 of 5).
DISSATISFIED_AT_MOST = 2.0
#: The least validation AUC for the score to be used.
MIN_AUC = 0.70
#: The share of flagged customers who should truly be dissatisfied.
PRECISION_TARGET = 0.5
NUMERIC_ATTRIBUTES = ("tenure_months", "monthly_spend")
CATEGORICAL_ATTRIBUTES = ("tier", "region", "channel")
#: The sample data says "web" where the database says "web_link": one category for both.
CHANNEL_ALIASES = {"web": "web_link"}
_FACT_TYPES = ("yes_no", "single")


# -- features -----------------------------------------------------------------------------


def _downstream(questionnaire: Questionnaire, construct: str) -> set[str]:
    """``construct`` and every construct its structural model says it causes."""
    statements, _ = read_statements(questionnaire.structural_model)
    caused_by: dict[str, set[str]] = {}
    for statement in statements:
        if statement.op == "~":  # lhs ~ rhs: the rhs cause the lhs
            for cause in statement.rhs:
                caused_by.setdefault(cause, set()).update(statement.lhs)
    found, todo = {construct}, [construct]
    while todo:
        for effect in caused_by.get(todo.pop(), ()):
            if effect not in found:
                found.add(effect)
                todo.append(effect)
    return found


def feature_items(questionnaire: Questionnaire, target: str = TARGET_ITEM) -> tuple[str, ...]:
    """The items whose answers may predict ``target`` without leaking it (module docstring)."""
    target_item = questionnaire.item(target)
    excluded_constructs = (
        _downstream(questionnaire, target_item.construct) if target_item.construct else set()
    )
    excluded = {target}
    chosen: list[str] = []
    for item in questionnaire.items:
        if item.name == target or item.construct in excluded_constructs:
            excluded.add(item.name)
            continue
        scored = item.bounds is not None or item.type == "yes_no"
        if item.construct is not None:
            usable = scored
        else:
            usable = scored and item.type in _FACT_TYPES
        if not usable:
            excluded.add(item.name)
            continue
        chosen.append(item.name)
    # Skip logic that looks at an excluded item: being asked would itself reveal it.
    return tuple(
        name
        for name in chosen
        if not (
            (relevant := questionnaire.item(name).relevant) is not None
            and relevant.references & excluded
        )
    )


def _number(item: Item, code: Any) -> float | None:
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return None
    if isinstance(code, float) and code.is_integer():
        code = int(code)  # read from CSV as 4.0; stored codes are "4"
    return item.score(str(code))


def _category(name: str, value: Any) -> str:
    """Categories as text; a missing one is "" (it then matches no trained category)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return CHANNEL_ALIASES.get(text, text) if name == "channel" else text


def features_of(
    questionnaire: Questionnaire,
    items: Sequence[str],
    answers: Mapping[str, Any],
    attributes: Mapping[str, Any],
) -> dict[str, Any]:
    """One response's features: item scores (None when missing) and customer attributes.

    ``answers`` holds stored codes ("4", "6" for cannot answer); ``attributes`` the
    customer's tier, region, tenure_months, monthly_spend and the response's channel. Used
    both to build the training table and to score a live response, so both see the same.
    """
    row: dict[str, Any] = {
        name: _number(questionnaire.item(name), answers.get(name)) for name in items
    }
    for name in NUMERIC_ATTRIBUTES:
        value = attributes.get(name)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        row[name] = None if missing else float(value)
    for name in CATEGORICAL_ATTRIBUTES:
        row[name] = _category(name, attributes.get(name))
    return row


def training_table(
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    frame: pd.DataFrame,
    *,
    target: str = TARGET_ITEM,
    dissatisfied_at_most: float = DISSATISFIED_AT_MOST,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and target (1 = dissatisfied) from a responses table and its sample frame.

    ``responses`` has one row per response, answer codes in item columns, ``customer_id``
    and ``channel`` (the layout of ``data/samples/responses.csv``); ``frame`` gives each
    customer's tenure_months, monthly_spend, tier and region. Responses whose target is
    missing ("cannot answer") are left out: their truth is unknown.
    """
    if target not in responses.columns:
        raise ValueError(f"the responses have no column {target!r}, the target item")
    if "customer_id" not in responses.columns or "customer_id" not in frame.columns:
        raise ValueError("the responses and the frame both need a customer_id column")
    items = feature_items(questionnaire, target)
    wanted = [
        "customer_id",
        *[c for c in (*NUMERIC_ATTRIBUTES, "tier", "region") if c in frame.columns],
    ]
    customers = frame[wanted].astype({"customer_id": str}).drop_duplicates("customer_id")
    answers = responses.astype({"customer_id": str}).drop(
        columns=[c for c in ("tier", "region") if c in responses.columns and c in customers]
    )
    joined = answers.merge(customers, on="customer_id", how="left", validate="many_to_one")
    target_item = questionnaire.item(target)
    rows, labels = [], []
    for record in joined.to_dict("records"):
        value = _number(target_item, record.get(target))
        if value is None:
            continue
        rows.append(features_of(questionnaire, items, record, record))
        labels.append(int(value <= dissatisfied_at_most))
    columns = [*items, *NUMERIC_ATTRIBUTES, *CATEGORICAL_ATTRIBUTES]
    return pd.DataFrame(rows, columns=columns), np.asarray(labels, dtype=int)


# -- validation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AucInterval:
    """An AUC with its DeLong standard error and confidence interval."""

    auc: float
    se: float
    ci_low: float
    ci_high: float
    level: float


def delong_auc(y: np.ndarray, scores: np.ndarray, level: float = 0.95) -> AucInterval:
    """The AUC of ``scores`` for binary ``y``, with DeLong's variance and a Wald interval.

    Uses the placement values of DeLong, DeLong & Clarke-Pearson (1988), computed with
    midranks as in Sun & Xu (2014), which handles tied scores (ties count one half).

    References: DeLong ER et al., Biometrics 44(3):837-845, doi:10.2307/2531595;
    Sun X, Xu W, IEEE Signal Processing Letters 21(11):1389-1393,
    doi:10.1109/LSP.2014.2337313.
    """
    from scipy.stats import norm, rankdata  # here: the web app imports this module

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
    """The lowest score whose flagged set (score >= it) has precision >= ``target``.

    The lowest such score flags the most dissatisfied customers while keeping the calls
    worth making. None when no threshold reaches the target.
    """
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_y = scores[order], np.asarray(y)[order]
    true_positives = np.cumsum(sorted_y)
    flagged = np.arange(1, len(scores) + 1)
    # Only the last position of a run of tied scores is a threshold one can set.
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    ok = last_of_tie & (true_positives / flagged >= target)
    if not ok.any():
        return None
    return float(sorted_scores[np.flatnonzero(ok)[-1]])


def _rates_at(y: np.ndarray, scores: np.ndarray, threshold: float | None) -> dict[str, Any]:
    flagged = scores >= threshold if threshold is not None else np.zeros(len(y), dtype=bool)
    hits = int((flagged & (y == 1)).sum())
    return {
        "precision": hits / int(flagged.sum()) if flagged.any() else None,
        "recall": hits / int((y == 1).sum()) if (y == 1).any() else None,
        "flagged_share": float(flagged.mean()),
    }


# -- the classifier -----------------------------------------------------------------------


class DissatisfactionClassifier:
    """Logistic regression of "dissatisfied" on legitimate features, validated on a holdout.

    Parameters (stored only; checked by :meth:`fit`): ``validation_share`` of the rows held
    out (stratified), ``min_auc`` and ``precision_target`` (module docstring), ``C`` the
    inverse L2 penalty, ``level`` of the AUC interval, ``random_state`` of the split and
    the folds.

    Learned: ``pipeline_`` (scikit-learn), ``validation_`` (:class:`AucInterval`),
    ``threshold_``, ``usable_``, ``reason_``, ``n_train_``, ``n_validation_`` and
    ``parameters_`` (the JSON that :func:`score` reads).
    """

    def __init__(
        self,
        *,
        validation_share: float = 0.25,
        min_auc: float = MIN_AUC,
        precision_target: float = PRECISION_TARGET,
        C: float = 1.0,
        level: float = 0.95,
        random_state: int | None = 0,
    ) -> None:
        self.validation_share = validation_share
        self.min_auc = min_auc
        self.precision_target = precision_target
        self.C = C
        self.level = level
        self.random_state = random_state

    def _check(self, features: pd.DataFrame, y: np.ndarray) -> None:
        if not 0 < self.validation_share < 1:
            raise ValueError("validation_share must lie between 0 and 1")
        if not 0.5 <= self.min_auc <= 1 or not 0 < self.precision_target <= 1:
            raise ValueError("min_auc must lie in [0.5, 1] and precision_target in (0, 1]")
        if len(features) != len(y):
            raise ValueError(f"{len(features)} rows of features but {len(y)} targets")
        counts = np.bincount(np.asarray(y, dtype=int), minlength=2)
        if counts.min() < 20:
            raise ValueError(
                f"training needs at least 20 dissatisfied and 20 other responses; "
                f"got {counts[1]} and {counts[0]}"
            )

    def fit(self, features: pd.DataFrame, y: np.ndarray) -> DissatisfactionClassifier:
        """Fit on the training part, validate on the held-out part, choose the threshold."""
        from sklearn.model_selection import cross_val_predict, train_test_split

        y = np.asarray(y, dtype=int)
        self._check(features, y)
        numeric = [c for c in features.columns if c not in CATEGORICAL_ATTRIBUTES]
        # An all-missing column has no mean to impute; scikit-learn would drop it silently.
        numeric = [c for c in numeric if features[c].notna().any()]
        categorical = [c for c in CATEGORICAL_ATTRIBUTES if c in features.columns]
        features = features[numeric + categorical]
        x_train, x_valid, y_train, y_valid = train_test_split(
            features,
            y,
            test_size=self.validation_share,
            stratify=y,
            random_state=self.random_state,
        )
        pipeline = _pipeline(numeric, categorical, self.C)
        out_of_fold = cross_val_predict(
            pipeline, x_train, y_train, cv=_folds(self.random_state), method="predict_proba"
        )[:, 1]
        self.threshold_ = precision_threshold(y_train, out_of_fold, self.precision_target)
        self.pipeline_ = pipeline.fit(x_train, y_train)
        valid_scores = self.pipeline_.predict_proba(x_valid)[:, 1]
        self.validation_ = delong_auc(y_valid, valid_scores, self.level)
        self.at_threshold_ = _rates_at(y_valid, valid_scores, self.threshold_)
        self.n_train_, self.n_validation_ = len(y_train), len(y_valid)
        self.usable_, self.reason_ = self._judge()
        self.parameters_ = _export(self, numeric, categorical)
        return self

    def _judge(self) -> tuple[bool, str | None]:
        auc = self.validation_
        if auc.auc < self.min_auc:
            return False, f"validation AUC {auc.auc:.3f} is below the minimum {self.min_auc}"
        if auc.ci_low <= 0.5:
            return False, f"the AUC's {auc.level:.0%} interval reaches 0.5 (chance)"
        if self.threshold_ is None:
            return False, f"no threshold reaches precision {self.precision_target}"
        return True, None

    def summary(self) -> dict[str, Any]:
        """What a person needs to judge the model (the CLI prints it)."""
        v = self.validation_
        return {
            "auc": v.auc,
            "auc_se": v.se,
            "auc_ci_low": v.ci_low,
            "auc_ci_high": v.ci_high,
            "ci_level": v.level,
            "ci_method": "DeLong",
            "usable": self.usable_,
            "reason": self.reason_,
            "min_auc": self.min_auc,
            "threshold": self.threshold_,
            "precision_target": self.precision_target,
            "at_threshold": self.at_threshold_,
            "n_train": self.n_train_,
            "n_validation": self.n_validation_,
        }


def _folds(random_state: int | None):
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)


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


def _export(fitted: DissatisfactionClassifier, numeric: list[str], categorical: list[str]):
    """The fitted pipeline as plain JSON: everything :func:`score` needs, nothing pickled."""
    import sklearn

    transformer = fitted.pipeline_.named_steps["features"]
    imputer = transformer.named_transformers_["numeric"].named_steps["impute"]
    scaler = transformer.named_transformers_["numeric"].named_steps["scale"]
    encoder = transformer.named_transformers_["categorical"]
    model = fitted.pipeline_.named_steps["model"]
    coefficients = [float(c) for c in model.coef_[0]]
    numbers = [
        {
            "name": name,
            "impute": float(imputer.statistics_[i]),
            "mean": float(scaler.mean_[i]),
            "scale": float(scaler.scale_[i]),
            "coefficient": coefficients[i],
        }
        for i, name in enumerate(numeric)
    ]
    position = len(numeric)
    categories = []
    for name, values in zip(categorical, encoder.categories_, strict=True):
        weights = {}
        for value in values:
            weights[str(value)] = coefficients[position]
            position += 1
        categories.append({"name": name, "coefficients": weights})
    return {
        "kind": "logistic_regression",
        "numeric": numbers,
        "categorical": categories,
        "intercept": float(model.intercept_[0]),
        "threshold": fitted.threshold_,
        "validation": fitted.summary(),
        "library": {"scikit-learn": sklearn.__version__},
    }


# -- scoring ------------------------------------------------------------------------------


def score(parameters: Mapping[str, Any], features: Mapping[str, Any]) -> float:
    """The probability of "dissatisfied" from stored JSON parameters (no scikit-learn).

    Numbers: a missing one takes its training mean, then ``(x - mean) / scale``; categories:
    the coefficient of the matching one (none matches: nothing added). Then the logistic
    function, in the numerically stable form for both signs of the sum.
    """
    if parameters.get("kind") != "logistic_regression":
        raise ValueError(f"unknown remedy model kind {parameters.get('kind')!r}")
    total = float(parameters["intercept"])
    for number in parameters["numeric"]:
        value = features.get(number["name"])
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = number["impute"]
        total += number["coefficient"] * ((float(value) - number["mean"]) / number["scale"])
    for category in parameters["categorical"]:
        value = _category(category["name"], features.get(category["name"]))
        total += category["coefficients"].get(value, 0.0)
    if total >= 0:
        return 1.0 / (1.0 + math.exp(-total))
    exp = math.exp(total)
    return exp / (1.0 + exp)


def flags(parameters: Mapping[str, Any], probability: float) -> bool:
    """Whether a score is high enough to open a follow-up (never without a threshold)."""
    threshold = parameters.get("threshold")
    return threshold is not None and probability >= threshold


# -- storage ------------------------------------------------------------------------------


def store_model(
    session: Session,
    version_id: int,
    fitted: DissatisfactionClassifier,
    *,
    questionnaire: Questionnaire,
    target: str = TARGET_ITEM,
    dissatisfied_at_most: float = DISSATISFIED_AT_MOST,
    now: datetime | None = None,
) -> RemedyModel:
    """Store a fitted classifier as the version's active model (the previous one retires).

    A weak model is stored too (``usable`` False): the newest training speaks for the
    current data, so it replaces an older usable model rather than leaving it in force.
    Commits.
    """
    session.execute(
        update(RemedyModel)
        .where(RemedyModel.questionnaire_version_id == version_id, RemedyModel.active)
        .values(active=False)
    )
    parameters = {
        **fitted.parameters_,
        "target": {"item": target, "dissatisfied_at_most": dissatisfied_at_most},
        "items": feature_items(questionnaire, target),
    }
    row = RemedyModel(
        questionnaire_version_id=version_id,
        trained_at=now or utcnow(),
        n_train=fitted.n_train_,
        n_validation=fitted.n_validation_,
        auc=fitted.validation_.auc,
        auc_ci_low=fitted.validation_.ci_low,
        auc_ci_high=fitted.validation_.ci_high,
        usable=fitted.usable_,
        active=True,
        parameters=parameters,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


_T = RemedyModel.__table__.c


def usable_model(connection: Connection, version_id: int) -> dict[str, Any] | None:
    """The parameters of the version's active model, or None when it has none or it is weak."""
    statement = (
        select(_T.parameters)
        .where(_T.questionnaire_version_id == version_id, _T.active.is_(True), _T.usable.is_(True))
        .order_by(_T.trained_at.desc(), _T.id.desc())
        .limit(1)
    )
    return connection.execute(statement).scalar()

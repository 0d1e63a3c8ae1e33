"""The "potentially dissatisfied" classifier of the service remedy: its features, storage and use.

A logistic regression predicts whether a customer is dissatisfied (overall satisfaction of 2
or less on 1-5) from what is known without asking: the customer's frame attributes (tier,
region, tenure, spend), the survey channel, and the answers to the *driver* items (network,
billing, hall ...). The score is used to call back customers who did not say they are
dissatisfied but answer like those who did.

Who does what: this module builds the features from a questionnaire and its answers
(:func:`training_table` to train, :func:`features_of` for one live response), stores a
fitted model's parameters (:func:`store_model`) and applies them (:func:`score`,
:func:`flags`, :func:`usable_model`). The fitting, the validation AUC with its DeLong
interval, the threshold and the verdict "usable" are statistics, in
:mod:`models.classifier`; ``manyi remedy train`` (:mod:`api.cli.remedy`) puts the two
together: training table here, ``fit_classifier`` there, then :func:`store_model` here.

Why a logistic regression, and why scikit-learn only at training time: its coefficients can
be read by a supervisor ("a poor data-speed rating raises the odds by ..."), and scoring needs
nothing but a weighted sum, so the fitted parameters are stored as plain JSON
(:class:`~survey.db.tables.RemedyModel`) and a response is scored by :func:`score` without
scikit-learn and without unpickling anything; the JSON scoring is tested to equal
scikit-learn's ``predict_proba`` to 1e-12.

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
The columns of :data:`CATEGORICAL_ATTRIBUTES` are the categories to fit with.

A model is stored whether or not it is usable (its ``validation`` says which, and why); only
a usable one is ever applied (:func:`usable_model`), and only with a threshold
(:func:`flags`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from models.syntax import read_statements
from survey.db.tables import RemedyModel, utcnow
from survey.questionnaire import Item, Questionnaire

TARGET_ITEM = "sat_overall"
#: The target: dissatisfied means a score of at most this on the target item (2 of 5).
DISSATISFIED_AT_MOST = 2.0
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
            for term in statement.terms:
                caused_by.setdefault(term.name, set()).add(statement.lhs)
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
    parameters: Mapping[str, Any],
    *,
    questionnaire: Questionnaire,
    target: str = TARGET_ITEM,
    dissatisfied_at_most: float = DISSATISFIED_AT_MOST,
    now: datetime | None = None,
) -> RemedyModel:
    """Store a fitted model as the version's active one (the previous one retires).

    ``parameters`` is the fitted model as plain JSON
    (``models.classifier.ClassifierFit.parameters()``): what :func:`score` reads, and
    under ``validation`` the AUC, its interval, the sizes and whether it is usable. The
    target and the feature items are added to it. A weak model is stored too (``usable``
    False): the newest training speaks for the current data, so it replaces an older usable
    model rather than leaving it in force. Commits.
    """
    validation = parameters["validation"]
    session.execute(
        update(RemedyModel)
        .where(RemedyModel.questionnaire_version_id == version_id, RemedyModel.active)
        .values(active=False)
    )
    stored = {
        **parameters,
        "target": {"item": target, "dissatisfied_at_most": dissatisfied_at_most},
        "items": feature_items(questionnaire, target),
    }
    row = RemedyModel(
        questionnaire_version_id=version_id,
        trained_at=now or utcnow(),
        n_train=validation["n_train"],
        n_validation=validation["n_validation"],
        auc=validation["auc"],
        auc_ci_low=validation["auc_ci_low"],
        auc_ci_high=validation["auc_ci_high"],
        usable=validation["usable"],
        active=True,
        parameters=stored,
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

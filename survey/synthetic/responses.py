"""Synthetic CSI responses simulated from a structural model with known true parameters.

The truth (paths, loadings, item locations, "cannot answer" rates, careless responders,
segment and period effects) is read from a YAML file such as
``data/samples/csi_truth.yaml``, whose comments document the model. The same seed gives
the same data, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from survey.questionnaire import Questionnaire
from survey.questionnaire.bounded import load_yaml, read_text

RESPONSE_COLUMNS = (
    "response_id",
    "customer_id",
    "region",
    "service_hall",
    "tier",
    "channel",
    "language",
    "submitted_at",
)
_TOPICS = {
    "zh": ("信号差", "账单看不懂", "多收费", "营业厅排队太久", "宽带故障"),
    "en": ("poor signal", "unclear bill", "overcharged", "long queue", "broadband fault"),
}
_IMPROVEMENTS = {
    "zh": ("提高网速", "减少掉话", "账单更清楚", "缩短排队"),
    "en": ("faster data", "fewer dropped calls", "clearer bills", "shorter queues"),
}


def read_truth(path: str | Path) -> dict[str, Any]:
    truth = load_yaml(read_text(path), Path(path).name)[0]
    if not isinstance(truth, Mapping) or "paths" not in truth or "loadings" not in truth:
        raise ValueError(f"{path}: not a truth file (it needs paths and loadings)")
    return dict(truth)


def _driver_covariance(drivers: list[str], rho: float) -> np.ndarray:
    k = len(drivers)
    return (1 - rho) * np.eye(k) + rho * np.ones((k, k))


def implied_r2(truth: Mapping[str, Any]) -> dict[str, float]:
    """R² of satisfaction and loyalty implied by the latent model (before segment shifts)."""
    drivers = list(truth["paths"]["satisfaction"])
    sigma = _driver_covariance(drivers, truth["driver_correlation"])
    b = np.array([truth["paths"]["satisfaction"][d] for d in drivers])
    r2_sat = float(b @ sigma @ b)
    loyalty = truth["paths"]["loyalty"]
    g_sat = loyalty.get("satisfaction", 0.0)
    cov_sat = dict(zip(drivers, sigma @ b, strict=True))  # Cov(driver, satisfaction)
    explained = g_sat**2
    others = [x for x in loyalty if x != "satisfaction"]
    for x in others:
        explained += loyalty[x] ** 2 + 2 * g_sat * loyalty[x] * cov_sat[x]
    for i, x in enumerate(others):
        for y in others[i + 1 :]:
            explained += 2 * loyalty[x] * loyalty[y] * sigma[drivers.index(x), drivers.index(y)]
    return {"satisfaction": r2_sat, "loyalty": float(explained)}


def _check(truth: Mapping[str, Any], questionnaire: Questionnaire) -> None:
    r2 = implied_r2(truth)
    for construct, value in r2.items():
        if not 0 < value < 1:
            raise ValueError(
                f"the truth's paths explain {value:.2f} of {construct}'s variance; "
                "reduce the paths so that R² stays below 1"
            )
    constructs = questionnaire.construct_items()
    needed = set(truth["paths"]["satisfaction"]) | {"satisfaction", "loyalty"}
    unknown = needed - set(constructs)
    if unknown:
        raise ValueError(f"the truth names constructs the questionnaire lacks: {sorted(unknown)}")
    items = [i for c in needed for i in constructs[c]]
    missing = [i for i in items if i not in truth["loadings"]]
    if missing:
        raise ValueError(f"the truth gives no loading for item(s) {', '.join(missing)}")
    for name in items:
        if not 0 < truth["loadings"][name] < 1:
            raise ValueError(f"loading of {name} must lie strictly between 0 and 1")
        scored = questionnaire.item(name).choices.scored  # type: ignore[union-attr]
        if len(scored) != len(truth["base_thresholds"]) + 1:
            raise ValueError(
                f"item {name} has {len(scored)} answer options; the truth's thresholds "
                f"make {len(truth['base_thresholds']) + 1}"
            )


def simulate_responses(
    questionnaire: Questionnaire,
    frame: pd.DataFrame,
    truth: Mapping[str, Any],
    n: int,
    seed: int,
) -> pd.DataFrame:
    """Simulate ``n`` completed questionnaires from respondents drawn out of ``frame``.

    Respondents are drawn without replacement when ``n`` does not exceed the frame, with
    replacement otherwise. Answers are the stored choice codes ("6" = cannot answer),
    text answers are short canned phrases in the respondent's language, and items skipped
    by skip logic are empty.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    _check(truth, questionnaire)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(frame), size=n, replace=n > len(frame))
    people = frame.iloc[rows].reset_index(drop=True)

    months = int(truth.get("months", 1))
    month = rng.integers(0, months, size=n)
    start = pd.Period(truth.get("start_month", "2026-01"), freq="M")
    day = rng.integers(1, 29, size=n)
    minute = rng.integers(8 * 60, 21 * 60, size=n)  # answered within day hours
    submitted = [
        f"{(start + int(m)).strftime('%Y-%m')}-{d:02d}T{mi // 60:02d}:{mi % 60:02d}:00+08:00"
        for m, d, mi in zip(month, day, minute, strict=True)
    ]

    drivers = list(truth["paths"]["satisfaction"])
    sigma = _driver_covariance(drivers, truth["driver_correlation"])
    latent = pd.DataFrame(
        rng.standard_normal((n, len(drivers))) @ np.linalg.cholesky(sigma).T, columns=drivers
    )
    for construct, effects in (truth.get("region_effects") or {}).items():
        latent[construct] += people["region"].map(effects).fillna(0.0).to_numpy()
    if truth.get("hall_sd"):
        halls = sorted(frame["service_hall"].unique())
        # A generator of its own, so adding respondents does not move the hall effects.
        hall_rng = np.random.default_rng([seed, 1])
        effect = dict(zip(halls, hall_rng.normal(0, truth["hall_sd"], len(halls)), strict=True))
        latent["hall"] += people["service_hall"].map(effect).to_numpy()
    for construct, slope in (truth.get("monthly_trend") or {}).items():
        latent[construct] += slope * month

    b = np.array([truth["paths"]["satisfaction"][d] for d in drivers])
    r2 = implied_r2(truth)
    latent["satisfaction"] = latent[drivers].to_numpy() @ b + rng.normal(
        0, np.sqrt(1 - r2["satisfaction"]), n
    )
    loyalty_paths = truth["paths"]["loyalty"]
    latent["loyalty"] = sum(latent[x] * g for x, g in loyalty_paths.items()) + rng.normal(
        0, np.sqrt(1 - r2["loyalty"]), n
    )

    out = pd.DataFrame(
        {
            "response_id": [f"R{i:06d}" for i in range(1, n + 1)],
            "customer_id": people["customer_id"].to_numpy(),
            "region": people["region"].to_numpy(),
            "service_hall": people["service_hall"].to_numpy(),
            "tier": people["tier"].to_numpy(),
            "channel": rng.choice(
                list(truth["channels"]), size=n, p=_normalised(truth["channels"].values())
            ),
            "language": people["language"].to_numpy(),
            "submitted_at": submitted,
        }
    )
    thresholds = np.asarray(truth["base_thresholds"], dtype=float)
    rated: dict[str, np.ndarray] = {}
    for construct, items in questionnaire.construct_items().items():
        if construct not in latent:
            continue
        for name in items:
            loading = truth["loadings"][name]
            star = loading * latent[construct].to_numpy() + np.sqrt(1 - loading**2) * (
                rng.standard_normal(n)
            )
            category = (star[:, None] + truth["locations"].get(name, 0.0) > thresholds).sum(1)
            rated[name] = category

    careless = rng.random(n) < truth.get("careless", {}).get("share", 0.0)
    straight = careless & (rng.random(n) < 0.5)
    constant = rng.integers(0, len(thresholds) + 1, size=n)
    for name, category in rated.items():
        noise = rng.integers(0, len(thresholds) + 1, size=n)
        rated[name] = np.where(straight, constant, np.where(careless, noise, category))

    rates = truth.get("cannot_answer", {})
    codes: dict[str, list[Any]] = {}
    for item in questionnaire.items:
        if item.name in rated:
            scored = sorted(item.choices.scored, key=lambda c: c.score)  # type: ignore[union-attr]
            names = np.array([c.name for c in scored], dtype=object)
            answer = names[rated[item.name]]
            cannot = next(
                (c.name for c in item.choices.choices if c.missing == "cannot_answer"),  # type: ignore[union-attr]
                None,
            )
            if cannot is not None:
                p = rates.get(item.name, rates.get("default", 0.0))
                answer = np.where(rng.random(n) < p, cannot, answer)
            codes[item.name] = list(answer)

    complained = truth.get("complained")
    if complained and "complained" in questionnaire.item_names:
        logit = complained["intercept"] + complained["slope"] * latent["satisfaction"].to_numpy()
        said_yes = rng.random(n) < 1 / (1 + np.exp(-logit))
        codes["complained"] = list(np.where(said_yes, "yes", "no"))
    nps = truth.get("nps")
    if nps and "nps" in questionnaire.item_names:
        value = nps["intercept"] + nps["slope"] * latent["loyalty"].to_numpy()
        value = np.clip(np.round(value + rng.normal(0, nps["noise"], n)), 0, 10).astype(int)
        codes["nps"] = [str(v) for v in value]

    languages = out["language"].to_numpy()
    for item in questionnaire.items:
        if item.type != "text":
            continue
        phrases = _TOPICS if "complain" in item.name else _IMPROVEMENTS
        pick = rng.integers(0, 1_000_000, size=n)
        codes[item.name] = [
            phrases[lang][k % len(phrases[lang])] for lang, k in zip(languages, pick, strict=True)
        ]

    # Skip logic decides what was asked: an item that is not relevant has no answer.
    answers = pd.DataFrame(codes)[[i.name for i in questionnaire.items if i.name in codes]]
    records = answers.to_dict("records")
    for item in questionnaire.items:
        if item.relevant is None or item.name not in answers:
            continue
        asked = [item.relevant.evaluate(record) for record in records]
        answers.loc[~np.array(asked), item.name] = None
        for record, shown in zip(records, asked, strict=True):
            if not shown:
                record[item.name] = None
    return pd.concat([out, answers], axis=1)


def _normalised(values) -> np.ndarray:
    weights = np.array(list(values), dtype=float)
    return weights / weights.sum()


def truth_record(truth: Mapping[str, Any], n: int, seed: int) -> dict[str, Any]:
    """The truth as written beside a generated data set: the parameters, n, seed, R²."""
    record = dict(truth)
    record["generated"] = {
        "n": n,
        "seed": seed,
        "implied_r2": {k: round(v, 6) for k, v in implied_r2(truth).items()},
    }
    return record


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a data set as CSV (UTF-8) or XLSX, chosen by the file's extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        frame.to_excel(path, index=False)
    elif path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False, lineterminator="\n")
    else:
        raise ValueError(
            f"cannot write {path.suffix or 'a file without extension'}: use .csv or .xlsx"
        )

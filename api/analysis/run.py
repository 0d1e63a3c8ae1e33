"""What an analysis job computes, from stored responses to a JSON result with provenance.

The worker (``api.analysis.worker``) calls :func:`run_analysis`; nothing here runs inside
a web request. The steps are the researchers' (notebooks 01-03): the completed responses
of one questionnaire version and period, item scores ("cannot answer" as NaN), the PLS
model, 0-100 indexes with bootstrap intervals, the priority matrix of the target's drivers
(and of each driver's items), per segment when asked, unit rankings and trends.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pandas as pd
from sqlmodel import Session, select

from api.analysis.request import AnalysisRequest, period_bounds
from api.analysis.result import AnalysisResult
from survey.db.tables import Analysis, Campaign, QuestionnaireVersion, utcnow
from survey.exports.responses import export_responses
from survey.questionnaire import Questionnaire
from survey.questionnaire.scores import item_scores

#: Fewest completed responses a fit is attempted on (the PLS bootstrap and the SEM fit
#: measures are unreliable below it; a segment has its own ``min_n``).
MIN_FIT_N = 100
#: Units of rankings, besides the request's own segment.
RANKED_UNITS = ("region", "service_hall")
#: The export's columns that segments, rankings and trends cut by.
UNIT_COLUMNS = ["region", "service_hall", "tier", "channel", "completed_at"]
LIBRARIES = ("manyi", "numpy", "pandas", "scipy", "scikit-learn", "semopy", "pingouin")


class AnalysisFailed(Exception):
    """An analysis that cannot be computed from its inputs; the message is stored for people."""


@dataclass(frozen=True)
class Outcome:
    result: AnalysisResult
    provenance: dict[str, Any]


def select_rows(data: pd.DataFrame, request: AnalysisRequest) -> pd.DataFrame:
    """The export's rows that pass the request's filters."""
    keep = pd.Series(True, index=data.index)
    for column, wanted in request.filters.model_dump().items():
        if wanted:
            values = data[column]
            if column == "tier":
                values = pd.to_numeric(values, errors="coerce")
            keep &= values.isin(wanted)
    return data[keep]


def run_analysis(session: Session, job: Analysis) -> Outcome:
    """Compute the job's analysis; :class:`AnalysisFailed` says why it cannot be done."""
    from models.fit import SampleTooSmall, fit_model
    from scoring import _report
    from scoring.indexes import construct_indexes
    from scoring.invariance import unit_comparability
    from scoring.plots import matrix_spec
    from scoring.priorities import priority_matrix, segment_priority_views
    from scoring.rankings import rank_units
    from scoring.segments import segment_summary
    from scoring.trends import period_labels, trend

    started = time.perf_counter()
    request = AnalysisRequest.model_validate(job.request)
    version = session.get(QuestionnaireVersion, job.questionnaire_version_id)
    assert version is not None
    since, until = period_bounds(request.period)
    export = export_responses(session, version, since=since, until=until)
    questionnaire = export.questionnaire
    data = select_rows(export.data, request).reset_index(drop=True)
    where = f"{request.version}" + (f" in {request.period}" if request.period else "")
    if len(data) < MIN_FIT_N:
        raise AnalysisFailed(
            f"{len(data)} completed responses of {where} pass the filters; an analysis needs at "
            f"least {MIN_FIT_N}: choose a longer period (a quarter, or no period) or fewer filters"
        )
    blocks = questionnaire.construct_items()
    if request.target not in blocks:
        raise AnalysisFailed(
            f"target {request.target!r} is not a construct of {request.version}: choose one of "
            f"{', '.join(blocks)}"
        )
    items = [name for block in blocks.values() for name in block]
    scores = item_scores(data, items, questionnaire)
    syntax = questionnaire.lavaan_syntax()
    try:
        fit = fit_model(syntax, scores, engine="pls", consistent=request.engine == "plsc")
        reported = fit if request.engine != "sem" else fit_model(syntax, scores, engine="sem")
    except SampleTooSmall as error:
        raise AnalysisFailed(f"{where}: {error}") from None
    if not fit.converged:
        raise AnalysisFailed("the PLS model did not converge on these responses; see warnings")
    seed, n_boot = request.seed, request.bootstrap
    indexes = construct_indexes(fit, scores, questionnaire, n_boot=n_boot, random_state=seed)
    drivers = [c for c in _predecessors(fit, request.target) if c in blocks]

    frame = scores.join(data[UNIT_COLUMNS])
    options: dict[str, Any] = dict(n_boot=n_boot, random_state=seed)
    views: dict[str, dict[str, Any]] = {"constructs": {"level": "construct"}}
    views |= {d: {"level": "item", "dimension": d} for d in drivers}
    matrices: dict[str, Any] = {}
    for name, view in views.items():
        whole = priority_matrix(fit, frame, questionnaire, request.target, **view, **options)
        matrices[name] = {"matrix": matrix_spec(whole), "segments": []}
    if request.segment is not None:
        # One fit per segment serves every dimension's matrix.
        split = segment_priority_views(
            fit, frame.assign(**{request.segment: frame[request.segment].astype("string")}),
            questionnaire, request.target, by=request.segment, views=views,
            min_n=request.min_n, **options,
        )  # fmt: skip
        for name, segmented in split.items():
            matrices[name]["segments"] = [_block(b, matrix_spec) for b in segmented.blocks]

    unit_scores = indexes.scores.join(data[UNIT_COLUMNS])
    rankings = {}
    comparability_warnings = []
    for unit in dict.fromkeys([*RANKED_UNITS, *([request.segment] if request.segment else [])]):
        summary = segment_summary(unit_scores.assign(**{unit: unit_scores[unit].astype("string")}),
                                  request.target, unit, min_n=30)  # fmt: skip
        ranking = rank_units(summary).ranking.reset_index(names="unit")
        if request.permutations:
            check = unit_comparability(
                syntax, frame, unit, min_n=30, n_permutations=request.permutations,
                random_state=seed,
            )  # fmt: skip
            ranking = ranking.join(check.table[["comparable", "not_comparable_on"]], on="unit")
            comparability_warnings += check.warnings()
            if unit == request.segment:
                _mark_segments(matrices, check)
        rankings[unit] = _report.records(ranking)
    trends = {}
    for freq in ("M", "Q"):
        verdicts = pd.DataFrame(columns=["comparable", "not_comparable_on"])
        if request.permutations:  # a period measured differently cannot join the trend
            check = unit_comparability(
                syntax, frame.assign(period=period_labels(frame["completed_at"], freq)),
                "period", min_n=30, n_permutations=request.permutations, random_state=seed,
            )  # fmt: skip
            verdicts = check.table[["comparable", "not_comparable_on"]]
            comparability_warnings += check.warnings()
        trends[freq] = {
            construct: _report.records(
                trend(unit_scores, construct, "completed_at", freq=freq, min_n=30)
                .reset_index()
                .assign(period=lambda t: t["period"].astype(str))
                .join(verdicts, on="period")
            )
            for construct in dict.fromkeys([request.target, *_successors(fit, request.target)])
        }
    result = AnalysisResult.model_validate(_report.jsonable({
        "version": request.version,
        "period": request.period,
        "target": request.target,
        "segment": request.segment,
        "n": len(data),
        "responses_by_channel": data["channel"].value_counts().sort_index().to_dict(),
        "hall_regions": _hall_regions(data),
        "response_rates": _response_rates(session, version.id) if _overall(request) else None,
        "labels": _labels(questionnaire),
        "drivers": drivers,
        "model": reported.to_dict(),
        "indexes": indexes.to_dict(),
        "priorities": matrices,
        "rankings": rankings,
        "trends": trends,
        "warnings": [w.to_dict() for w in (*reported.warnings, *comparability_warnings)],
    }))  # fmt: skip
    provenance = _report.jsonable({
        "engine": request.engine,
        "estimator": "ML" if request.engine == "sem" else "PLS (path scheme)",
        "indexes_and_priorities_from": "PLS outer weights",
        "questionnaire": {"form_id": version.form_id, "version": version.version,
                          "content_hash": version.content_hash},
        "period": {"name": request.period, "since": since, "until": until},
        "filters": request.filters.model_dump(),
        "n": len(data),
        "data_fingerprint": job.data_fingerprint,
        "bootstrap": n_boot,
        "seed": seed,
        "libraries": _versions(),
        "python": platform.python_version(),
        "worker": job.worker or f"{socket.gethostname()}:{os.getpid()}",
        "computed_at": utcnow(),
        "seconds": round(time.perf_counter() - started, 3),
        "warnings": [w.to_dict() for w in reported.warnings],
    })  # fmt: skip
    return Outcome(result, provenance)


def _mark_segments(matrices: dict[str, Any], check) -> None:
    """Each segment's matrix says whether its indexes are comparable with the others'."""
    flagged = check.flagged
    for view in matrices.values():
        for block in view["segments"]:
            name = str(block["segment"])
            block["comparable"] = name not in flagged
            block["not_comparable_on"] = list(flagged.get(name, ()))


def _block(block, spec) -> dict[str, Any]:
    head = {"segment": block.segment, "status": block.status, "n": block.n}
    if block.matrix is None:
        return {**head, "message": block.message, "matrix": None}
    return {**head, "message": "", "matrix": spec(block.matrix)}


#: The AAPOR rates the overview shows per campaign (all of them are in ``manyi rates``).
SHOWN_RATES = ("RR1", "RR2", "COOP1", "REF1", "CON1")


def _overall(request: AnalysisRequest) -> bool:
    """All data, no filter: the analysis whose result the overview reads."""
    return request.period is None and not any(request.filters.model_dump().values())


def _response_rates(session: Session, version_id: int) -> list[dict[str, Any]]:
    """AAPOR rates of each campaign of the version, as of now (e by proportional allocation).

    Campaign-wide (they mix regions), so a regional manager's view leaves them out.
    """
    from survey.aapor.dispositions import category_of
    from survey.aapor.rates import count_dispositions, outcome_rates
    from survey.campaigns.cases import campaign_dispositions

    rows = []
    campaigns = session.exec(
        select(Campaign)
        .where(Campaign.questionnaire_version_id == version_id)
        .order_by(Campaign.id)
    ).all()
    for campaign in campaigns:
        assert campaign.id is not None
        cases = campaign_dispositions(session, campaign.id, now=utcnow())
        if not cases:
            continue
        rates = outcome_rates(count_dispositions(category_of(c.disposition) for c in cases),
                              "proportional")  # fmt: skip
        rows.append({
            "campaign_id": campaign.id, "name": campaign.name, "status": campaign.status,
            "channels": list(campaign.channels), "cases": len(cases),
            "interviews": rates.counts.get("I", 0), "partials": rates.counts.get("P", 0),
            "e": rates.e, "rates": {name: rates.rates[name] for name in SHOWN_RATES},
            "notes": rates.notes,
        })  # fmt: skip
    return rows


def _hall_regions(data: pd.DataFrame) -> dict[str, str]:
    """Each service hall's region (its customers' most frequent one), to scope hall rows."""
    pairs = data[["service_hall", "region"]].dropna().astype(str)
    if pairs.empty:
        return {}
    return pairs.groupby("service_hall")["region"].agg(lambda r: r.mode().iloc[0]).to_dict()


def _predecessors(fit, target: str) -> list[str]:
    paths = fit.result.estimates
    paths = paths[(paths["op"] == "~") & (paths["lhs"] == target)]
    return list(dict.fromkeys(paths["rhs"]))


def _successors(fit, construct: str) -> list[str]:
    paths = fit.result.estimates
    paths = paths[(paths["op"] == "~") & (paths["rhs"] == construct)]
    return list(dict.fromkeys(paths["lhs"]))


def _labels(questionnaire: Questionnaire) -> dict[str, dict[str, str]]:
    labels = {name: dict(c.label) for name, c in questionnaire.constructs.items()}
    labels |= {i.name: dict(i.label) for i in questionnaire.items if i.construct}
    return labels


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found

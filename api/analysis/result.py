"""What an analysis job computes, as one typed, versioned result.

The worker builds an :class:`AnalysisResult` (:mod:`api.analysis.run`) and stores its JSON on
the job; pages and the API read it back into the same type (:func:`read_result`), so a
result stored by other code (an older schema, a hand edit) is refused with its reason instead
of showing a wrong number. The statistics inside (the model's estimates, the indexes, the
matrices) keep the shapes their own ``to_dict()`` gives them in ``models`` and ``scoring``.

A view limited to a manager's scope (:func:`api.analysis.scope.scoped_result`) is the same
type with ``scope="limited"``: the totals are None and ``withheld`` says why.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from survey.analyses import jobs
from survey.db.states import AnalysisStatus
from survey.db.tables import Analysis

#: Raised when the stored shape changes: a stored result of another version is refused.
SCHEMA_VERSION = 1

Records = list[dict[str, Any]]


class PriorityView(BaseModel):
    """One dimension's importance-performance matrix (``scoring.plots.matrix_spec``), whole
    and per segment (each block: segment, status, n, message, matrix)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    matrix: dict[str, Any] | None = Field(description="The whole matrix; None when withheld")
    segments: Records = Field(default_factory=list)


class AnalysisResult(BaseModel):
    """A questionnaire version's satisfaction model, indexes and priorities for one period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    version: str = Field(description="FORM@VERSION", examples=["csi_mobile@2026.1"])
    period: str | None = Field(description="A month or a quarter; None: all data")
    target: str = Field(description="The construct whose drivers are ranked")
    segment: str | None = Field(description="The column the matrices are cut by, if any")
    labels: dict[str, dict[str, str]] = Field(description="zh/en label of each construct/item")
    drivers: list[str] = Field(description="The target's drivers, in the model's order")
    hall_regions: dict[str, str] = Field(description="Each service hall's region")
    priorities: dict[str, PriorityView] = Field(
        description="Per dimension ('constructs' or a driver): its priority matrices"
    )
    rankings: dict[str, Records] = Field(description="Units by the target's index, per kind")
    # Totals: None in a view limited to a manager's scope.
    n: int | None = Field(default=None, description="Responses analysed")
    responses_by_channel: dict[str, int] | None = None
    response_rates: Records | None = Field(
        default=None, description="Each campaign's AAPOR rates (all-data analyses only)"
    )
    model: dict[str, Any] | None = Field(default=None, description="The fitted model")
    indexes: dict[str, Any] | None = Field(default=None, description="0-100 indexes with CIs")
    trends: dict[str, dict[str, Records]] | None = Field(
        default=None, description="Per frequency (M, Q) and construct: the index by period"
    )
    warnings: Records = Field(default_factory=list, description="Every measurement warning")
    scope: Literal["whole", "limited"] = "whole"
    withheld: str | None = Field(default=None, description="Why totals are withheld, if they are")

    def label(self, name: str) -> dict[str, str]:
        """The zh/en label of a construct or item (its name when it has none)."""
        return self.labels.get(name) or {"zh": name, "en": name}


class UnreadableResult(ValueError):
    """A stored result that is not an :class:`AnalysisResult` of this schema."""


def parse_result(data: dict[str, Any], where: str = "the stored result") -> AnalysisResult:
    try:
        return AnalysisResult.model_validate(data)
    except ValidationError as error:
        raise UnreadableResult(
            f"{where} is not an analysis result of schema version {SCHEMA_VERSION} "
            f"({error.error_count()} problem(s), first: {error.errors()[0]['msg']} at "
            f"{'.'.join(map(str, error.errors()[0]['loc']))}): submit the analysis again"
        ) from None


#: Results read lately, by job key. A finished job's result never changes, and its key names
#: its inputs and data exactly, so a cached result is the stored one in any database.
_READ: OrderedDict[str, AnalysisResult] = OrderedDict()
_READ_SIZE = 32
_READ_LOCK = threading.Lock()


def read_result(session: Session, job: Analysis) -> AnalysisResult | None:
    """A finished job's result, read and checked once per process, not on every page view."""
    if job.status != AnalysisStatus.DONE:
        return None
    with _READ_LOCK:
        found = _READ.get(job.key)
        if found is not None:
            _READ.move_to_end(job.key)
            return found
    data = jobs.result_of(session, job.id)
    if data is None:
        return None
    result = parse_result(data, f"the result of analysis {job.id}")
    with _READ_LOCK:
        _READ[job.key] = result
        while len(_READ) > _READ_SIZE:
            _READ.popitem(last=False)
    return result

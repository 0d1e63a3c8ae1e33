"""What an analysis job is asked to compute: the request body of ``POST /api/v1/analyses``.

One model for the API, the command line and the scheduler, so that the same question asked
three ways is the same canonical JSON, and so the same stored job (see survey.analyses.jobs).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from survey.questionnaire.publish import VERSION_REFERENCE

#: Who an analysis can be cut by (columns of the responses' export).
Segment = Literal["region", "service_hall", "tier", "channel"]
Engine = Literal["pls", "plsc", "sem"]

#: A month or a quarter of the years 1900-2999, for the schema (a survey's periods; and the
#: year 9999's last month would end past what a date can hold). The two below tell them apart.
PERIOD_PATTERN = r"^(19|2\d)\d{2}-(0[1-9]|1[0-2]|Q[1-4])$"
_MONTH = re.compile(r"^((?:19|2\d)\d{2})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^((?:19|2\d)\d{2})-Q([1-4])$")


def _whole_number(value: object) -> object:
    """JSON's integers (2, and 2.0, which JSON Schema counts as one); never true or "2".

    Pydantic's default would read true as 1 and "2" as 2: a mistake to report, not a number
    to guess (the schema says integer, and the API's fuzz test holds us to it).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
#: A region, hall, channel or construct: no control characters (a NUL cannot even be stored).
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
]
#: At most this many values per filter.
MAX_FILTER_VALUES = 500


class AnalysisFilters(BaseModel):
    """Keep only these customers' responses (an empty list keeps everyone)."""

    model_config = ConfigDict(extra="forbid")

    region: list[Name] = Field(
        default_factory=list, max_length=MAX_FILTER_VALUES, examples=[["Hangzhou"]]
    )
    service_hall: list[Name] = Field(
        default_factory=list, max_length=MAX_FILTER_VALUES, examples=[[]]
    )
    tier: list[WholeNumber] = Field(
        default_factory=list, max_length=MAX_FILTER_VALUES, examples=[[1, 2]]
    )
    channel: list[Name] = Field(
        default_factory=list, max_length=MAX_FILTER_VALUES, examples=[["sms_link", "web"]]
    )

    @field_validator("region", "service_hall", "tier", "channel")
    @classmethod
    def _sorted_unique(cls, values: list) -> list:
        # Order and repeats do not change the question, so they must not change the job.
        return sorted(set(values))


class AnalysisRequest(BaseModel):
    """A questionnaire version's satisfaction model, indexes and priorities for one period."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"version": "csi_mobile@2026.1", "period": "2026-Q3", "segment": "region",
                 "engine": "pls", "target": "satisfaction", "bootstrap": 200, "seed": 1}
            ]
        },
    )  # fmt: skip

    version: str = Field(
        description="FORM@VERSION", examples=["csi_mobile@2026.1"], pattern=VERSION_REFERENCE
    )
    period: str | None = Field(
        default=None,
        description="A month (2026-10) or a quarter (2026-Q3) of completion; none: all data",
        examples=["2026-Q3"],
        pattern=PERIOD_PATTERN,
    )
    filters: AnalysisFilters = Field(default_factory=AnalysisFilters)
    segment: Segment | None = Field(
        default=None, description="Priority matrices per unit of this column, besides the total"
    )
    engine: Engine = Field(
        default="pls",
        description="Structural model reported: PLS, consistent PLS, or covariance-based SEM "
        "(indexes and priorities always come from the PLS weights, as in ACSI)",
    )
    target: Name = Field(
        default="satisfaction", description="The construct whose drivers are ranked"
    )
    bootstrap: WholeNumber = Field(default=200, ge=0, le=5000, description="Bootstrap resamples")
    permutations: WholeNumber = Field(
        default=1000, ge=0, le=10_000,
        description="Permutations of the check that units' indexes are comparable (MICOM "
        "compositional invariance of each region, hall and segment against the rest); 0 "
        "skips it. Flagging one of k units needs more than k/0.05 of them",
    )  # fmt: skip
    seed: WholeNumber = Field(default=1, ge=0, le=2**31 - 1, description="Seed of the resampling")
    min_n: WholeNumber = Field(
        default=100, ge=10, le=100_000, description="Fewest responses per segment"
    )

    # "before": these say what is wrong in words before the schema's pattern would.
    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: str) -> str:
        if isinstance(value, str) and not re.fullmatch(VERSION_REFERENCE, value):
            raise ValueError("name the version as FORM@VERSION, e.g. csi_mobile@2026.1")
        return value

    @field_validator("period", mode="before")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if isinstance(value, str):
            period_bounds(value)  # raises with the accepted forms
        return value

    def canonical(self) -> dict:
        """The request as stored: every default written out, lists sorted."""
        return self.model_dump(mode="json")


def period_bounds(period: str | None) -> tuple[datetime | None, datetime | None]:
    """``"2026-10"`` -> [1 Oct, 1 Nov); ``"2026-Q3"`` -> [1 Jul, 1 Oct); None -> no bounds.

    Months and quarters are cut in UTC, the time the responses are stored in.
    """
    if period is None:
        return None, None
    if m := _MONTH.match(period):
        year, month = int(m[1]), int(m[2])
        start = date(year, month, 1)
        end = date(year + month // 12, month % 12 + 1, 1)
    elif q := _QUARTER.match(period):
        year, quarter = int(q[1]), int(q[2])
        start = date(year, 3 * quarter - 2, 1)
        end = date(year + quarter // 4, (3 * quarter) % 12 + 1, 1)
    else:
        raise ValueError(
            f"period {period!r}: give a month as 2026-10 or a quarter as 2026-Q3 (years 1900-2999)"
        )
    return (datetime(start.year, start.month, 1, tzinfo=UTC),
            datetime(end.year, end.month, 1, tzinfo=UTC))  # fmt: skip


def month_of(moment: datetime) -> str:
    return f"{moment:%Y-%m}"


def quarter_of(moment: datetime) -> str:
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"

"""AAPOR outcome rates as one document: of any list of cases, and of a campaign's cases.

One function computes a campaign's rates (:func:`campaign_rates`) for ``manyi rates
--campaign ID`` and for the console's live monitor, so that both show the same numbers from
the same cases at the same moment. The document is the JSON that ``manyi rates --json``
prints: the counts, e and its method, RR1-RR6, COOP1-4, REF1-3, CON1-3 and notes; with a
breakdown, the same per group.

Every group uses the e of all cases: e is a property of the sample (how many unknown cases
are eligible), not of an interviewer or a channel, and a small group's own estimate would
be noise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlmodel import Session

from survey.aapor.dispositions import category_of
from survey.aapor.rates import count_dispositions, outcome_rates
from survey.campaigns.cases import campaign_dispositions

__all__ = [
    "CAMPAIGN_GROUPS",
    "NO_INTERVIEWER",
    "RatesInputError",
    "campaign_rates",
    "parse_e",
    "rates_document",
]

#: Breakdowns of a campaign's cases, by the name a reader gives to the case's field.
CAMPAIGN_GROUPS = {"channel": "channel", "interviewer": "interviewer", "month": "period"}
NO_INTERVIEWER = "(none)"


class RatesInputError(ValueError):
    """An input the rates cannot use; the message says what to fix."""


def parse_e(text: str) -> float | Literal["proportional"]:
    """``"proportional"`` or a number in [0, 1] (range checked by the rates themselves)."""
    if text.strip().lower() == "proportional":
        return "proportional"
    try:
        return float(text)
    except ValueError:
        raise RatesInputError(
            f"--e {text!r}: give a proportion in [0, 1] (e.g. --e 0.8) or 'proportional'"
        ) from None


def rates_document(
    categories: list[str],
    e: float | Literal["proportional"],
    e_text: str,
    labels: list[str] | None = None,
    by: str | None = None,
    *,
    scope: str,
) -> dict:
    """The rates of all cases and, given one label per case, of each group of labels.

    ``scope`` names the whole (file, campaign) in the note on a group's borrowed e.
    """
    try:
        overall = outcome_rates(count_dispositions(categories), e)
    except ValueError as error:
        raise RatesInputError(f"--e {e_text}: {error}") from None
    document = overall.to_dict()
    if labels is None:
        return document
    groups = []
    for label in sorted(set(labels)):
        counts = count_dispositions(c for c, g in zip(categories, labels, strict=True)
                                    if g == label)  # fmt: skip
        result = outcome_rates(counts, overall.e if overall.e is not None else e)
        entry = {"group": label, **result.to_dict(), "e_method": overall.e_method}
        if overall.e_method == "proportional" and overall.e is not None:
            entry["notes"] = [*entry["notes"], f"e estimated from all cases of the {scope}"]
        groups.append(entry)
    document["by"] = by
    document["groups"] = groups
    return document


def campaign_rates(
    session: Session,
    campaign_id: int,
    e_text: str = "proportional",
    by: str | None = None,
    *,
    now: datetime,
    timezone: str,
) -> dict:
    """The rates document of a campaign's sampled cases as of ``now``.

    Each phone case and each SMS/web invitation gets its final disposition from the
    database (:func:`survey.campaigns.cases.campaign_dispositions`).

    Raises
    ------
    RatesInputError
        For a bad e or breakdown.
    survey.campaigns.cases.CampaignNotFound
        When no campaign has this id.
    """
    e = parse_e(e_text)
    if by is not None and by not in CAMPAIGN_GROUPS:
        raise RatesInputError(f"--by {by!r}: with --campaign use one of "
                              f"{', '.join(CAMPAIGN_GROUPS)}")  # fmt: skip
    cases = campaign_dispositions(session, campaign_id, now=now, timezone=timezone)
    categories = [category_of(case.disposition) for case in cases]
    labels = None
    if by is not None:
        field = CAMPAIGN_GROUPS[by]
        labels = [getattr(case, field) or NO_INTERVIEWER for case in cases]
    document = rates_document(categories, e, e_text, labels, by, scope="campaign")
    document["campaign_id"] = campaign_id
    if not cases:
        document["notes"].append(f"campaign {campaign_id} has no sampled case yet")
    return document

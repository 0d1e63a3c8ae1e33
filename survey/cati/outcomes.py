"""Call outcomes of phone interviews as AAPOR dispositions, and a case's final disposition.

Every call an interviewer makes ends with one outcome from :data:`OUTCOMES`. Each outcome
carries its AAPOR disposition code, whether it ends the case at once, and which retry delay
of the campaign's calling rules (:mod:`survey.cati.rules`) applies when it does not.

Source and choices
------------------
Codes follow the telephone table of the AAPOR Standard Definitions (Table 1; 9th edition
2016, 10th edition 2023: https://aapor.org/standards-and-ethics/standard-definitions/).
Our sample is a list of named customers with their own mobile numbers, not random digits,
which settles a few choices the table leaves to the survey:

- an answering machine or voicemail on the customer's own number is 2.22 (non-contact,
  eligible), not 3.14 (answering machine, unknown if household): the number is known to
  be the customer's;
- an appointment, and "the customer is not available now" from whoever answered, are 2.21
  (respondent not available) while the case is open; a case that ends on them keeps 2.21;
- a soft refusal ("not now") and a hard refusal ("never call again") are both 2.11
  (refusal); only the hard one ends the case. Refinements such as 2.111/2.112 (household or
  respondent refusal) are not recorded: the person answering a personal mobile number is
  almost always the customer;
- "wrong number" (someone else's phone now) is 4.41 (number changed), "disconnected" 4.32,
  "not in service" 4.31, a fax or data line 4.20: the number cannot reach the customer, so
  the case is not eligible as sampled;
- ``ineligible`` (e.g. no longer a customer, a business line) is 4.70 and ``quota_filled``
  4.80;
- an interview that stops before the end is a partial (1.2) or a break-off (2.12) by the
  share of required questions answered, against a threshold fixed in the calling rules
  before the calls start (AAPOR's example: under 50 % of applicable questions answered is
  a break-off); the interviewer does not choose between the two.

Retry delays (the defaults in :mod:`survey.cati.rules`) follow common CATI practice, e.g.
the queXS call outcome table (https://quexs.acspri.org.au/call-outcomes): no answer 3 h,
soft refusal 7 days.

Final disposition of a case
---------------------------
:func:`final_disposition` applies these rules, in order, to a case's attempts:

1. any complete interview: 1.1;
2. else any partial interview: 1.2;
3. else, if the case ended on an outcome that is final by itself (hard refusal, language,
   ineligible ...), that outcome's code; except that a number-level ineligibility (4.2-4.4:
   wrong number, disconnected ...) after the customer was once reached (2.1x, 2.21, 2.3x)
   keeps the contact outcome: once an eligible respondent is identified, the final code
   says so (the BRFSS final-disposition protocol, following AAPOR);
4. else the most informative temporary outcome: refusal or break-off (2.1x) over other
   eligible non-interview (2.3x) over non-contact (2.21 over 2.22) over unknown
   eligibility (3.13 no answer; 3.12 "always busy" only when every call was busy; else the
   latest 3.1x); the latest attempt wins within a rank. This is the Standard Definitions'
   guidance that a final code records what was learnt about the case, so a refusal
   followed by non-contacts stays a refusal;
5. no attempt at all: 3.11 (not attempted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from survey.aapor.dispositions import category_of
from survey.errors import InvalidRequest

__all__ = [
    "NOT_ATTEMPTED",
    "OUTCOMES",
    "STOPPED_EARLY",
    "Outcome",
    "OutcomeError",
    "final_disposition",
    "outcome",
]


class OutcomeError(InvalidRequest):
    """An outcome name that is not one of :data:`OUTCOMES`; the message lists them."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call ended with.

    ``retry`` names the delay in the calling rules (``retry_minutes``) used when the case
    stays open; None for outcomes that end the case whatever the rules say.
    """

    name: str
    code: str
    description: str
    final: bool
    retry: str | None = None


_ALL = (
    Outcome("complete", "1.1", "complete interview", True),
    Outcome(
        "partial",
        "1.2",
        "interview stopped, enough answered (over the threshold)",
        False,
        "partial",
    ),
    Outcome("break_off", "2.12", "interview stopped, too little answered", False, "break_off"),
    Outcome("soft_refusal", "2.11", "refused for now; may be asked again", False, "soft_refusal"),
    Outcome("hard_refusal", "2.11", "refused; never call again", True),
    Outcome("appointment", "2.21", "callback appointment made", False, "appointment"),
    Outcome(
        "not_available",
        "2.21",
        "someone answered; the customer is not available",
        False,
        "not_available",
    ),
    Outcome(
        "answering_machine", "2.22", "voicemail / answering machine", False, "answering_machine"
    ),
    Outcome("deceased", "2.31", "the customer has died", True),
    Outcome("unable", "2.32", "physically or mentally unable to answer", True),
    Outcome("language_barrier", "2.33", "no common language", True),
    Outcome("busy", "3.12", "line busy", False, "busy"),
    Outcome("no_answer", "3.13", "rang out, nobody answered", False, "no_answer"),
    Outcome(
        "technical_problem", "3.16", "the call failed (network, system)", False, "technical_problem"
    ),
    Outcome("fax_data_line", "4.20", "fax or data line", True),
    Outcome("not_in_service", "4.31", "number not in service", True),
    Outcome("disconnected", "4.32", "number disconnected", True),
    Outcome("wrong_number", "4.41", "the number is no longer the customer's", True),
    Outcome("ineligible", "4.70", "not eligible (e.g. no longer a customer)", True),
    Outcome("quota_filled", "4.80", "the quota of the customer's group is filled", True),
)

#: Every outcome an interviewer may record, by name.
OUTCOMES: dict[str, Outcome] = {o.name: o for o in _ALL}
#: Outcomes that mean "the interview stopped before the end": which of the two is stored is
#: decided by the share of required questions answered (the partial threshold).
STOPPED_EARLY = ("partial", "break_off")
#: The interviewer's form offers "stopped early" once: partial or break-off is then decided
#: by the campaign's threshold.
STOPPED = "stopped"
#: Each outcome (and "stopped early") in Chinese and English, for the interviewer's pages.
LABELS: dict[str, tuple[str, str]] = {
    "complete": ("完成访问", "complete interview"),
    STOPPED: ("访问中断（按阈值记为部分完成或中途放弃）", "stopped early: partial or break-off"),
    "partial": ("部分完成", "partial interview"),
    "break_off": ("中途放弃", "break-off"),
    "soft_refusal": ("暂时拒绝（可再联系）", "refused for now"),
    "hard_refusal": ("明确拒绝（不再拨打）", "refused, never call again"),
    "appointment": ("预约回访", "callback appointment"),
    "not_available": ("本人不在", "customer not available"),
    "answering_machine": ("语音信箱", "voicemail"),
    "deceased": ("客户已故", "deceased"),
    "unable": ("无法作答（身体或精神原因）", "unable to answer"),
    "language_barrier": ("语言障碍", "language barrier"),
    "busy": ("占线", "busy"),
    "no_answer": ("无人接听", "no answer"),
    "technical_problem": ("技术故障", "call failed (technical)"),
    "fax_data_line": ("传真或数据线路", "fax or data line"),
    "not_in_service": ("空号", "not in service"),
    "disconnected": ("停机", "disconnected"),
    "wrong_number": ("号码已非本人", "wrong number"),
    "ineligible": ("不符合条件", "ineligible"),
    "quota_filled": ("配额已满", "quota filled"),
}  # fmt: skip
#: The code of a case that was never called.
NOT_ATTEMPTED = "3.11"


def outcome(name: str) -> Outcome:
    """The outcome called ``name``; raise :class:`OutcomeError` naming the valid ones."""
    try:
        return OUTCOMES[name]
    except (KeyError, TypeError):
        raise OutcomeError(
            f"unknown call outcome {name!r}: use one of {', '.join(OUTCOMES)}"
        ) from None


class _Attempt(Protocol):
    disposition: str


#: Number-level ineligibility: the number does not reach the customer (rule 3's exception).
_NUMBER_LEVEL = ("4.2", "4.3", "4.4")


def final_disposition(
    attempts: Sequence[_Attempt | str], *, ended_final: bool | None = None
) -> str:
    """A case's final AAPOR disposition from its attempts, oldest first (rules above).

    Parameters
    ----------
    attempts
        Call attempts (anything with a ``disposition`` code, e.g. ``CallAttempt`` rows) or
        bare codes, in the order they were made.
    ended_final
        Whether the last attempt's outcome ended the case by itself (rule 3). By default
        it is read from the last code: 1.x, 2.3x and 4.x end a case; a refusal (2.11) ends
        it only when the caller says so (a hard refusal), because soft and hard refusals
        share the code.

    Examples
    --------
    >>> final_disposition(["3.13", "2.11", "3.13"])  # refusal over later non-contacts
    '2.11'
    >>> final_disposition(["3.12", "3.12"]), final_disposition(["3.12", "3.13", "3.12"])
    ('3.12', '3.13')
    >>> final_disposition(["2.11", "4.32"])  # reached once, then disconnected: stays a refusal
    '2.11'
    """
    codes = [a if isinstance(a, str) else a.disposition for a in attempts]
    if not codes:
        return NOT_ATTEMPTED
    categories = [category_of(code) for code in codes]
    for wanted in ("I", "P"):
        if wanted in categories:
            return codes[categories.index(wanted)]
    last, last_category = codes[-1], categories[-1]
    if ended_final is None:
        ended_final = last_category in ("O", "NE")
    reached = [
        c
        for c, cat in zip(codes, categories, strict=True)
        if cat in ("R", "O") or c.startswith("2.21")
    ]
    if ended_final:
        if last.startswith(_NUMBER_LEVEL) and reached:
            return _most_informative(codes[:-1])
        return last
    return _most_informative(codes)


def _rank(code: str, all_busy: bool) -> int:
    """Higher is more informative (rule 4); NE codes rank lowest among temporary ones."""
    category = category_of(code)
    if category == "R":
        return 60
    if category == "O":
        return 50
    if category == "NC":
        return 41 if code.startswith("2.21") else 40
    if code.startswith("3.13"):
        return 32
    if code.startswith("3.12"):
        return 31 if all_busy else 0
    if category in ("UH", "UR", "UO"):
        return 30
    return 10


def _most_informative(codes: Sequence[str]) -> str:
    if not codes:
        return NOT_ATTEMPTED
    all_busy = all(code.startswith("3.12") for code in codes)
    best, best_rank = codes[0], -1
    for code in codes:  # later attempts win ties
        rank = _rank(code, all_busy)
        if rank >= best_rank:
            best, best_rank = code, rank
    return best

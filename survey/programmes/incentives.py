"""Incentives of a programme: loyalty points for answering, a monthly lottery among the
customers who completed, and the credits' export for the loyalty system.

- **The rule** (:func:`set_rule`): points per answered question and per completed survey, an
  optional cap per customer per calendar month, and whether a lottery runs. Responses
  completed before the rule was first set earn nothing (nobody was promised anything).
- **Credits** (:func:`credit`): each completed response of the programme's campaign, with a
  customer, earns ``questions × per_question + per_survey`` points, less what would pass the
  customer's monthly cap. One :class:`LoyaltyCredit` per response (unique in the database):
  a second run credits nothing again, and two runs at once cannot both credit a response. A
  response over the cap gets a row of 0 points saying so, so that it is decided once.
  "Answered" is an item whose latest answer is not empty (answers are append-only).
- **The lottery** (:func:`draw`): once per programme and month. The entrants are the phone
  numbers of the customers who completed a response in the month (each once, however many
  responses), sorted; :func:`pick_winners` draws from them with
  ``numpy.random.default_rng(seed).choice(n, k, replace=False)``. The draw stores the seed, the
  entrants, their count and SHA-256, and the winners, and is audited: anyone can draw again
  from what is stored and get the same winners.
- **Export** (:func:`export_credits`): a CSV of the credits not exported yet, marked exported
  (one :class:`LoyaltyExport` batch) in the transaction that writes them; a batch can be
  written again by its id. The file holds phone numbers, personal data: only those who may see
  them (``view_phone_numbers``, or the operator at the command line, who has the database)
  may export it, and every export is audited.

Months are calendar months in the service's time zone (``MANYI_TIMEZONE``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session

from survey.db.states import ResponseStatus
from survey.db.tables import (
    Answer,
    Customer,
    LotteryDraw,
    LoyaltyCredit,
    LoyaltyExport,
    Programme,
    ProgrammeIncentive,
    Response,
    Staff,
    utcnow,
)
from survey.errors import Conflict, InvalidRequest, NotFound, SurveyError
from survey.spreadsheets import csv_cell
from survey.staff.audit import EXPORT, audit

__all__ = [
    "EXPORT_COLUMNS",
    "LOTTERY_DRAWN",
    "MAX_SEED",
    "CreditRun",
    "CreditTotals",
    "IncentiveError",
    "credit",
    "credit_totals",
    "draw",
    "draws_of",
    "entrants_sha256",
    "export_credits",
    "find_rule",
    "month_bounds",
    "pick_winners",
    "set_rule",
]

#: The audit action of a draw (target "programme:NAME", detail: period, seed, counts, hash).
LOTTERY_DRAWN = "lottery_drawn"
#: The audit action of a changed rule.
INCENTIVE_SET = "incentive_set"
#: Seeds are stored in an INTEGER column.
MAX_SEED = 2**31 - 1
#: The columns of the loyalty system's file. ``credit_id`` is unique and stable: the loyalty
#: system can refuse a credit it has already booked (a batch written ``--again``).
EXPORT_COLUMNS = ("credit_id", "batch", "msisdn", "points", "programme", "period", "reason",
                  "credited_at")  # fmt: skip
_PERIOD = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_CHUNK = 500


class IncentiveError(InvalidRequest):
    """An incentive request that cannot be carried out, with what to do instead."""


# -- the rule ------------------------------------------------------------------------------


def find_rule(session: Session, programme: Programme) -> ProgrammeIncentive:
    rule = session.get(ProgrammeIncentive, programme.id)
    if rule is None:
        raise NotFound(
            f"programme {programme.name} has no incentives: set them with "
            f"`manyi incentives set --programme {programme.name} --per-survey N`"
        )
    return rule


def _locked_rule(session: Session, programme: Programme) -> ProgrammeIncentive:
    """The programme's rule, its row locked until the transaction ends: credit runs, draws and
    exports of one programme happen one after the other, each reading what the one before
    committed.

    An UPDATE that changes nothing takes the lock on both databases: the row's lock on
    PostgreSQL, the write lock on SQLite, whose deferred transaction would otherwise read an
    older snapshot and then fail to write ("database is locked").
    """
    locked = session.execute(
        update(ProgrammeIncentive)
        .where(ProgrammeIncentive.programme_id == programme.id)
        .values(updated_at=ProgrammeIncentive.updated_at)
    )
    if locked.rowcount == 0:
        session.rollback()
        find_rule(session, programme)  # raises, saying how to set one
    return session.get(ProgrammeIncentive, programme.id, populate_existing=True)


def set_rule(
    session: Session,
    programme: Programme,
    *,
    per_question: int = 0,
    per_survey: int = 0,
    monthly_cap: int | None = None,
    lottery: bool = False,
    now: datetime | None = None,
    staff: Staff | int | None = None,
    ip: str | None = None,
) -> ProgrammeIncentive:
    """Set (or change) a programme's rule; credits already given are kept as they are.

    The first rule takes effect ``now``: responses completed before it earn nothing.
    ``staff`` and ``ip`` are who set it and from where, for the audit row (None at the
    command line).
    """
    if per_question < 0 or per_survey < 0:
        raise IncentiveError("points cannot be negative")
    if monthly_cap is not None and monthly_cap < 1:
        raise IncentiveError("the monthly cap is at least 1 point (leave it out for no cap)")
    if per_question == 0 and per_survey == 0 and not lottery:
        raise IncentiveError(
            "this rule gives nothing: give --per-question or --per-survey points, or --lottery"
        )
    now = now or utcnow()
    rule = session.get(ProgrammeIncentive, programme.id)
    before = None
    if rule is None:
        rule = ProgrammeIncentive(programme_id=programme.id, effective_from=now)
    else:
        before = _rule_detail(rule)
    rule.points_per_question = per_question
    rule.points_per_survey = per_survey
    rule.monthly_cap = monthly_cap
    rule.lottery = lottery
    rule.updated_at = now
    session.add(rule)
    audit(session, staff, INCENTIVE_SET, f"programme:{programme.name}",
          {"before": before, "after": _rule_detail(rule)}, ip, at=now)  # fmt: skip
    session.refresh(rule)
    return rule


def _rule_detail(rule: ProgrammeIncentive) -> dict:
    return {"per_question": rule.points_per_question, "per_survey": rule.points_per_survey,
            "monthly_cap": rule.monthly_cap, "lottery": rule.lottery}  # fmt: skip


# -- months ------------------------------------------------------------------------------


def month_bounds(period: str, timezone: str) -> tuple[datetime, datetime]:
    """The first instant of ``period`` ("2026-12") and of the month after, in ``timezone``."""
    match = _PERIOD.fullmatch(period)
    if match is None:
        raise IncentiveError(f"period {period!r}: write the month as YYYY-MM, e.g. 2026-12")
    year, month = int(match[1]), int(match[2])
    zone = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start, end


def _period_of(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%Y-%m")


# -- credits -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditRun:
    """What one :func:`credit` run did."""

    credited: int
    points: int
    #: Responses whose points the monthly cap reduced (to 0 or fewer points).
    capped: int

    def summary(self) -> str:
        return (
            f"{self.credited} responses credited, {self.points} points"
            f"{f' ({self.capped} reduced by the monthly cap)' if self.capped else ''}"
        )


def credit(
    session: Session, programme: Programme, *, timezone: str, now: datetime | None = None
) -> CreditRun:
    """Credit every completed response of ``programme`` not credited yet, in one transaction.

    Idempotent: a response has at most one credit (unique). Two runs at once: the later
    commit is refused by that constraint and this raises :class:`Conflict` (run it again).
    """
    now = now or utcnow()
    zone = ZoneInfo(timezone)
    rule = _locked_rule(session, programme)
    due = session.execute(
        select(Response.id, Response.completed_at, Customer.phone_e164)
        .join(Customer, Customer.id == Response.customer_id)
        .outerjoin(LoyaltyCredit, LoyaltyCredit.response_id == Response.id)
        .where(
            Response.campaign_id == programme.campaign_id,
            Response.status == ResponseStatus.COMPLETED,
            Response.completed_at >= rule.effective_from,
            LoyaltyCredit.id.is_(None),
        )
        .order_by(Response.completed_at, Response.id)
    ).all()
    if not due:
        session.rollback()
        return CreditRun(0, 0, 0)
    answered = _answered(session, [row.id for row in due]) if rule.points_per_question else {}
    periods = {_period_of(row.completed_at, zone) for row in due}
    given: dict[tuple[str, str], int] = defaultdict(int)
    if rule.monthly_cap is not None:
        phones = {row.phone_e164 for row in due}
        for phone, period, points in session.execute(
            select(LoyaltyCredit.phone_e164, LoyaltyCredit.period, func.sum(LoyaltyCredit.points))
            .where(
                LoyaltyCredit.programme_id == programme.id, LoyaltyCredit.period.in_(periods)
            )  # fmt: skip
            .group_by(LoyaltyCredit.phone_e164, LoyaltyCredit.period)
        ):
            if phone in phones:
                given[phone, period] = int(points or 0)
    total = capped = 0
    for row in due:
        period = _period_of(row.completed_at, zone)
        questions = answered.get(row.id, 0)
        earned = questions * rule.points_per_question + rule.points_per_survey
        reason = _reason(rule, questions)
        points = earned
        if rule.monthly_cap is not None:
            points = max(0, min(earned, rule.monthly_cap - given[row.phone_e164, period]))
            if points < earned:
                capped += 1
                reason += f"; {points} after the monthly cap of {rule.monthly_cap} ({period})"
        given[row.phone_e164, period] += points
        total += points
        session.add(LoyaltyCredit(programme_id=programme.id, response_id=row.id,
                                  phone_e164=row.phone_e164, period=period, points=points,
                                  reason=reason[:200], credited_at=now))  # fmt: skip
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"another run credited programme {programme.name} at the same time: run it again "
            "(it credits only what is left)"
        ) from None
    return CreditRun(len(due), total, capped)


def _reason(rule: ProgrammeIncentive, questions: int) -> str:
    parts = []
    if rule.points_per_question:
        parts.append(f"{questions} answered × {rule.points_per_question}")
    if rule.points_per_survey:
        parts.append(f"completed survey {rule.points_per_survey}")
    return " + ".join(parts) or "no points per response (lottery only)"


def _answered(session: Session, response_ids: list[int]) -> dict[int, int]:
    """Per response, the items whose latest answer is not empty."""
    counts: dict[int, int] = {}
    for start in range(0, len(response_ids), _CHUNK):
        latest: dict[tuple[int, str], str | None] = {}
        for response_id, item, value in session.execute(
            select(Answer.response_id, Answer.item_name, Answer.value)
            .where(Answer.response_id.in_(response_ids[start : start + _CHUNK]))
            .order_by(Answer.id)
        ):
            latest[response_id, item] = value
        for (response_id, _), value in latest.items():
            if value is not None and value.strip():
                counts[response_id] = counts.get(response_id, 0) + 1
    return counts


@dataclass(frozen=True, slots=True)
class CreditTotals:
    """A month's credits of a programme (the month of each response's completion)."""

    period: str
    #: Responses credited, those of 0 points (the cap) included.
    responses: int
    points: int
    #: Points already written for the loyalty system, and points waiting for the next export.
    exported_points: int
    waiting_points: int
    #: Credits of more than 0 points not exported yet: the next export's rows.
    waiting_credits: int


def credit_totals(session: Session, programme: Programme) -> list[CreditTotals]:
    """Per month, newest first, what :func:`credit` gave and what :func:`export_credits` has
    still to write: one GROUP BY over the programme's credits."""
    waiting = (LoyaltyCredit.exported_at.is_(None)) & (LoyaltyCredit.points > 0)
    rows = session.execute(
        select(
            LoyaltyCredit.period,
            func.count(),
            func.coalesce(func.sum(LoyaltyCredit.points), 0),
            func.coalesce(func.sum(case((waiting, LoyaltyCredit.points), else_=0)), 0),
            func.count(case((waiting, 1))),
        )
        .where(LoyaltyCredit.programme_id == programme.id)
        .group_by(LoyaltyCredit.period)
        .order_by(LoyaltyCredit.period.desc())
    ).all()
    return [
        CreditTotals(period, int(n), int(points), int(points) - int(due), int(due), int(rows_due))
        for period, n, points, due, rows_due in rows
    ]


# -- the lottery -------------------------------------------------------------------------


def entrants_sha256(entrants: list[str]) -> str:
    """The fingerprint of a sorted list of entrants: SHA-256 of the numbers, one a line."""
    return hashlib.sha256("\n".join(entrants).encode()).hexdigest()


def pick_winners(entrants: list[str], winners: int, seed: int) -> list[str]:
    """The documented draw: ``entrants`` sorted (as stored), then
    ``numpy.random.default_rng(seed).choice(len(entrants), size=min(winners, n),
    replace=False)`` indexes the winners, in the order drawn. Same seed and entrants, same
    winners, on any machine with the same NumPy bit generator (PCG64)."""
    ordered = sorted(entrants)
    size = min(winners, len(ordered))
    picked = np.random.default_rng(seed).choice(len(ordered), size=size, replace=False)
    return [ordered[int(i)] for i in picked]


def draw(
    session: Session,
    programme: Programme,
    period: str,
    winners: int,
    seed: int,
    *,
    timezone: str,
    now: datetime | None = None,
    staff: Staff | int | None = None,
    ip: str | None = None,
) -> LotteryDraw:
    """Draw ``winners`` among the customers who completed in ``period``, once.

    Refused: a programme without a lottery, a month not over yet, no entrants, a second draw
    for the month. With fewer entrants than ``winners``, every entrant wins. ``staff`` and
    ``ip``: who drew and from where, for the audit row (None at the command line).
    """
    now = now or utcnow()
    if winners < 1:
        raise IncentiveError("draw at least one winner")
    if not 0 <= seed <= MAX_SEED:
        raise IncentiveError(f"seed {seed}: choose a whole number from 0 to {MAX_SEED}")
    start, end = month_bounds(period, timezone)
    if end > now:
        raise IncentiveError(f"{period} is not over: draw from {end.isoformat()} on")
    rule = _locked_rule(session, programme)
    try:
        entrants = _entrants(session, programme, rule, period, start, end)
    except SurveyError:
        session.rollback()  # the rule's lock
        raise
    row = LotteryDraw(programme_id=programme.id, period=period, seed=seed,
                      entrants_count=len(entrants), entrants_sha256=entrants_sha256(entrants),
                      entrants=entrants, winners=pick_winners(entrants, winners, seed),
                      drawn_at=now)  # fmt: skip
    session.add(row)
    detail = {
        "period": period,
        "seed": seed,
        "entrants": len(entrants),
        "entrants_sha256": row.entrants_sha256,
        "winners_asked": winners,
        "winners": len(row.winners),
        "algorithm": "numpy default_rng(seed).choice",
    }
    try:  # the draw and its audit row, one commit
        audit(session, staff, LOTTERY_DRAWN, f"programme:{programme.name}", detail, ip, at=now)
    except IntegrityError:
        session.rollback()
        previous = session.execute(
            select(LotteryDraw).where(
                LotteryDraw.programme_id == programme.id, LotteryDraw.period == period
            )
        ).scalar_one()
        raise Conflict(_drawn_already(programme, previous)) from None
    session.refresh(row)
    return row


def _entrants(session, programme, rule, period, start, end) -> list[str]:
    """The sorted numbers of the month's completers; refusals as :func:`draw` says."""
    if not rule.lottery:
        raise IncentiveError(
            f"programme {programme.name} runs no lottery: `manyi incentives set ... --lottery`"
        )
    previous = session.execute(
        select(LotteryDraw).where(
            LotteryDraw.programme_id == programme.id, LotteryDraw.period == period
        )
    ).scalar_one_or_none()
    if previous is not None:
        raise Conflict(_drawn_already(programme, previous))
    entrants = sorted(
        session.execute(
            select(Customer.phone_e164)
            .join(Response, Response.customer_id == Customer.id)
            .where(
                Response.campaign_id == programme.campaign_id,
                Response.status == ResponseStatus.COMPLETED,
                Response.completed_at >= max(start, rule.effective_from),
                Response.completed_at < end,
            )
            .distinct()
        ).scalars()
    )
    if not entrants:
        raise IncentiveError(f"nobody completed a survey of {programme.name} in {period}")
    return entrants


def draws_of(session: Session, programme: Programme) -> list[LotteryDraw]:
    """The programme's draws, the latest month first; their entrants are loaded only when
    read (a month's completers: thousands of numbers)."""
    return list(
        session.execute(
            select(LotteryDraw)
            .where(LotteryDraw.programme_id == programme.id)
            .order_by(LotteryDraw.period.desc())
            .options(defer(LotteryDraw.entrants))
        ).scalars()
    )


def _drawn_already(programme: Programme, previous: LotteryDraw) -> str:
    return (f"the lottery of {programme.name} for {previous.period} was drawn at "
            f"{previous.drawn_at.isoformat()} (seed {previous.seed}, {previous.entrants_count} "
            "entrants): a month is drawn once")  # fmt: skip


# -- export ------------------------------------------------------------------------------


def export_credits(
    session: Session,
    programme: Programme,
    out: Path,
    *,
    again: int | None = None,
    now: datetime | None = None,
) -> LoyaltyExport | None:
    """Write the credits not exported yet to ``out`` (CSV) as a new batch, marking them.

    The file is written beside ``out`` first and moved into place once the marks are
    committed: a failed write marks nothing, and a failed commit leaves no file. None when
    nothing is due (no file written). ``again``: write that batch again, marking nothing.
    Credits of 0 points (the cap) are never exported.
    """
    now = now or utcnow()
    if again is not None:
        batch = session.get(LoyaltyExport, again)
        if batch is None or batch.programme_id != programme.id:
            raise NotFound(f"programme {programme.name} has no export batch {again}")
        credits = list(
            session.execute(
                select(LoyaltyCredit)
                .where(LoyaltyCredit.export_id == batch.id)
                .order_by(LoyaltyCredit.id)
            ).scalars()
        )
        _write(out, programme, batch, credits)
        audit(session, None, EXPORT, f"loyalty:{programme.name}:{batch.id}",
              {"batch": batch.id, "again": True, "credits": len(credits),
               "points": batch.points}, at=now)  # fmt: skip
        session.refresh(batch)
        return batch
    _locked_rule(session, programme)
    credits = list(
        session.execute(
            select(LoyaltyCredit)
            .where(
                LoyaltyCredit.programme_id == programme.id,
                LoyaltyCredit.exported_at.is_(None),
                LoyaltyCredit.points > 0,
            )
            .order_by(LoyaltyCredit.id)
        ).scalars()
    )
    if not credits:
        session.rollback()
        return None
    batch = LoyaltyExport(programme_id=programme.id, exported_at=now, credits=len(credits),
                          points=sum(c.points for c in credits))  # fmt: skip
    session.add(batch)
    session.flush()
    for c in credits:
        c.exported_at = now
        c.export_id = batch.id
        session.add(c)
    session.flush()
    partial = out.with_name(f".{out.name}.partial")
    try:
        _write(partial, programme, batch, credits)
        # The marks and the audit row, one commit; the file is moved into place after it.
        audit(session, None, EXPORT, f"loyalty:{programme.name}:{batch.id}",
              {"batch": batch.id, "credits": batch.credits, "points": batch.points},
              at=now)  # fmt: skip
    except BaseException:
        session.rollback()
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    session.refresh(batch)
    return batch


def _write(path: Path, programme: Programme, batch: LoyaltyExport, credits) -> None:
    """UTF-8 CSV, every text cell quoted and formula-safe (survey.spreadsheets.csv_cell).

    The number is written as an MSISDN, digits without the "+" (86139...): "+" starts a
    formula in a spreadsheet, and a quoted "'+86..." would not be a number to the loyalty
    system.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for c in credits:
        writer.writerow([c.id, batch.id, csv_cell(c.phone_e164.lstrip("+")), c.points,
                         csv_cell(programme.name), csv_cell(c.period), csv_cell(c.reason),
                         csv_cell(c.credited_at.isoformat())])  # fmt: skip
    path.write_text(buffer.getvalue(), encoding="utf-8")

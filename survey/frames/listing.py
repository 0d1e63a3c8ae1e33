"""The stored sample frames with their customers counted: for ``manyi frame list`` and the
console's frames page, which show the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlmodel import Session

from survey.db.tables import Customer, OptOut, SampleFrame

__all__ = ["FrameSummary", "frame_summaries"]


@dataclass(frozen=True, slots=True)
class FrameSummary:
    frame: SampleFrame
    customers: int
    consented: int
    #: Customers whose number is on the opt-out list now (it grows after the import).
    opted_out: int


def frame_summaries(session: Session) -> list[FrameSummary]:
    """Every stored sample frame, newest first, with its customers counted now."""
    frames = (
        session.execute(
            select(SampleFrame).order_by(SampleFrame.imported_at.desc(), SampleFrame.id.desc())
        )
        .scalars()
        .all()
    )
    counts = {
        frame_id: (total, consented or 0)
        for frame_id, total, consented in session.execute(
            select(
                Customer.frame_id, func.count(), func.sum(case((Customer.consent, 1), else_=0))
            ).group_by(Customer.frame_id)
        )
    }
    opted = dict(
        session.execute(
            select(Customer.frame_id, func.count())
            .join(OptOut, OptOut.phone_e164 == Customer.phone_e164)
            .group_by(Customer.frame_id)
        ).all()
    )
    return [
        FrameSummary(frame, *counts.get(frame.id, (0, 0)), opted.get(frame.id, 0))
        for frame in frames
    ]

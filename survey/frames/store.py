"""Storing sample frames in the database."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import insert
from sqlmodel import Session, select

from survey.db.tables import Customer, SampleFrame
from survey.frames.sample_frame import FRAME_COLUMNS


def store_frame(session: Session, frame: pd.DataFrame, name: str, source: str) -> SampleFrame:
    """Store a checked sample frame under ``name``; a name already stored is refused."""
    if session.exec(select(SampleFrame).where(SampleFrame.name == name)).first() is not None:
        raise ValueError(f"a sample frame named {name!r} is already stored; choose another name")
    missing = [c for c in FRAME_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks column(s) {', '.join(missing)}")
    row = SampleFrame(name=name, source=source, n_customers=len(frame))
    session.add(row)
    session.flush()
    records = [
        {
            "frame_id": row.id,
            "external_id": str(r.customer_id),
            "phone_e164": str(r.phone),
            "region": str(r.region),
            "service_hall": str(r.service_hall),
            "tenure_months": int(r.tenure_months),
            "monthly_spend": float(r.monthly_spend),
            "tier": int(r.tier),
            "language": str(r.language),
            "consent": bool(r.consent),
        }
        for r in frame.itertuples(index=False)
    ]
    for start in range(0, len(records), 5000):
        session.execute(insert(Customer), records[start : start + 5000])
    session.commit()
    session.refresh(row)
    return row

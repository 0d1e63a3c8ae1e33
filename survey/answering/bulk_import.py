"""A data set of answers (a CSV of simulated or migrated responses) stored as responses."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlmodel import Session, select

from survey.db.tables import Answer, Customer, QuestionnaireVersion, Response
from survey.questionnaire.publish import load_version
from survey.synthetic.responses import RESPONSE_COLUMNS


def import_responses(
    session: Session, version: QuestionnaireVersion, data: pd.DataFrame, frame_id: int
) -> int:
    """Store completed responses (one row each, answer codes in item columns).

    Rows are matched to customers of ``frame_id`` by ``customer_id``. Each row's
    ``response_id`` becomes the response's external id, so importing the same data twice
    is refused by the database rather than doubling the responses. Returns the count.
    """
    questionnaire = load_version(version)
    unknown = [c for c in data.columns if c not in RESPONSE_COLUMNS and c not in
               questionnaire.item_names]  # fmt: skip
    if unknown:
        raise ValueError(
            f"column(s) {', '.join(unknown)} are not items of {version.form_id} {version.version}"
        )
    customers = dict(
        session.exec(
            select(Customer.external_id, Customer.id).where(Customer.frame_id == frame_id)
        ).all()
    )
    unmatched = sorted(set(data["customer_id"].astype(str)) - set(customers))
    if unmatched:
        raise ValueError(
            f"{len(unmatched)} response(s) name customers not in the frame, e.g. {unmatched[0]}"
        )
    response_rows = [
        {
            "questionnaire_version_id": version.id,
            "customer_id": customers[str(r["customer_id"])],
            "external_id": str(r["response_id"]),
            "channel": str(r["channel"]),
            "language": str(r["language"]),
            "status": "completed",
            "started_at": datetime.fromisoformat(str(r["submitted_at"])),
            "completed_at": datetime.fromisoformat(str(r["submitted_at"])),
        }
        for r in data.to_dict("records")
    ]
    session.execute(insert(Response), response_rows)
    ids = dict(
        session.exec(
            select(Response.external_id, Response.id).where(
                Response.questionnaire_version_id == version.id
            )
        ).all()
    )
    items = [name for name in questionnaire.item_names if name in data.columns]
    answer_rows = []
    for record in data.to_dict("records"):
        response_id = ids[str(record["response_id"])]
        answered = datetime.fromisoformat(str(record["submitted_at"]))
        for name in items:
            value = record[name]
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            answer_rows.append(
                {
                    "response_id": response_id,
                    "item_name": name,
                    "value": _code(value),
                    "answered_at": answered,
                }  # fmt: skip
            )
    for start in range(0, len(answer_rows), 20_000):
        session.execute(insert(Answer), answer_rows[start : start + 20_000])
    session.commit()
    return len(response_rows)


def _code(value) -> str:
    """Stored codes are text: an integer-valued float read from CSV becomes "4", not "4.0"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

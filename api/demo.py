"""Preparing a database with the sample data (``manyi demo``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from survey.db import upgrade
from survey.frame_store import store_frame
from survey.frames import read_frame
from survey.publish import publish
from survey.questionnaire import load_questionnaire
from survey.responses import import_responses
from survey.tables import Response, SampleFrame

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
SAMPLE_FRAME_NAME = "sample"


@dataclass(frozen=True)
class DemoData:
    questionnaire: str
    customers: int
    responses: int


def prepare_demo(engine: Engine, samples: Path = SAMPLES) -> DemoData:
    """Migrate, publish the sample questionnaire, load the frame and responses.

    Safe to run again: what is already there is kept, nothing is loaded twice.
    """
    if not samples.is_dir():
        raise FileNotFoundError(
            f"no sample data at {samples}: run from a clone of the repository "
            "(make demo installs it in editable mode)"
        )
    upgrade(engine)
    questionnaire, _ = load_questionnaire(samples / "csi_questionnaire.yaml")
    with Session(engine) as session:
        version = publish(session, questionnaire)
        frame_row = session.exec(
            select(SampleFrame).where(SampleFrame.name == SAMPLE_FRAME_NAME)
        ).first()
        if frame_row is None:
            frame_row = store_frame(
                session, read_frame(samples / "frame.csv"), SAMPLE_FRAME_NAME, "frame.csv"
            )
        has_responses = session.exec(
            select(Response.id).where(Response.questionnaire_version_id == version.id)
        ).first()
        if has_responses is None:
            import pandas as pd

            data = pd.read_csv(samples / "responses.csv", dtype=str, keep_default_na=False,
                               na_values=[""])  # fmt: skip
            import_responses(session, version, data, frame_row.id)
        n_responses = len(
            session.exec(
                select(Response.id).where(Response.questionnaire_version_id == version.id)
            ).all()
        )
        return DemoData(
            f"{questionnaire.form_id} {questionnaire.version}",
            frame_row.n_customers,
            n_responses,
        )

"""Preparing a database with the sample data, and the demo's dispatcher (``manyi demo``).

The demo sends through the simulator whatever the settings say: its customers' numbers
are fictional, and a visitor reads the messages on the phone pages (``/phone/{number}``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from api.settings import Settings
from survey.answering.bulk_import import import_responses
from survey.campaigns.lifecycle import change_status, create_campaign, invite
from survey.db.engine import make_engine, upgrade
from survey.db.tables import (
    Campaign,
    Customer,
    Invitation,
    QuestionnaireVersion,
    Response,
    SampleFrame,
)
from survey.frames.sample_frame import read_frame
from survey.frames.store import store_frame
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.sms.dispatch import Dispatcher
from survey.sms.simulator_transport import SimulatorTransport

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SAMPLE_FRAME_NAME = "sample"
DEMO_CAMPAIGN_NAME = "Demo: service survey by SMS"
DEMO_INVITATIONS = 5

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoData:
    questionnaire: str
    customers: int
    responses: int
    #: Numbers the demo campaign invites: their phone pages show the invitations.
    phones: tuple[str, ...] = ()


def prepare_demo(
    engine: Engine,
    samples: Path = SAMPLES,
    *,
    secret: str | None = None,
    timezone: str = "Asia/Shanghai",
) -> DemoData:
    """Migrate, publish the sample questionnaire, load the frame and responses.

    With ``secret`` (the service's key, which the invitation links are made with), also
    launch a small demo campaign. Safe to run again: what is already there is kept,
    nothing is loaded twice.
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
        phones = _demo_campaign(session, version, frame_row, secret, timezone) if secret else ()
        return DemoData(
            f"{questionnaire.form_id} {questionnaire.version}",
            frame_row.n_customers,
            n_responses,
            phones,
        )


def _demo_campaign(
    session: Session, version: QuestionnaireVersion, frame: SampleFrame, secret: str, timezone: str
) -> tuple[str, ...]:
    """A launched SMS-link campaign of a few customers (created once); their numbers."""
    campaign = session.exec(select(Campaign).where(Campaign.name == DEMO_CAMPAIGN_NAME)).first()
    if campaign is None:
        customers = session.exec(
            select(Customer.id)
            .where(Customer.frame_id == frame.id, Customer.consent)
            .order_by(Customer.id)
            .limit(DEMO_INVITATIONS)
        ).all()
        # No quiet hours: a visitor at any hour should see the invitations arrive.
        campaign = create_campaign(
            session, version.id, DEMO_CAMPAIGN_NAME,
            message={"zh": "【满意度调查】您好！诚邀您花2分钟评价我们的服务：{link} 回TD退订",
                     "en": "Please rate our service, it takes 2 minutes: {link} Reply STOP to "
                           "opt out"},
            quiet_start="00:00", quiet_end="00:00", rate_per_second=1.0,
        )  # fmt: skip
        # The link's host is the dispatcher's business: the outbox keeps only "{link}".
        invite(session, campaign, customers, secret=secret, public_base_url="",
               timezone=timezone)  # fmt: skip
        change_status(session, campaign, "launch")
    return tuple(
        session.exec(
            select(Customer.phone_e164)
            .join(Invitation, Invitation.customer_id == Customer.id)
            .where(Invitation.campaign_id == campaign.id)
            .order_by(Invitation.id)
        ).all()
    )


def demo_base_url(settings: Settings, host: str, port: int) -> str:
    """Where demo links point: the public URL when one is set, else the demo server."""
    if "public_base_url" in settings.model_fields_set:
        return str(settings.public_base_url).rstrip("/")
    return f"http://{host}:{port}"


@contextmanager
def background_dispatcher(
    database_url: str, *, secret: str, public_base_url: str
) -> Iterator[None]:
    """Dispatch the outbox through the simulator in a thread while the block runs."""
    engine = make_engine(database_url)
    stopping = threading.Event()
    dispatcher = Dispatcher(
        engine=engine, transport=SimulatorTransport(engine), worker_id=f"demo-{os.getpid()}",
        secret=secret, public_base_url=public_base_url, sleep=stopping.wait,
    )  # fmt: skip

    def run() -> None:
        try:
            if dispatcher.resume_own_work(stop=stopping.is_set):
                dispatcher.run(stop=stopping.is_set, idle_seconds=1.0)
        except SQLAlchemyError as error:
            # The demo goes on serving; only the simulated SMS stop.
            log.error("the demo dispatcher stopped: %s", error)

    thread = threading.Thread(target=run, name="demo-dispatcher", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(timeout=10)
        try:
            dispatcher.release()
        except SQLAlchemyError as error:
            log.warning("the demo dispatcher could not give its messages back: %s", error)
        engine.dispose()

"""Preparing a database with the sample data, and the demo's dispatcher (``manyi demo``).

The demo sends through the simulator whatever the settings say: its customers' numbers
are fictional, and a visitor reads the messages on the phone pages (``/phone/{number}``).

Besides the sample data (:func:`prepare_demo`, which tests use too), ``manyi demo`` adds a
phone campaign whose cases are due at any hour (:func:`prepare_phone_demo`) and, in
development only, one account per role with a known password (:func:`create_demo_accounts`),
so that a newcomer can sign in without a second terminal.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from api.settings import Settings
from survey.answering.bulk_import import import_responses
from survey.campaigns.lifecycle import (
    change_status,
    create_call_cases,
    create_campaign,
    invite,
)
from survey.cati.rules import parse_calling
from survey.db.engine import make_engine, upgrade
from survey.db.tables import (
    CallCase,
    Campaign,
    Customer,
    Invitation,
    QuestionnaireVersion,
    Response,
    SampleFrame,
    Staff,
)
from survey.frames.sample_frame import read_frame
from survey.frames.store import store_frame
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.sms.dispatch import Dispatcher
from survey.sms.simulator_transport import SimulatorTransport
from survey.staff import audit
from survey.staff.accounts import create_staff, find_staff, verify_password

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SAMPLE_FRAME_NAME = "sample"
#: The form id of data/samples/csi_questionnaire.yaml.
SAMPLE_FORM_ID = "csi_mobile"
DEMO_CAMPAIGN_NAME = "Demo: service survey by SMS"
DEMO_INVITATIONS = 5
PHONE_CAMPAIGN_NAME = "Demo: phone interviews"
#: Cases of the phone campaign that are due at each start of the demo (topped up).
DEMO_CALL_CASES = 10
#: The whole day, so that an interviewer finds a case at any hour: calling hours cannot
#: cross midnight (survey.cati.rules), so the last minute of the day is the only closed one,
#: and /calls says then when the next case is due (00:00).
DEMO_CALLING_HOURS = "00:00-23:59"
#: The password of the demo accounts, printed by ``manyi demo``: they exist in development
#: only (MANYI_ENV=development), never in test or production.
DEMO_PASSWORD = "manyi-demo-only"  # noqa: S105 (printed on purpose; development only)
#: username (also its role) and the page it works on, in the order the sign-in table lists.
DEMO_ACCOUNTS = (
    ("admin", "/console"),
    ("researcher", "/console"),
    ("manager", "/dashboard"),
    ("supervisor", "/supervision"),
    ("interviewer", "/calls"),
)

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


@dataclass(frozen=True)
class DemoCalls:
    """The demo's phone campaign: its name, status and calling hours, and its cases due."""

    campaign: str
    status: str
    hours: str
    due: int


def prepare_phone_demo(
    engine: Engine, *, timezone: str = "Asia/Shanghai", now: datetime | None = None
) -> DemoCalls:
    """A launched phone-interview (CATI) campaign on the sample questionnaire whose calling
    hours cover the day, topped up to :data:`DEMO_CALL_CASES` due cases.

    Run after :func:`prepare_demo`. Calls made in an earlier demo are kept (their cases wait
    for their retry, or are final); fresh customers of the sample frame, never one the SMS
    campaign invited, make up the number. A campaign paused or closed (in the console, say) is
    left so, and its cases are not topped up.
    """
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        campaign = session.exec(
            select(Campaign).where(Campaign.name == PHONE_CAMPAIGN_NAME)
        ).first()
        if campaign is None:
            version = session.exec(
                select(QuestionnaireVersion)
                .where(QuestionnaireVersion.form_id == SAMPLE_FORM_ID)
                .order_by(QuestionnaireVersion.id.desc())
            ).first()
            if version is None:
                raise LookupError(f"{SAMPLE_FORM_ID} is not published: run prepare_demo first")
            campaign = create_campaign(
                session, version.id, PHONE_CAMPAIGN_NAME, channels=["cati"],
                calling={"hours": DEMO_CALLING_HOURS},
            )  # fmt: skip
            change_status(session, campaign, "launch")
        rules = parse_calling(campaign.calling, timezone=timezone)
        due = _due_cases(session, campaign.id, now, rules.max_attempts)
        if campaign.status == "running" and due < DEMO_CALL_CASES:
            called = select(CallCase.customer_id).where(CallCase.campaign_id == campaign.id)
            invited = select(Invitation.customer_id)
            fresh = session.exec(
                select(Customer.id)
                .where(
                    Customer.consent,
                    Customer.id.not_in(called),
                    Customer.id.not_in(invited),
                )
                .order_by(Customer.id)
                .limit(DEMO_CALL_CASES - due)
            ).all()
            create_call_cases(session, campaign, fresh, now=now)
            due = _due_cases(session, campaign.id, now, rules.max_attempts)
        return DemoCalls(
            campaign.name,
            campaign.status,
            f"{rules.to_dict()['hours']} {rules.timezone}",
            due,
        )


def _due_cases(session: Session, campaign_id: int, now: datetime, max_attempts: int) -> int:
    """Open cases of the campaign whose call is due (held ones included: a hold expires)."""
    return session.exec(
        select(func.count())
        .select_from(CallCase)
        .where(
            CallCase.campaign_id == campaign_id,
            CallCase.status == "open",
            CallCase.attempts < max_attempts,
            or_(CallCase.next_call_at.is_(None), CallCase.next_call_at <= now),
        )
    ).one()


@dataclass(frozen=True)
class DemoAccount:
    """A demo account and whether :data:`DEMO_PASSWORD` signs it in."""

    username: str
    role: str
    page: str
    #: "created" now, "kept" from an earlier demo (the demo password still works), or
    #: "its own password" (an account of that name that the demo did not make, or changed
    #: since): the demo never touches it.
    state: str

    @property
    def demo_password(self) -> bool:
        return self.state in ("created", "kept")


def create_demo_accounts(engine: Engine, settings: Settings) -> tuple[DemoAccount, ...]:
    """In development only, one account per role with :data:`DEMO_PASSWORD`, each created
    when its username is free; the accounts, for the sign-in table.

    Anywhere else (MANYI_ENV=test or production) nothing is created and nothing is returned:
    a known password must never open a real service. An existing account is never changed.
    """
    if settings.env != "development":
        return ()
    accounts = []
    with Session(engine) as session:
        for username, page in DEMO_ACCOUNTS:
            found: Staff | None = find_staff(session, username)
            if found is None:
                found = create_staff(session, username, username, DEMO_PASSWORD,
                                     display_name=f"Demo {username}")  # fmt: skip
                audit.audit(session, None, audit.STAFF_ADDED, found.username,
                            {"via": "manyi demo", "role": found.role})  # fmt: skip
                state = "created"
            elif found.active and verify_password(found.password_hash, DEMO_PASSWORD):
                state = "kept"
            else:
                state = "its own password"
            accounts.append(DemoAccount(found.username, found.role, page, state))
    return tuple(accounts)


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

"""Preparing a database with the sample data, and the demo's dispatcher (``manyi demo``).

The demo sends through the simulator whatever the settings say: its customers' numbers
are fictional, and a visitor reads the messages on the phone pages (``/phone/{number}``).

Besides the sample data (:func:`prepare_demo`, which tests use too), ``manyi demo`` adds a
phone campaign whose cases are due at any hour (:func:`prepare_phone_demo`) and, in
development only, one account per role with a known password (:func:`create_demo_accounts`),
so that a newcomer can sign in without a second terminal.

It also runs a standing hotline programme (:func:`prepare_programme_demo`) on a small
simulated week of contacts (:mod:`survey.synthetic.contacts`): decided, sent through the
simulator and answered through the real SMS reply path, so that the dashboard's agents page
(``/dashboard/agents``) has agents with rates, shrinkage and ranks from the start.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event as sa_event
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
    ContactEvent,
    Customer,
    Invitation,
    Programme,
    QuestionnaireVersion,
    Response,
    SampleFrame,
    SimulatedSms,
    Staff,
)
from survey.frames.sample_frame import read_frame
from survey.frames.store import store_frame
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from survey.sms.dispatch import Dispatcher
from survey.sms.simulator_transport import SimulatorTransport
from survey.staff import audit
from survey.staff.accounts import Role, create_staff, find_staff, verify_password

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
    # Of the demo programme's first team; made once the programme's week is loaded.
    ("team_leader", "/dashboard/agents"),
    ("supervisor", "/supervision"),
    ("interviewer", "/calls"),
)

#: The demo's standing programme (a programme's name is one word: letters, digits, . _ -).
PROGRAMME_NAME = "demo-hotline"
PROGRAMME_CHANNELS = ("hotline", "hall", "online")
#: The demo's simulated week: small, so that ``make demo`` starts in seconds (the issue's
#: full week is 200,000 contacts of 300 agents; ``manyi sample contacts`` makes it).
PROGRAMME_WEEK = {"n": 5000, "agents": 60, "teams": 6, "seed": 20260302}
PROGRAMME_SAMPLE_RATE = 0.3
#: The invitations go out as fast as the simulator takes them: the demo's week is sent at
#: its start, not over the week.
PROGRAMME_RATE = 1000.0

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
class DemoProgramme:
    """The demo's programme and its funnel: contacts, invitations sent, replies."""

    programme: str
    contacts: int
    invited: int
    sent: int
    replies: int
    agents: int
    created: bool


def prepare_programme_demo(
    engine: Engine,
    samples: Path = SAMPLES,
    *,
    secret: str,
    public_base_url: str = "",
    timezone: str = "Asia/Shanghai",
    now: datetime | None = None,
) -> DemoProgramme:
    """A running hotline programme (:data:`PROGRAMME_NAME`, mode sms_reply) on a simulated
    week of contacts ending ``now``, made once (a second run only counts).

    Run after :func:`prepare_demo`. The week of :func:`~survey.synthetic.contacts.
    simulate_contacts` (:data:`PROGRAMME_WEEK`) is moved to end the programme's delay
    (5 minutes) before ``now``, so that every invitation is due, and its numbers to
    fictional ones no customer has yet (no sample customer's phone page shows hotline
    messages). Its contacts are decided by :func:`~survey.programmes.decide.decide_contacts`
    in the order they ended, each batch at the time its last contact ended, as the contact
    centre would have sent them (the whole week decided at ``now`` would be refused as
    ``outside_window`` but for its last day). A dispatcher of the programme's campaign sends
    the invitations through the simulator. The simulated replies that have arrived by
    ``now`` come in as the simulator's phone page sends them
    (:func:`~survey.sms.inbound.receive_sms`, then what it queues sent at once): a "3" opens
    a remedy follow-up, words are handled as that path handles them. Last, whatever else is
    due is sent, with links to ``public_base_url``: the demo campaign's invitations, which
    so come first on the simulator's phone list (latest first).
    """
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        programme = session.exec(select(Programme).where(Programme.name == PROGRAMME_NAME)).first()
        if programme is not None:
            return _programme_funnel(session, programme, timezone, created=False)
    with _loading_engine(engine) as loading:
        return _load_programme_week(loading, samples, secret, public_base_url, timezone, now)


@contextmanager
def _loading_engine(engine: Engine) -> Iterator[Engine]:
    """An engine for loading the demo's week: on SQLite, one whose commits do not wait for
    the disk (``synchronous=NORMAL``: still atomic, and safe when the process dies; only a
    power cut may lose the last commits), since the week's thousands of small commits (one
    per message sent and per reply, as in service) take ~3 ms each with the service's
    ``synchronous=FULL``. The data is fictional and made again when lost."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        yield engine
        return
    loading = make_engine(engine.url.render_as_string(hide_password=False))

    @sa_event.listens_for(loading, "connect")
    def _no_full_sync(connection, _record) -> None:  # after the engine's own pragmas
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    try:
        yield loading
    finally:
        loading.dispose()


def _load_programme_week(
    engine: Engine, samples: Path, secret: str, public_base_url: str, timezone: str, now: datetime
) -> DemoProgramme:
    import numpy as np

    from survey.programmes.decide import MAX_BATCH, decide_contacts
    from survey.programmes.manage import create_programme
    from survey.sms.inbound import InboundMessage, receive_sms
    from survey.sms.outbox import send_now
    from survey.sms.simulator_transport import new_message_id
    from survey.synthetic.contacts import fiction_phones, simulate_contacts

    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(samples / "contact_evaluation.yaml")
        version = publish(session, questionnaire)
        taken = session.exec(select(Customer.phone_e164).distinct()).all()
        # No quiet hours: the demo's invitations and replies come at any hour.
        programme = create_programme(
            session, version, PROGRAMME_NAME, mode="sms_reply", channels=PROGRAMME_CHANNELS,
            sample_rate=PROGRAMME_SAMPLE_RATE, quiet_start="00:00", quiet_end="00:00",
            rate_per_second=PROGRAMME_RATE, now=now,
        )  # fmt: skip

    # The week ends the programme's delay before now: every invitation is due, and sent here.
    end = now - timedelta(minutes=programme.delay_minutes)
    week = simulate_contacts(**PROGRAMME_WEEK, week_start=(end - timedelta(days=7)).isoformat())
    contacts = week.contacts
    # The week's customers get fictional numbers no customer of the database has yet.
    numbers, customer = np.unique(contacts["phone"].to_numpy(), return_inverse=True)
    free = fiction_phones(numbers.size + len(taken))
    free = free[~np.isin(free, np.asarray(taken, dtype=str))][: numbers.size]
    contacts = contacts.assign(phone=free[customer])
    events = [
        {k: v for k, v in row.items() if isinstance(v, str)}
        | {"ended_at": row["ended_at"].to_pydatetime()}
        for row in contacts.to_dict("records")
    ]
    events.sort(key=lambda e: (e["ended_at"], e["contact_id"]))
    # Batches as the contact centre sends them: each decided when its last contact ended,
    # none longer than the reply window (so that its first contact is inside it).
    window = timedelta(hours=programme.reply_window_hours - 1)
    batch: list[dict] = []
    for event in [*events, None]:
        if batch and (
            event is None
            or len(batch) == MAX_BATCH
            or event["ended_at"] - batch[0]["ended_at"] > window
        ):
            decide_contacts(engine, PROGRAMME_NAME, batch, source="api", secret=secret,
                            timezone=timezone, now=batch[-1]["ended_at"])  # fmt: skip
            batch = []
        if event is not None:
            batch.append(event)

    # The dispatcher sends the programme's invitations through the simulator.
    transport = SimulatorTransport(engine)
    _dispatch(Dispatcher(
        engine=engine, transport=transport, worker_id="demo-programme", secret=secret,
        public_base_url=public_base_url, in_flight=8, batch_size=100,
        only_campaign=programme.campaign_id,
    ))  # fmt: skip

    # The replies that have arrived by now, to the invitations sent, in the order they came.
    phones = dict(zip(contacts["contact_id"], contacts["phone"], strict=True))
    replies = week.replies[week.replies["replied_at"] <= now].sort_values("replied_at")
    with Session(engine) as session:
        sent = set(
            session.exec(
                select(ContactEvent.contact_id)
                .join(Invitation, Invitation.id == ContactEvent.invitation_id)
                .where(
                    ContactEvent.programme_id == programme.id,
                    Invitation.sent_at.is_not(None),
                )
            ).all()
        )
        for contact_id, body in zip(replies["contact_id"], replies["text"], strict=True):
            if contact_id not in sent:
                continue
            phone, message_id = phones[contact_id], new_message_id()
            # As the simulator's phone page does: the message kept for the number's page,
            # handled in the same transaction.
            session.add(SimulatedSms(phone=phone, direction="in", body=body,
                                     message_id=message_id))  # fmt: skip
            session.flush()
            outcome = receive_sms(
                session, InboundMessage(message_id, phone, body), timezone=timezone
            )
            send_now(engine, transport, outcome.outbox_ids)
        programme = session.get(Programme, programme.id)
        funnel = _programme_funnel(session, programme, timezone, created=True)
    # Whatever else is due (the demo campaign's invitations) goes last, so that the
    # simulator's phone list (latest first) starts with the demo's own invitations.
    _dispatch(Dispatcher(
        engine=engine, transport=transport, worker_id="demo-programme", secret=secret,
        public_base_url=public_base_url,
    ))  # fmt: skip
    return funnel


def _dispatch(dispatcher: Dispatcher) -> None:
    """Send everything due now, then give the dispatcher's lease back."""
    try:
        dispatcher.run(until_idle=True, idle_seconds=0.0)
    finally:
        dispatcher.release()


def _programme_funnel(
    session: Session, programme: Programme, timezone: str, *, created: bool
) -> DemoProgramme:
    """The programme's funnel as its report counts it (replies: answers to its question)."""
    from survey.programmes.report import contact_counts

    counts = contact_counts(session, by="agent", timezone=timezone, programme=programme.name)
    sent = session.exec(
        select(func.count())
        .select_from(ContactEvent)
        .join(Invitation, Invitation.id == ContactEvent.invitation_id)
        .where(ContactEvent.programme_id == programme.id, Invitation.sent_at.is_not(None))
    ).one()
    return DemoProgramme(
        programme=programme.name,
        contacts=int(counts["contacts"].sum()),
        invited=int(counts["invitations"].sum()),
        sent=sent,
        replies=int(counts["replies"].sum()),
        agents=len(counts),
        created=created,
    )


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
        # A team leader leads a team some contact names: the demo week's first, if loaded.
        first_team = session.exec(
            select(ContactEvent.team).where(ContactEvent.team.is_not(None))
            .order_by(ContactEvent.team).limit(1)
        ).first()  # fmt: skip
        for username, page in DEMO_ACCOUNTS:
            found: Staff | None = find_staff(session, username)
            if found is None and username == Role.TEAM_LEADER and first_team is None:
                continue
            if found is None:
                teams = [first_team] if username == Role.TEAM_LEADER else []
                found = create_staff(session, username, username, DEMO_PASSWORD,
                                     display_name=f"Demo {username}", teams=teams)  # fmt: skip
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

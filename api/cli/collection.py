"""Collection from the command line: ``manyi frame``, ``manyi campaign``, ``manyi dispatch``.

A campaign's sample is drawn when it is created, so it can be reviewed (``manyi campaign
list``) before anything is sent; ``launch`` writes the messages to the outbox and
``manyi dispatch`` workers send them. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from api.cli.support import ensure_current_schema, fail, settings_and_engine

frame_app = typer.Typer(help="Sample frames: import customers from CSV/XLSX.", no_args_is_help=True)
campaign_app = typer.Typer(
    help="Campaigns: create (draws the sample), launch, pause, resume, close, list.",
    no_args_is_help=True,
)

DEFAULT_MESSAGES = {
    "zh": "【满意度调查】您好！诚邀您花2分钟评价我们的服务：{link} 回TD退订",
    "en": "Please rate our service, it takes 2 minutes: {link} Reply STOP to opt out",
}
REPLY_GREETINGS = {
    "zh": "【服务评价】感谢您致电，回TD退订。",
    "en": "Thank you for calling. Reply STOP to opt out.",
}
#: Frame columns a sample may be stratified by.
STRATA = ("tier", "region", "service_hall", "language")
SHOWN_PROBLEMS = 20

log = logging.getLogger("manyi.dispatch")


def _database():
    """Settings and an engine on a database whose schema is current (a fresh one is created)."""
    settings, engine = settings_and_engine()
    ensure_current_schema(engine)
    return settings, engine


# -- frames ------------------------------------------------------------------------------


@frame_app.command("import")
def frame_import(
    file: Annotated[Path, typer.Argument(help="Customers: .csv (UTF-8) or .xlsx, one per row.")],
    name: Annotated[str, typer.Option(help="Name of the stored sample frame.")],
    default_region: Annotated[
        str, typer.Option(help="Region of phone numbers written without +, e.g. CN.")
    ] = "CN",
    report: Annotated[
        Path | None, typer.Option(help="Write every problem found to this CSV file.")
    ] = None,
) -> None:
    """Import a sample frame: phones checked and normalised to E.164, every problem reported.

    Valid rows are stored; invalid rows and duplicates (same id or same number) are
    reported with row, column, problem and fix; numbers on the opt-out list are stored
    but flagged and never invited. Exits 1 when no row could be stored, 2 when the file
    cannot be read.
    """
    from sqlmodel import Session

    from survey.frames.importer import FrameImportError, import_frame, write_report

    _, engine = _database()
    with Session(engine) as session:
        try:
            result = import_frame(session, file, name, default_region=default_region)
        except FrameImportError as error:
            raise fail(str(error), 2) from None
    problems = result.check.problems
    if report is not None:
        write_report(problems, report)
    for problem in problems[:SHOWN_PROBLEMS]:
        typer.echo(str(problem), err=True)
    if len(problems) > SHOWN_PROBLEMS:
        more = f"{len(problems) - SHOWN_PROBLEMS} more problem(s)"
        typer.echo(f"... {more}: see {report}" if report else f"... {more}: write them all "
                   "with --report problems.csv", err=True)  # fmt: skip
    counts = result.summary()
    where = f"as sample frame {name!r}" if result.stored else "(nothing stored)"
    typer.echo(
        f"{file.name}: {counts['rows_read']} rows read, {counts['stored']} stored {where}, "
        f"{counts['invalid']} invalid, {counts['duplicates']} duplicates, "
        f"{counts['opted_out']} opted out (stored, never invited)"
    )
    if result.stored is None:
        raise fail("no row could be stored: fix the problems listed and import again")


# -- campaigns ---------------------------------------------------------------------------


def _quiet_hours(text: str) -> tuple[str, str]:
    if text.strip().lower() in ("none", "off", ""):
        return "00:00", "00:00"  # equal ends: no quiet hours
    match = re.fullmatch(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", text)
    if not match:
        raise fail(f"--quiet {text!r}: write START-END in local time, e.g. 21:00-08:00, "
                    "or none")  # fmt: skip
    return match.group(1).zfill(5), match.group(2).zfill(5)


def _moment(text: str | None, option: str, zone: str, start: datetime) -> datetime | None:
    """An ISO date/time (local time when it has no offset) or a delay after ``start``."""
    if text is None:
        return None
    relative = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dh])\s*", text.lower())
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2)
        return start + timedelta(days=amount) if unit == "d" else start + timedelta(hours=amount)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} {text!r}: write a date and time such as 2026-04-01T18:00, or a "
                    "delay such as 7d or 48h") from None  # fmt: skip
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


def _quotas(texts: list[str], strata: list[str], customers) -> dict[tuple, int]:
    """``--quota 5,Hangzhou=10``: values in the order of --stratify, then the count."""
    quotas: dict[tuple, int] = {}
    for text in texts:
        key_text, _, count = text.rpartition("=")
        values = [v.strip() for v in key_text.split(",")]
        if not key_text or len(values) != len(strata) or not count.strip().isdigit():
            raise fail(f"--quota {text!r}: write one value per --stratify column "
                        f"({','.join(strata)}) then =COUNT, e.g. --quota "
                        f"{','.join('…' for _ in strata)}=100")  # fmt: skip
        key = tuple(
            int(v) if customers[column].dtype.kind in "iu" and v.lstrip("-").isdigit() else v
            for v, column in zip(values, strata, strict=True)
        )
        quotas[key] = int(count)
    known = set(customers.groupby(strata).size().index)
    known = {k if isinstance(k, tuple) else (k,) for k in known}
    unknown = [k for k in quotas if k not in known]
    if unknown:
        examples = ", ".join(",".join(map(str, k)) for k in sorted(known, key=str)[:5])
        raise fail(f"no eligible customer in stratum {','.join(map(str, unknown[0]))}; "
                    f"strata look like: {examples}")  # fmt: skip
    return quotas


def _frame_customers(session, frame_id: int):
    """The frame's customers as a DataFrame, with whether each may be invited."""
    import pandas as pd
    from sqlalchemy import select

    from survey.db.tables import Customer, OptOut

    rows = session.execute(
        select(Customer.id, Customer.phone_e164, Customer.region, Customer.service_hall,
               Customer.tier, Customer.language, Customer.consent)
        .where(Customer.frame_id == frame_id).order_by(Customer.id)
    ).all()  # fmt: skip
    columns = ["id", "phone", "region", "service_hall", "tier", "language", "consent"]
    customers = pd.DataFrame(rows, columns=columns)
    opted_out = set(session.execute(select(OptOut.phone_e164)).scalars())
    customers["opted_out"] = customers["phone"].isin(opted_out)
    return customers


def _version(session, spec: str):
    from sqlalchemy import select

    from survey.db.tables import QuestionnaireVersion
    from survey.errors import InvalidRequest
    from survey.questionnaire.publish import split_version

    try:
        form_id, version = split_version(spec) if "@" in spec else (spec, "")
    except InvalidRequest as error:
        raise fail(str(error)) from None
    query = select(QuestionnaireVersion).where(QuestionnaireVersion.form_id == form_id)
    if version:
        query = query.where(QuestionnaireVersion.version == version)
    row = session.execute(
        query.order_by(QuestionnaireVersion.published_at.desc(), QuestionnaireVersion.id.desc())
    ).scalars().first()  # fmt: skip
    if row is None:
        published = session.execute(
            select(QuestionnaireVersion.form_id, QuestionnaireVersion.version)
        ).all()
        listed = ", ".join(f"{f}@{v}" for f, v in published) or "none yet"
        raise fail(f"no published questionnaire {spec!r} (published: {listed}); publish it "
                    "with `manyi questionnaire publish FILE`")  # fmt: skip
    return row


@campaign_app.command("create")
def campaign_create(
    questionnaire: Annotated[str, typer.Option(help="FORM_ID or FORM_ID@VERSION (newest).")],
    frame: Annotated[str, typer.Option(help="Name of an imported sample frame.")],
    name: Annotated[str, typer.Option(help="Name of the campaign.")],
    channels: Annotated[
        str, typer.Option(help="Comma-separated: sms_link, sms_reply, web_link, intercept, cati.")
    ] = "sms_link",
    sample: Annotated[int | None, typer.Option(min=1, help="Number of customers drawn.")] = None,
    stratify: Annotated[
        str | None,
        typer.Option(help=f"Stratify by columns, e.g. tier,region ({', '.join(STRATA)})."),
    ] = None,
    quota: Annotated[
        list[str] | None, typer.Option(help="Customers per stratum, e.g. 5,Hangzhou=40; repeat.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the draw (printed when random).")
    ] = None,
    rate: Annotated[float, typer.Option(help="Messages per second, all dispatchers.")] = 10.0,
    quiet: Annotated[
        str, typer.Option(help="No SMS in these local hours, or none.")
    ] = "21:00-08:00",
    reminders: Annotated[int, typer.Option(min=0, help="Reminders to non-respondents.")] = 0,
    reminder_delay: Annotated[float, typer.Option(help="Hours before a reminder.")] = 48.0,
    starts: Annotated[str | None, typer.Option(help="Send no earlier than this date/time.")] = None,
    expires: Annotated[
        str | None, typer.Option(help="Links expire: a date/time, or a delay such as 7d.")
    ] = None,
    layout: Annotated[str, typer.Option(help="Web form: grouped or single (per screen).")] = (
        "grouped"
    ),
    message_zh: Annotated[
        str | None,
        typer.Option(help="Chinese SMS; {link} is the link (reply mode: put before question 1)."),
    ] = None,
    message_en: Annotated[
        str | None,
        typer.Option(help="English SMS; {link} is the link (reply mode: put before question 1)."),
    ] = None,
) -> None:
    """Create a draft campaign and draw its sample from a frame (nothing is sent yet).

    Only customers who consented and are not on the opt-out list are drawn. Simple random
    with --sample N; stratified with --stratify and either --sample N (proportional) or
    one --quota per stratum.
    """
    import secrets

    from sqlmodel import Session, select

    from survey.campaigns.launch import check_channels
    from survey.campaigns.lifecycle import CampaignError, create_campaign, draw_sample, invite
    from survey.db.tables import SampleFrame, utcnow
    from survey.questionnaire.publish import load_version

    quiet_start, quiet_end = _quiet_hours(quiet)
    strata = [s.strip() for s in stratify.split(",")] if stratify else []
    bad = [s for s in strata if s not in STRATA]
    if bad:
        raise fail(f"--stratify {stratify!r}: {', '.join(bad)} is not a frame column to "
                    f"stratify by; use {', '.join(STRATA)}")  # fmt: skip
    if quota and not strata:
        raise fail("--quota needs --stratify, e.g. --stratify tier --quota 5=100")
    if sample is None and not quota:
        raise fail("say how many customers to draw: --sample N, or --stratify with --quota")
    settings, engine = _database()
    seed = seed if seed is not None else secrets.randbelow(2**31)
    channel_list = [c.strip() for c in channels.split(",") if c.strip()]
    # A reply-mode campaign's first message is its first question: its default greeting
    # carries no link.
    defaults = DEFAULT_MESSAGES if "sms_link" in channel_list else REPLY_GREETINGS
    message = {"zh": message_zh or defaults["zh"], "en": message_en or defaults["en"]}
    with Session(engine) as session:
        version = _version(session, questionnaire)
        frame_row = session.exec(select(SampleFrame).where(SampleFrame.name == frame)).first()
        if frame_row is None:
            names = ", ".join(session.exec(select(SampleFrame.name)).all()) or "none yet"
            raise fail(f"no sample frame {frame!r} (stored: {names}); import one with "
                        "`manyi frame import FILE --name NAME`")  # fmt: skip
        customers = _frame_customers(session, frame_row.id)
        eligible = customers[customers["consent"] & ~customers["opted_out"]]
        quotas = _quotas(quota, strata, eligible) if quota else None
        wanted = sum(quotas.values()) if quotas else sample
        if quotas and sample is not None and sample != wanted:
            raise fail(f"--sample {sample} disagrees with the quotas, which add up to {wanted}")
        try:
            check_channels(channel_list, load_version(version))
            drawn = draw_sample(eligible, wanted, seed=seed, strata=strata or None, quotas=quotas)
            start = datetime.now(ZoneInfo(settings.timezone))
            starts_at = _moment(starts, "--starts", settings.timezone, start)
            campaign = create_campaign(
                session, version.id, name,
                channels=channel_list,
                message=message,
                quiet_start=quiet_start, quiet_end=quiet_end, rate_per_second=rate,
                reminders=reminders, reminder_delay_hours=reminder_delay, starts_at=starts_at,
                expires_at=_moment(expires, "--expires", settings.timezone, starts_at or start),
                layout=layout,
            )  # fmt: skip
        except (CampaignError, ValueError) as error:
            raise fail(str(error)) from None
        invite(session, campaign, drawn["id"].tolist(),
               secret=settings.secret_key.get_secret_value(),
               public_base_url=str(settings.public_base_url), timezone=settings.timezone,
               now=utcnow(), queue=False)  # fmt: skip
        campaign_id, form = campaign.id, f"{version.form_id}@{version.version}"
    typer.echo(
        f"created campaign {campaign_id} {name!r} (draft) on {form}: {len(drawn)} customers "
        f"drawn (seed {seed}) from frame {frame!r}, "
        f"{len(eligible)} of {len(customers)} eligible "
        f"({int((~customers['consent']).sum())} without consent, "
        f"{int(customers['opted_out'].sum())} opted out)"
    )
    if quotas:
        got = drawn.groupby(strata).size()
        for key, want in quotas.items():
            have = int(got.get(key if len(key) > 1 else key[0], 0))
            if have < want:
                typer.echo(f"note: stratum {','.join(map(str, key))} has only {have} eligible "
                           f"customers for a quota of {want}", err=True)  # fmt: skip
    typer.echo(f"launch it with: manyi campaign launch {campaign_id}")


def _campaign(session, campaign_id: int):
    from survey.db.tables import Campaign

    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise fail(f"no campaign {campaign_id}; `manyi campaign list` shows them")
    return campaign


@campaign_app.command("launch")
def campaign_launch(campaign_id: Annotated[int, typer.Argument(help="Campaign id.")]) -> None:
    """Start a draft campaign: its invitations go to the outbox for `manyi dispatch`."""
    from sqlmodel import Session

    from survey.campaigns.launch import launch
    from survey.sms.reply_mode import ReplyModeError

    settings, engine = _database()
    with Session(engine) as session:
        campaign = _campaign(session, campaign_id)
        if campaign.status != "draft":
            raise fail(f"campaign {campaign_id} is {campaign.status}: only a draft is "
                        "launched (resume a paused one)")  # fmt: skip
        try:
            counts = launch(session, campaign, timezone=settings.timezone)
        except ReplyModeError as error:
            raise fail(str(error)) from None
    calls = counts["calls"]
    typer.echo(
        f"launched campaign {campaign_id}: {counts['queued'] + counts['questions']} messages "
        "queued, "
        + (f"{calls} customers in the outbound-call queue, " if calls else "")
        + f"{counts['opted_out']} opted out since the sample was drawn; "
        "`manyi dispatch` sends the messages"
    )


def _change(campaign_id: int, action: str) -> None:
    from sqlmodel import Session

    from survey.campaigns.lifecycle import CampaignError, change_status

    _, engine = _database()
    with Session(engine) as session:
        try:
            campaign = change_status(session, _campaign(session, campaign_id), action)
        except CampaignError as error:
            raise fail(str(error)) from None
    typer.echo(f"campaign {campaign_id} is {campaign.status}")


@campaign_app.command("pause")
def campaign_pause(campaign_id: Annotated[int, typer.Argument(help="Campaign id.")]) -> None:
    """Stop sending; queued messages wait until the campaign is resumed."""
    _change(campaign_id, "pause")


@campaign_app.command("resume")
def campaign_resume(campaign_id: Annotated[int, typer.Argument(help="Campaign id.")]) -> None:
    """Send again after a pause."""
    _change(campaign_id, "resume")


@campaign_app.command("close")
def campaign_close(campaign_id: Annotated[int, typer.Argument(help="Campaign id.")]) -> None:
    """End the campaign: messages not yet sent are skipped."""
    _change(campaign_id, "close")


@campaign_app.command("list")
def campaign_list() -> None:
    """Every campaign with its status and what happened to its messages."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from survey.db.tables import Campaign, Invitation, OutboundSms, QuestionnaireVersion

    _, engine = _database()
    with Session(engine) as session:
        campaigns = session.execute(
            select(Campaign, QuestionnaireVersion.form_id, QuestionnaireVersion.version)
            .join(QuestionnaireVersion).order_by(Campaign.id)
        ).all()  # fmt: skip
        invited = dict(session.execute(
            select(Invitation.campaign_id, func.count()).group_by(Invitation.campaign_id)
        ).all())  # fmt: skip
        outbox: dict[int, dict[str, int]] = {}
        for campaign_id, status, count in session.execute(
            select(OutboundSms.campaign_id, OutboundSms.status, func.count())
            .group_by(OutboundSms.campaign_id, OutboundSms.status)
        ):  # fmt: skip
            outbox.setdefault(campaign_id, {})[status] = count
    if not campaigns:
        typer.echo("no campaigns yet: `manyi campaign create --help` says how")
        return
    header = f"{'id':>4}  {'status':<8} {'invitations':>11} {'sent':>7} {'waiting':>7} "
    typer.echo(header + f"{'uncertain':>9} {'failed':>6}  name (questionnaire, channels, rate)")
    for campaign, form_id, version in campaigns:
        counts = outbox.get(campaign.id, {})
        waiting = sum(counts.get(s, 0) for s in ("pending", "claimed", "sending"))
        typer.echo(
            f"{campaign.id:>4}  {campaign.status:<8} {invited.get(campaign.id, 0):>11} "
            f"{counts.get('sent', 0):>7} {waiting:>7} {counts.get('uncertain', 0):>9} "
            f"{counts.get('failed', 0):>6}  {campaign.name} ({form_id}@{version}, "
            f"{','.join(campaign.channels)}, {campaign.rate_per_second:g}/s)"
        )


# -- dispatch ----------------------------------------------------------------------------


def dispatch(
    worker_id: Annotated[
        str | None, typer.Option(help="This worker's id (default: host-pid); reuse it on restart.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Send one batch, then stop.")] = False,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop when nothing is due or in flight.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Messages claimed at a time.")] = 20,
    lease_seconds: Annotated[
        float, typer.Option(min=1, help="A worker silent this long is presumed dead.")
    ] = 30.0,
) -> None:
    """Send the outbox: one worker; run several at once on PostgreSQL.

    SIGTERM or Ctrl+C stops it after the send in hand; the rest of its batch goes back to
    the queue. A second Ctrl+C stops at once (an interrupted send is then reconciled with
    the provider or reported as uncertain, never resent blindly).
    """
    from api.transports import make_transport, status_callback_url
    from survey.sms.dispatch import Dispatcher
    from survey.sms.transport import TransportConfigError

    if once and until_idle:
        raise fail("--once and --until-idle exclude each other")
    # Warnings from every library, but progress only from Manyi's own loggers.
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("manyi", "survey"):
        logging.getLogger(name).setLevel(logging.INFO)
    settings, engine = _database()
    worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
    stopping = threading.Event()

    def on_signal(signum: int, _frame) -> None:
        if stopping.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("%s received: finishing the send in hand", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    dispatcher = Dispatcher(
        engine=engine, transport=make_transport(settings, engine), worker_id=worker_id,
        secret=settings.secret_key.get_secret_value(),
        public_base_url=str(settings.public_base_url),
        status_callback_url=status_callback_url(settings), batch_size=batch_size,
        lease_seconds=lease_seconds,
        sleep=stopping.wait,  # a stop request cuts every wait short
    )  # fmt: skip
    log.info("dispatcher %s started (%s transport, %s)", worker_id, settings.sms_transport,
             engine.dialect.name)  # fmt: skip
    code = 0
    try:
        if dispatcher.resume_own_work(stop=stopping.is_set):
            if once:
                dispatcher.run_once()
            else:
                dispatcher.run(stop=stopping.is_set, until_idle=until_idle)
    except TransportConfigError as error:
        log.error("the SMS provider refused the account or sender: %s; fix the settings", error)
        code = 3
    finally:
        dispatcher.release()
        engine.dispose()
    stats = ", ".join(f"{name} {value}" for name, value in vars(dispatcher.stats).items())
    log.info("dispatcher %s stopped: %s", worker_id, stats)
    typer.echo(f"dispatcher {worker_id}: {stats}")
    if code:
        raise typer.Exit(code)

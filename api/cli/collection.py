"""Collection from the command line: ``manyi frame``, ``manyi campaign``, ``manyi dispatch``.

A campaign's sample is drawn when it is created, so it can be reviewed (``manyi campaign
list``) before anything is sent; ``launch`` writes the messages to the outbox and
``manyi dispatch`` workers send them. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer

from api.cli.support import ensure_current_schema, fail, settings_and_engine

frame_app = typer.Typer(help="Sample frames: import customers from CSV/XLSX.", no_args_is_help=True)
campaign_app = typer.Typer(
    help="Campaigns: create (draws the sample), launch, pause, resume, close, list.",
    no_args_is_help=True,
)

#: How the messages of survey.campaigns.plan name a request's fields here: by their options.
OPTION_NAMES = {
    "questionnaire": "--questionnaire", "frame": "--frame", "name": "--name",
    "channels": "--channels", "sample": "--sample", "stratify": "--stratify",
    "quota": "--quota", "seed": "--seed", "rate": "--rate", "quiet": "--quiet",
    "reminders": "--reminders", "reminder_delay": "--reminder-delay", "starts": "--starts",
    "expires": "--expires", "layout": "--layout", "message_zh": "--message-zh",
    "message_en": "--message-en",
    "publish_hint": "publish it with `manyi questionnaire publish FILE`",
    "import_hint": "import one with `manyi frame import FILE --name NAME`",
}  # fmt: skip
#: Frame columns a sample may be stratified by (as survey.campaigns.plan.STRATA).
STRATA = ("tier", "region", "service_hall", "language")
SHOWN_PROBLEMS = 20

log = logging.getLogger("manyi.dispatch")


def local_time(moment, timezone: str) -> str:
    """``moment`` on the wall clock of ``timezone``, to the minute."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


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


@frame_app.command("list")
def frame_list() -> None:
    """Every stored sample frame: customers, how many consented, how many opted out since."""
    from sqlmodel import Session

    from survey.frames.listing import frame_summaries

    settings, engine = _database()
    with Session(engine) as session:
        frames = frame_summaries(session)
    if not frames:
        typer.echo("no sample frames yet: `manyi frame import --help` says how")
        return
    typer.echo(f"{'customers':>9} {'consented':>9} {'opted out':>9}  {'imported at':<16}  "
               "name (source)")  # fmt: skip
    for f in frames:
        when = local_time(f.frame.imported_at, settings.timezone)
        typer.echo(f"{f.customers:>9} {f.consented:>9} {f.opted_out:>9}  {when:<16}  "
                   f"{f.frame.name} ({f.frame.source})")  # fmt: skip


# -- campaigns ---------------------------------------------------------------------------


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
    from sqlmodel import Session

    from survey.campaigns.plan import CampaignRequest, PlanRefused, create_from_frame

    request = CampaignRequest(
        questionnaire=questionnaire, frame=frame, name=name,
        channels=[c.strip() for c in channels.split(",") if c.strip()], sample=sample,
        stratify=stratify, quotas=list(quota or []), seed=seed, rate=rate, quiet=quiet,
        reminders=reminders, reminder_delay=reminder_delay, starts=starts, expires=expires,
        layout=layout, message_zh=message_zh, message_en=message_en,
    )  # fmt: skip
    settings, engine = _database()
    with Session(engine) as session:
        try:
            made = create_from_frame(
                session, request, secret=settings.secret_key.get_secret_value(),
                public_base_url=str(settings.public_base_url), timezone=settings.timezone,
                names=OPTION_NAMES, via="cli",
            )  # fmt: skip
        except PlanRefused as error:
            for problem in error.problems[:-1]:
                typer.echo(f"error: {problem.message}", err=True)
            raise fail(error.problems[-1].message) from None
        campaign_id = made.campaign.id
    typer.echo(
        f"created campaign {campaign_id} {name!r} (draft) on {made.form}: {made.drawn} customers "
        f"drawn (seed {made.design.seed}) from frame {frame!r}, "
        f"{made.eligible} of {made.customers} eligible "
        f"({made.no_consent} without consent, {made.opted_out} opted out)"
    )
    for key, have, want in made.shortfalls:
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
        + f"{counts['opted_out']} opted out since the sample was drawn, "
        f"{counts['frequency_capped']} not sent by the contact-frequency rules (surveyed "
        "elsewhere too recently); "
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
    """Every campaign with its status, what happened to its messages, and its completes."""
    from sqlmodel import Session

    from survey.campaigns.monitor import campaign_summaries

    _, engine = _database()
    with Session(engine) as session:
        summaries = campaign_summaries(session)
    if not summaries:
        typer.echo("no campaigns yet: `manyi campaign create --help` says how")
        return
    header = f"{'id':>4}  {'status':<8} {'invitations':>11} {'sent':>7} {'waiting':>7} "
    typer.echo(header + f"{'uncertain':>9} {'failed':>6} {'completes':>9}  "
               "name (questionnaire, channels, rate)")  # fmt: skip
    for s in summaries:
        campaign = s.campaign
        typer.echo(
            f"{campaign.id:>4}  {campaign.status:<8} {s.invited:>11} {s.sent:>7} {s.waiting:>7} "
            f"{s.outbox.get('uncertain', 0):>9} {s.outbox.get('failed', 0):>6} "
            f"{s.completes:>9}  {campaign.name} ({s.form}, {','.join(campaign.channels)}, "
            f"{campaign.rate_per_second:g}/s)"
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
    in_flight: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Messages with the provider at once, at most (default 100: 400 msg/s with "
            "a provider answering in up to about 240 ms); 1 sends one at a time.",
        ),
    ] = None,
) -> None:
    """Send the outbox at each campaign's rate: one worker; run several at once.

    SIGTERM or Ctrl+C stops it after the sends in flight; the rest of its rows go back to
    the queue. A second Ctrl+C stops at once (an interrupted send is then reconciled with
    the provider or reported as uncertain, never resent blindly).
    """
    from api.transports import make_transport, status_callback_url
    from survey.sms.dispatch import IN_FLIGHT, Dispatcher
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
        log.info("%s received: finishing the sends in flight", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    dispatcher = Dispatcher(
        engine=engine, transport=make_transport(settings, engine), worker_id=worker_id,
        secret=settings.secret_key.get_secret_value(),
        public_base_url=str(settings.public_base_url),
        status_callback_url=status_callback_url(settings), batch_size=batch_size,
        lease_seconds=lease_seconds, in_flight=in_flight or IN_FLIGHT,
        sleep=stopping.wait,  # a stop request cuts every wait short
    )  # fmt: skip
    log.info("dispatcher %s started (%s transport, %s, %s in flight)", worker_id,
             settings.sms_transport, engine.dialect.name, dispatcher.in_flight)  # fmt: skip
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

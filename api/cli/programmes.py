"""``manyi programme`` (create, pause, resume, list), ``manyi contacts import`` and ``consume``.

Registered in :mod:`api.cli.main` as the ``programme`` and ``contacts`` groups.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from api.cli.support import fail, settings_and_engine

programme_app = typer.Typer(help="Standing programmes fed by contact events.",
                            no_args_is_help=True)  # fmt: skip
contacts_app = typer.Typer(help="Contact events: the daily contact log, a RabbitMQ queue.",
                           no_args_is_help=True)  # fmt: skip
SHOWN_ROWS = 20


@programme_app.command("create")
def programme_create(
    name: Annotated[str, typer.Option(help="The programme's name, e.g. hotline.")],
    questionnaire: Annotated[str, typer.Option(help="FORM@VERSION, e.g. contact_eval@2026.1")],
    mode: Annotated[str, typer.Option(help="sms_reply (digits) or sms_link (the web form).")],
    channels: Annotated[str, typer.Option(help="Contact channels, e.g. hotline,hall.")],
    sample_rate: Annotated[float, typer.Option(help="Share of contacts surveyed, 0-1.")],
    queue_rate: Annotated[list[str] | None, typer.Option(help="QUEUE=RATE, repeatable.")] = None,
    channel_rate: Annotated[
        list[str] | None, typer.Option(help="CHANNEL=RATE, repeatable.")
    ] = None,
    min_per_agent: Annotated[int, typer.Option(help="Invitations per agent per month.")] = 0,
    delay_minutes: Annotated[int, typer.Option(help="Minutes after the contact.")] = 5,
    reply_window_hours: Annotated[int, typer.Option(help="Older contacts are refused.")] = 24,
    quiet: Annotated[str, typer.Option(help="Quiet hours START-END.")] = "21:00-08:00",
    rate: Annotated[float, typer.Option(help="Messages per second.")] = 10.0,
) -> None:
    """Create a programme, running at once (its campaign and frame with it)."""
    from sqlmodel import Session

    from survey.errors import SurveyError
    from survey.programmes.manage import create_programme, parse_rates
    from survey.questionnaire.publish import find_reference

    _, engine = settings_and_engine()
    quiet_start, _, quiet_end = quiet.partition("-")
    with Session(engine) as session:
        version = find_reference(session, questionnaire)
        if version is None:
            raise fail(f"no published questionnaire version {questionnaire!r} (FORM@VERSION)")
        try:
            programme = create_programme(
                session, version, name, mode=mode, channels=channels.split(","),
                sample_rate=sample_rate, queue_rates=parse_rates(queue_rate or [], "queue"),
                channel_rates=parse_rates(channel_rate or [], "channel"),
                min_per_agent=min_per_agent,
                delay_minutes=delay_minutes, reply_window_hours=reply_window_hours,
                quiet_start=quiet_start, quiet_end=quiet_end, rate_per_second=rate,
            )  # fmt: skip
        except (SurveyError, ValueError) as error:
            raise fail(str(error)) from None
    typer.echo(f"programme {programme.name} created, running (campaign {programme.campaign_id})")


def _change(name: str, action: str) -> None:
    from sqlmodel import Session

    from survey.errors import SurveyError
    from survey.programmes.manage import change_state, find_programme

    _, engine = settings_and_engine()
    with Session(engine) as session:
        try:
            programme = change_state(session, find_programme(session, name), action)
        except SurveyError as error:
            raise fail(str(error)) from None
    typer.echo(f"programme {programme.name} {programme.state}")


@programme_app.command("pause")
def programme_pause(name: Annotated[str, typer.Argument(help="The programme.")]) -> None:
    """Pause: new events are refused; messages already queued still go out."""
    _change(name, "pause")


@programme_app.command("resume")
def programme_resume(name: Annotated[str, typer.Argument(help="The programme.")]) -> None:
    """Resume a paused programme."""
    _change(name, "resume")


@programme_app.command("list")
def programme_list() -> None:
    """Every programme: state, mode, channels, rates."""
    from sqlmodel import Session

    from survey.programmes.manage import list_programmes

    _, engine = settings_and_engine()
    with Session(engine) as session:
        programmes = list_programmes(session)
    if not programmes:
        typer.echo("no programmes yet: `manyi programme create --help` says how")
        return
    for p in programmes:
        rates = ", ".join(f"{k}={v:g}" for k, v in {**p.channel_rates, **p.queue_rates}.items())
        typer.echo(f"{p.name}: {p.state}, {p.mode}, channels {','.join(p.channels)}, rate "
                   f"{p.default_rate:g}{f' ({rates})' if rates else ''}, delay "
                   f"{p.delay_minutes} min, window {p.reply_window_hours} h")  # fmt: skip


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="The contact log: .csv (UTF-8) or .parquet.")],
    programme: Annotated[str, typer.Option(help="The programme the contacts go to.")],
    report: Annotated[Path | None, typer.Option(help="Write every row's decision here.")] = None,
) -> None:
    """Decide every contact of the file once (the API's decisions); a per-row report.

    Columns: contact_id, phone, channel, ended_at (ISO 8601 with offset), agent_id, team,
    queue, region, service_hall; any other column is kept as an attribute. Exits 2 when the
    file cannot be read or the programme cannot take events.
    """
    from survey.errors import SurveyError
    from survey.programmes.files import import_contacts, write_report

    settings, engine = settings_and_engine()
    try:
        result = import_contacts(engine, file, programme,
                                 secret=settings.secret_key.get_secret_value(),
                                 timezone=settings.timezone)  # fmt: skip
    except SurveyError as error:
        raise fail(str(error), 2) from None
    if report is not None:
        write_report(result, report)
    shown = [r for r in result.rows if r.decision == "invalid"][:SHOWN_ROWS]
    for r in shown:
        typer.echo(f"row {r.row} ({r.contact_id or 'no id'}): {r.decision}: {r.reason}")
    counts = ", ".join(f"{n} {d}" for d, n in sorted(result.counts.items()))
    typer.echo(f"{len(result.rows)} contacts: {counts or 'none'}")


@contacts_app.command("consume")
def contacts_consume(
    programme: Annotated[str, typer.Option(help="The programme the contacts go to.")],
    queue: Annotated[
        str,
        typer.Option(
            help="The queue (declared durable, with QUEUE.dead for the messages refused)."
        ),
    ] = "manyi.contacts",
    prefetch: Annotated[
        int,
        typer.Option(min=1, max=1000, help="Messages decided a batch (unacknowledged at once)."),
    ] = 500,
) -> None:
    """Decide the contact events of a RabbitMQ queue (MANYI_AMQP_URL), until stopped.

    One message is one event, a JSON object of the API's contact fields. A message is
    acknowledged once its decision is committed; a redelivered one changes nothing. A message
    that is not such an object, or an event decided invalid, goes to the queue QUEUE.dead and
    is logged with why. SIGTERM or Ctrl+C finishes the batch in hand and stops; RabbitMQ going
    away is waited out (reconnection with backoff). Exits 2 when the programme cannot take
    events or the queue exists with other arguments.
    """
    from sqlalchemy.exc import OperationalError

    from survey.errors import SurveyError
    from survey.programmes.consumer import ConsumerError, ContactConsumer

    # Warnings from every library (pika's are warnings), progress from Manyi's own loggers.
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("survey").setLevel(logging.INFO)
    settings, engine = settings_and_engine()
    stopping = threading.Event()

    def on_signal(signum: int, _frame) -> None:
        if stopping.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        typer.echo(f"{signal.Signals(signum).name}: finishing the batch in hand", err=True)
        stopping.set()

    url = settings.amqp_url.get_secret_value()
    try:
        consumer = ContactConsumer(
            engine, programme, url=url, queue=queue, prefetch=prefetch,
            secret=settings.secret_key.get_secret_value(), timezone=settings.timezone,
            stop=stopping.is_set, sleep=stopping.wait,
        )  # fmt: skip
        try:
            consumer.check()
        except OperationalError as error:  # no schema, or the database is unreachable
            raise fail(f"cannot read programme {programme}: {str(error.orig).splitlines()[0]} "
                       "(is the database migrated? `manyi db upgrade`)", 2) from None  # fmt: skip
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        stats = consumer.run()
    except (SurveyError, ConsumerError, ValueError) as error:
        raise fail(str(error), 2) from None
    finally:
        engine.dispose()
    typer.echo(f"consumer of {queue} stopped: {stats.summary()}")

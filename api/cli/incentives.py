"""``manyi incentives``: a programme's loyalty points and lottery (set, credit, draw, export).

Registered in :mod:`api.cli.main` as the ``incentives`` group. The command line runs as the
operator, who has the database: the export and the draw show customers' phone numbers, which
on the web only ``view_phone_numbers`` may see. Both are audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.support import fail, settings_and_engine

incentives_app = typer.Typer(help="A programme's loyalty points and lottery.",
                             no_args_is_help=True)  # fmt: skip
ProgrammeName = Annotated[str, typer.Option("--programme", help="The programme, e.g. hotline.")]


def _run(action):
    """``action(session, settings)`` in a session; a refusal exits 1 with words."""
    from sqlmodel import Session

    from survey.errors import SurveyError

    settings, engine = settings_and_engine()
    try:
        with Session(engine) as session:
            try:
                return action(session, settings)
            except SurveyError as error:
                raise fail(str(error)) from None
    finally:
        engine.dispose()


def _programme(session, name):
    from survey.programmes.manage import find_programme

    return find_programme(session, name)


@incentives_app.command("set")
def incentives_set(
    programme: ProgrammeName,
    per_question: Annotated[int, typer.Option(min=0, help="Points per answered question.")] = 0,
    per_survey: Annotated[int, typer.Option(min=0, help="Points per completed survey.")] = 0,
    monthly_cap: Annotated[
        int | None, typer.Option(min=1, help="Points per customer per month, at most.")
    ] = None,
    lottery: Annotated[
        bool, typer.Option("--lottery/--no-lottery", help="A monthly lottery among completers.")
    ] = False,
) -> None:
    """Set a programme's incentives (credits already given are kept)."""
    from survey.programmes.incentives import set_rule

    def action(session, _settings):
        return set_rule(
            session,
            _programme(session, programme),
            per_question=per_question,
            per_survey=per_survey,
            monthly_cap=monthly_cap,
            lottery=lottery,
        )

    rule = _run(action)
    cap = f"at most {rule.monthly_cap} a month" if rule.monthly_cap else "no monthly cap"
    typer.echo(f"programme {programme}: {rule.points_per_question} points per answered "
               f"question, {rule.points_per_survey} per completed survey, {cap}, "
               f"{'a' if rule.lottery else 'no'} lottery")  # fmt: skip


@incentives_app.command("credit")
def incentives_credit(programme: ProgrammeName) -> None:
    """Credit every completed response not credited yet (running it again credits nothing)."""
    from survey.programmes.incentives import credit

    run = _run(lambda s, settings: credit(s, _programme(s, programme),
                                          timezone=settings.timezone))  # fmt: skip
    typer.echo(f"programme {programme}: {run.summary()}")


@incentives_app.command("draw")
def incentives_draw(
    programme: ProgrammeName,
    period: Annotated[str, typer.Option(help="The month, YYYY-MM (the service's time zone).")],
    winners: Annotated[int, typer.Option(min=1, help="How many winners.")],
    seed: Annotated[int, typer.Option(min=0, help="The seed: the same draws the same.")],
) -> None:
    """Draw the month's lottery among the customers who completed, once (audited)."""
    from survey.programmes.incentives import draw

    row = _run(lambda s, settings: draw(s, _programme(s, programme), period, winners, seed,
                                        timezone=settings.timezone))  # fmt: skip
    typer.echo(f"lottery {row.id} of {programme} for {period}: {len(row.winners)} winners among "
               f"{row.entrants_count} entrants (seed {row.seed}, entrants SHA-256 "
               f"{row.entrants_sha256})")  # fmt: skip
    for n, phone in enumerate(row.winners, 1):
        typer.echo(f"{n}. {phone}")


@incentives_app.command("export")
def incentives_export(
    programme: ProgrammeName,
    out: Annotated[Path, typer.Option(help="The CSV file for the loyalty system.")],
    again: Annotated[
        int | None, typer.Option(help="Write the past batch with this id again.")
    ] = None,
) -> None:
    """Write the credits not exported yet (a new batch, marked exported) for the loyalty system."""
    from survey.programmes.incentives import export_credits

    batch = _run(lambda s, _settings: export_credits(s, _programme(s, programme), out,
                                                     again=again))  # fmt: skip
    if batch is None:
        typer.echo(f"programme {programme}: no credits to export (no file written)")
        return
    typer.echo(f"batch {batch.id}{' again' if again is not None else ''}: {batch.credits} "
               f"credits, {batch.points} points, written to {out}")  # fmt: skip

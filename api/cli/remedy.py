"""``manyi remedy``: train the "potentially dissatisfied" classifier, and the weekly report.

``train`` builds the training table from a responses table and its sample frame
(:mod:`survey.remedy.classifier`), fits and validates the classifier
(:func:`models.classifier.fit_classifier`), prints the validation AUC with its DeLong
interval and whether the score will be used, and stores the model's parameters as the
questionnaire version's active one (:func:`survey.remedy.classifier.store_model`, unless
``--no-store``). ``report`` prints the week's follow-ups: opened, closed within the SLA,
resolution rate, breaches.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from api.cli.support import fail, no_schema, settings_and_engine

remedy_app = typer.Typer(
    help="Service remedy: the dissatisfaction classifier and the weekly follow-up report.",
    no_args_is_help=True,
)


def _read_csv(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path, dtype={"customer_id": str})
    except FileNotFoundError:
        raise fail(f"{path}: no such file", 2) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise fail(f"{path}: cannot be read as CSV: {error}", 2) from None


def _published_version(engine, questionnaire):
    """The questionnaire's published version row, checked before a long training."""
    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlmodel import Session

    from survey.questionnaire.publish import find_version

    try:
        with Session(engine) as session:
            version = find_version(session, questionnaire.form_id, questionnaire.version)
    except (OperationalError, ProgrammingError):
        raise no_schema(engine, ", or pass --no-store") from None
    if version is None:
        raise fail(
            f"{questionnaire.form_id} version {questionnaire.version} is not published: "
            "run `manyi questionnaire publish FILE` first, or pass --no-store"
        )
    if version.content_hash != questionnaire.content_hash:
        raise fail(
            f"the file differs from the published {questionnaire.form_id} "
            f"{questionnaire.version}: train on the published version"
        )
    return version


@remedy_app.command("train")
def train(
    questionnaire_file: Annotated[
        Path, typer.Argument(metavar="QUESTIONNAIRE", help="The questionnaire (.yaml/.xlsx).")
    ],
    responses_file: Annotated[
        Path, typer.Argument(metavar="RESPONSES_CSV", help="Past responses, one row each.")
    ],
    frame_file: Annotated[
        Path, typer.Argument(metavar="FRAME_CSV", help="The sample frame they were drawn from.")
    ],
    target: Annotated[str, typer.Option(help="The overall-satisfaction item.")] = "sat_overall",
    dissatisfied_at_most: Annotated[
        float, typer.Option(help="Dissatisfied: a target score of at most this.")
    ] = 2.0,
    seed: Annotated[int, typer.Option(help="Seed of the validation split and folds.")] = 0,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Store the model in the database.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train and validate the classifier; exits 0 even when it is too weak to be used."""
    from sqlmodel import Session

    from models.classifier import fit_classifier
    from survey.questionnaire import QuestionnaireError, load_questionnaire
    from survey.remedy.classifier import CATEGORICAL_ATTRIBUTES, store_model, training_table

    try:
        questionnaire, _ = load_questionnaire(questionnaire_file)
    except (FileNotFoundError, QuestionnaireError) as error:
        raise fail(str(error), 2) from None
    if target not in questionnaire.item_names:
        raise fail(f"--target {target!r} is not an item of {questionnaire.form_id}", 2)
    engine = version = None
    if store:
        _, engine = settings_and_engine()
        version = _published_version(engine, questionnaire)
    responses, frame = _read_csv(responses_file), _read_csv(frame_file)
    try:
        features, y = training_table(
            questionnaire,
            responses,
            frame,
            target=target,
            dissatisfied_at_most=dissatisfied_at_most,
        )
    except ValueError as error:
        raise fail(str(error), 2) from None
    try:
        fitted = fit_classifier(features, y, categorical=CATEGORICAL_ATTRIBUTES, random_state=seed)
    except ValueError as error:
        dissatisfied = f"1: dissatisfied, {target} <= {dissatisfied_at_most:g}"
        raise fail(f"{error} ({dissatisfied})", 2) from None
    result = {
        "form_id": questionnaire.form_id,
        "version": questionnaire.version,
        "target": target,
        "dissatisfied_at_most": dissatisfied_at_most,
        **fitted.to_dict(),
        "model_id": None,
    }
    if store:
        with Session(engine) as session:
            row = store_model(
                session,
                version.id,
                fitted.parameters(),
                questionnaire=questionnaire,
                target=target,
                dissatisfied_at_most=dissatisfied_at_most,
            )
            result["model_id"] = row.id
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(_describe(result))


def _describe(result: dict) -> str:
    at = result["at_threshold"]
    lines = [
        f"remedy classifier for {result['form_id']} {result['version']} "
        f"(dissatisfied: {result['target']} <= {result['dissatisfied_at_most']:g})",
        f"  validation AUC {result['auc']:.3f} ({result['ci_level']:.0%} CI "
        f"{result['auc_ci_low']:.3f}-{result['auc_ci_high']:.3f}, DeLong); "
        f"n train {result['n_train']}, n validation {result['n_validation']}",
    ]
    if result["usable"]:
        lines.append(
            f"  usable (minimum AUC {result['min_auc']}); threshold "
            f"{result['threshold']:.3f}: on validation precision {at['precision']:.0%}, "
            f"recall {at['recall']:.0%}, {at['flagged_share']:.0%} flagged"
        )
    else:
        lines.append(f"  NOT usable, its score will be ignored: {result['reason']}")
    if result["model_id"] is not None:
        lines.append(f"  stored as remedy model {result['model_id']} (active)")
    return "\n".join(lines)


@remedy_app.command("report")
def report(
    week: Annotated[
        str | None,
        typer.Option(
            help="A day (YYYY-MM-DD) of the week to report, Monday to Sunday; default this week."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Follow-ups of one week: opened, closed within the SLA, resolution rate, breaches."""
    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlmodel import Session

    from survey.remedy.report import weekly_report

    settings, engine = settings_and_engine()
    if week is None:
        day = datetime.now(ZoneInfo(settings.timezone)).date()
    else:
        try:
            day = date.fromisoformat(week)
        except ValueError:
            raise fail(f"--week {week!r}: give a date as YYYY-MM-DD", 2) from None
    monday = day - timedelta(days=day.weekday())
    try:
        with Session(engine) as session:
            result = weekly_report(session, monday, settings.timezone)
    except (OperationalError, ProgrammingError):
        raise no_schema(engine) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(result.summary())


@remedy_app.command("resurvey")
def resurvey(
    follow_up_id: Annotated[
        int, typer.Argument(metavar="FOLLOW_UP_ID", help="A follow-up closed as (not) resolved.")
    ],
    campaign: Annotated[
        int,
        typer.Option(
            "--campaign",
            metavar="ID",
            help="A running sms_reply campaign, e.g. the hotline evaluation.",
        ),
    ],
) -> None:
    """Send the short re-survey to a follow-up's customer: the campaign's first question.

    Sent once: repeating the command says it was sent already. Exits 2 when it cannot be
    sent (open follow-up, unreachable customer, opt-out, wrong or stopped campaign).
    """
    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlmodel import Session

    from survey.campaigns.resurvey import ResurveyError, send_resurvey
    from survey.db.tables import utcnow

    settings, engine = settings_and_engine()
    try:
        with Session(engine) as session:
            done = send_resurvey(
                session,
                follow_up_id,
                campaign,
                secret=settings.secret_key.get_secret_value(),
                public_base_url=str(settings.public_base_url),
                timezone=settings.timezone,
                now=utcnow(),
            )
    except ResurveyError as error:
        raise fail(str(error), 2) from None
    except (OperationalError, ProgrammingError):
        raise no_schema(engine) from None
    finally:
        engine.dispose()
    if done.sent_now:
        typer.echo(
            f"follow-up {follow_up_id}: re-survey queued (invitation {done.invitation_id}); "
            "`manyi dispatch` sends it"
        )
    else:
        typer.echo(
            f"follow-up {follow_up_id}: the re-survey was sent already "
            f"(invitation {done.invitation_id}); nothing sent"
        )

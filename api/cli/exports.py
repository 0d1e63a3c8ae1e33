"""``manyi export responses FORM@VERSION --format ... --out FILE``: responses with a codebook.

The same export as ``GET /api/v1/exports/responses``, for operators on the server (who can
read the database anyway, so the command has no role): phone numbers are a keyed hash unless
``--with-phone`` is given, and every run is audited, ``--with-phone`` also as an access to
personal data. The file is written as the download is (:mod:`survey.spreadsheets`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.support import fail, settings_and_engine

export_app = typer.Typer(help="Exports of responses for analysts.", no_args_is_help=True)
_VIA = {"via": "manyi export"}


@export_app.command("responses")
def export_responses_command(
    version: Annotated[str, typer.Argument(help="The questionnaire version, FORM@VERSION.")],
    out: Annotated[Path, typer.Option(help="The file to write (CSV: also NAME.codebook.csv).")],
    format: Annotated[
        str | None,
        typer.Option(help="csv, xlsx, sav or parquet (default: from the --out suffix)."),
    ] = None,
    campaign: Annotated[int | None, typer.Option(help="Only this campaign's responses.")] = None,
    with_phone: Annotated[
        bool, typer.Option("--with-phone", help="Include phone numbers (audited).")
    ] = False,
) -> None:
    """Write the completed responses of one questionnaire version and their codebook."""
    from sqlmodel import Session

    from survey.db.tables import Campaign
    from survey.exports.files import FORMATS, write_export
    from survey.exports.responses import export_responses, phone_key
    from survey.questionnaire.publish import find_version, split_version
    from survey.staff import audit

    fmt = (format or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise fail(f"--format {fmt or '(none)'}: use one of {', '.join(FORMATS)}")
    try:
        form_id, number = split_version(version)
    except ValueError as error:
        raise fail(str(error)) from None
    settings, engine = settings_and_engine()
    with Session(engine) as session:
        row = find_version(session, form_id, number)
        if row is None:
            raise fail(f"no published questionnaire version {form_id}@{number}")
        if campaign is not None:
            found = session.get(Campaign, campaign)
            if found is None or found.questionnaire_version_id != row.id:
                raise fail(f"no campaign {campaign} of {form_id}@{number}")
        export = export_responses(
            session,
            row,
            campaign_id=campaign,
            include_phone=with_phone,
            phone_key=None if with_phone else phone_key(settings.secret_key.get_secret_value()),
        )
        target = f"responses:{form_id}@{number}"
        if with_phone:
            # Recorded before the file exists: the access happened even if writing fails.
            audit.audit(session, None, audit.PERSONAL_DATA_ACCESS, target,
                        {**_VIA, "what": "phone numbers", "rows": len(export.data)})  # fmt: skip
        written = write_export(export, fmt, out)
        audit.audit(session, None, audit.EXPORT, target,
                    {**_VIA, "format": fmt, "rows": len(export.data), "campaign": campaign,
                     "phone": export.phone, "file": str(out)})  # fmt: skip
    typer.echo(f"wrote {len(export.data)} responses to {', '.join(map(str, written))}")

"""Response exports: ``GET /api/v1/exports/responses``.

``?version=FORM@VERSION&format=csv|xlsx|sav|parquet[&campaign=ID]`` downloads the completed
responses of one questionnaire version with their codebook (CSV: a ZIP of the data and the
codebook). Needs ``export_responses`` (a session or an API key); a regional manager gets only
their regions' and service halls' responses. Phone numbers are in the file only for a role that
may also see them (``view_phone_numbers``, which no exporting role has today); everyone else
gets a keyed hash, so that two exports can be linked by customer. Every export is audited.

Files are safe to open (:mod:`survey.spreadsheets`): in CSV and XLSX a text cell that a
spreadsheet would run as a formula starts with ``'``, and a character a format cannot hold
(a NUL, most control characters in XLSX) is U+FFFD; the codebook counts both per column.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from api.permissions import Permission, allowed
from api.web.auth import client_ip, require_permission
from api.web.deps import SessionDep, SettingsDep
from api.web.errors import error_responses
from api.web.strict_query import KnownQueryOnly
from survey.db.tables import Campaign, QuestionnaireVersion, Staff
from survey.exports.files import MEDIA_TYPES, export_bytes
from survey.exports.responses import export_responses, phone_key
from survey.questionnaire.publish import VERSION_REFERENCE, find_version, split_version
from survey.staff import audit

router = APIRouter(prefix="/api/v1/exports", tags=["exports"], dependencies=[KnownQueryOnly])

Exporter = Annotated[Staff, Depends(require_permission(Permission.EXPORT_RESPONSES))]
Format = Literal["csv", "xlsx", "sav", "parquet"]
#: The largest row id: SQLite's INTEGER; a larger number would overflow the driver (a 500).
MAX_ID = 2**63 - 1
BINARY = {"type": "string", "format": "binary"}


def export_version(
    session: SessionDep,
    version: Annotated[
        str,
        # The pattern is documented here and checked by split_version, whose 422 says how to
        # write a version rather than quoting the regular expression.
        Query(
            max_length=200,
            description="The questionnaire version, as FORM@VERSION",
            examples=["csi_mobile@2026.1"],
            json_schema_extra={"pattern": VERSION_REFERENCE},
        ),
    ],
) -> QuestionnaireVersion:
    try:
        form_id, number = split_version(version)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    row = find_version(session, form_id, number)
    if row is None:
        raise HTTPException(404, f"no published questionnaire version {form_id}@{number}")
    return row


ExportVersion = Annotated[QuestionnaireVersion, Depends(export_version)]


@router.get(
    "/responses",
    response_class=Response,
    summary="Download the responses of one questionnaire version",
    responses={
        200: {
            "description": "The export file, as an attachment (CSV: a ZIP of the data and the "
            "codebook)",
            "content": {media_type: {"schema": BINARY} for media_type in MEDIA_TYPES.values()},
        },
        **error_responses(
            *(401, 403, 404, 422),
            _403="The role lacks `export_responses`",
            _404="Unknown questionnaire version or campaign",
            _422="Malformed version (not FORM@VERSION), unknown format or invalid campaign",
        ),
    },
)
def export_responses_file(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: Exporter,
    row: ExportVersion,
    format: Annotated[Format, Query(description="The file format", examples=["parquet"])] = "csv",
    campaign: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only this campaign's responses", examples=[1]),
    ] = None,
) -> Response:
    """Completed responses of one questionnaire version, with the codebook.

    A regional manager gets only their regions' and service halls' responses; phone numbers
    are a keyed hash (equal across exports) unless the role may see them. In CSV and XLSX, text
    that would start a formula (`=`, `+`, `-`, `@`, tab, CR, full-width ＝＋－＠) is prefixed
    with `'`; characters a format cannot hold become U+FFFD. The codebook (SPSS: the file's
    documents) counts both per column. Audited.
    """
    if campaign is not None:
        found = session.get(Campaign, campaign)
        if found is None or found.questionnaire_version_id != row.id:
            raise HTTPException(404, f"no campaign {campaign} of {row.form_id}@{row.version}")
    with_phone = allowed(staff.role, Permission.VIEW_PHONE_NUMBERS)
    export = export_responses(
        session,
        row,
        campaign_id=campaign,
        staff=staff,
        include_phone=with_phone,
        phone_key=None if with_phone else phone_key(settings.secret_key.get_secret_value()),
    )
    content, filename = export_bytes(export, format)
    detail = {"format": format, "rows": len(export.data), "campaign": campaign,
              "phone": export.phone}  # fmt: skip
    audit.audit(session, staff, audit.EXPORT, f"responses:{row.form_id}@{row.version}", detail,
                client_ip(request))  # fmt: skip
    headers = {"Content-Disposition": f'attachment; filename="{filename}"',
               "Cache-Control": "no-store"}  # fmt: skip
    return Response(content, media_type=MEDIA_TYPES[format], headers=headers)

"""Response exports: ``GET /api/v1/exports/responses``.

``?version=FORM@VERSION&format=csv|xlsx|sav|parquet[&campaign=ID]`` downloads the completed
responses of one questionnaire version with their codebook (CSV: a ZIP of the data and the
codebook). Needs ``export_responses`` (a session or an API key); a regional manager gets only
their regions' and service halls' responses. Phone numbers are in the file only for a role that
may also see them (``view_phone_numbers``, which no exporting role has today); everyone else
gets a keyed hash, so that two exports can be linked by customer. Every export is audited.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from survey import audit
from survey.export_files import MEDIA_TYPES, export_bytes
from survey.exports import export_responses
from survey.publish import find_version
from survey.tables import Campaign, QuestionnaireVersion, Staff

from ..auth import client_ip, require_permission
from ..deps import SessionDep, SettingsDep
from ..permissions import Permission, allowed
from ..settings import Settings

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

Exporter = Annotated[Staff, Depends(require_permission(Permission.EXPORT_RESPONSES))]
Format = Literal["csv", "xlsx", "sav", "parquet"]


def phone_key(settings: Settings) -> bytes:
    """The key of exports' phone hashes, derived from the service secret for this one use.

    One key for every export (so that hashes link across exports and formats); a different
    purpose string from cookies' and CSRF's, so a hash never doubles as a signature.
    """
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"manyi:export:phone-hash", hashlib.sha256).digest()


def split_version(reference: str) -> tuple[str, str]:
    """``"csi_mobile@2026.1"`` as ``("csi_mobile", "2026.1")``; ValueError otherwise."""
    form_id, at, version = reference.partition("@")
    if not at or not form_id or not version:
        raise ValueError(f"{reference!r}: name the version as FORM@VERSION, e.g. csi_mobile@2026.1")
    return form_id, version


def export_version(
    session: SessionDep,
    version: Annotated[str, Query(description="FORM@VERSION", examples=["csi_mobile@2026.1"])],
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
    responses={
        200: {"description": "The export file", "content": {t: {} for t in MEDIA_TYPES.values()}},
        404: {"description": "Unknown questionnaire version or campaign"},
    },
)
def export_responses_file(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: Exporter,
    row: ExportVersion,
    format: Annotated[Format, Query()] = "csv",
    campaign: Annotated[int | None, Query(description="Only this campaign's responses")] = None,
) -> Response:
    """Completed responses of one questionnaire version, with the codebook."""
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
        phone_key=None if with_phone else phone_key(settings),
    )
    content, filename = export_bytes(export, format)
    detail = {"format": format, "rows": len(export.data), "campaign": campaign,
              "phone": export.phone}  # fmt: skip
    audit.audit(session, staff, audit.EXPORT, f"responses:{row.form_id}@{row.version}", detail,
                client_ip(request))  # fmt: skip
    headers = {"Content-Disposition": f'attachment; filename="{filename}"',
               "Cache-Control": "no-store"}  # fmt: skip
    return Response(content, media_type=MEDIA_TYPES[format], headers=headers)

"""Publishing questionnaire versions: once published, a version never changes.

A version is named ``FORM@VERSION`` (``csi_mobile@2026.1``) by the API, the command line and
analysis requests: :data:`VERSION_REFERENCE` and :func:`split_version` are the one reading of
that name, :func:`find_reference` the one lookup by it.
"""

from __future__ import annotations

import re

from sqlmodel import Session, select

from survey.db.tables import QuestionnaireVersion
from survey.errors import Conflict, InvalidRequest
from survey.questionnaire import Questionnaire, questionnaire_from_document


class VersionConflict(Conflict):
    """The (form_id, version) is already published with different content."""


def publish(session: Session, questionnaire: Questionnaire) -> QuestionnaireVersion:
    """Store ``questionnaire`` as a published version and return its row.

    Publishing the same content again returns the existing row (idempotent); publishing
    different content under an existing ``(form_id, version)`` raises
    :class:`VersionConflict`, because answers already point at that version.
    """
    existing = session.exec(
        select(QuestionnaireVersion).where(
            QuestionnaireVersion.form_id == questionnaire.form_id,
            QuestionnaireVersion.version == questionnaire.version,
        )
    ).first()
    if existing is not None:
        if existing.content_hash == questionnaire.content_hash:
            return existing
        raise VersionConflict(
            f"{questionnaire.form_id} version {questionnaire.version} is already published "
            "with different content; published versions are immutable: give the changed "
            "questionnaire a new version"
        )
    row = QuestionnaireVersion(
        form_id=questionnaire.form_id,
        version=questionnaire.version,
        title=questionnaire.title.get(questionnaire.default_language, questionnaire.form_id),
        content_hash=questionnaire.content_hash,
        document=dict(questionnaire.document),
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


#: FORM@VERSION: a form id is an identifier; a version is text without control characters
#: (none is ever published, and PostgreSQL refuses NUL in text). Written with explicit
#: ranges so that Python and the OpenAPI schema's (ECMA) regular expressions agree.
VERSION_REFERENCE = r"^([a-z][a-z0-9_]*)@([^\x00-\x1f\x7f]+)$"


def split_version(reference: str) -> tuple[str, str]:
    """``"csi_mobile@2026.1"`` as ``("csi_mobile", "2026.1")``; InvalidRequest otherwise."""
    match = re.fullmatch(VERSION_REFERENCE, reference)
    if match is None:
        raise InvalidRequest(
            f"{reference!r}: name the version as FORM@VERSION, e.g. csi_mobile@2026.1"
        )
    return match.group(1), match.group(2)


def find_reference(session: Session, reference: str) -> QuestionnaireVersion | None:
    """The version named ``FORM@VERSION``; None when there is none or the name is malformed."""
    try:
        form_id, version = split_version(reference)
    except InvalidRequest:
        return None
    return find_version(session, form_id, version)


def find_version(session: Session, form_id: str, version: str) -> QuestionnaireVersion | None:
    return session.exec(
        select(QuestionnaireVersion).where(
            QuestionnaireVersion.form_id == form_id, QuestionnaireVersion.version == version
        )
    ).first()


def load_version(row: QuestionnaireVersion) -> Questionnaire:
    """The questionnaire a stored version holds, rebuilt and re-checked."""
    return questionnaire_from_document(row.document)

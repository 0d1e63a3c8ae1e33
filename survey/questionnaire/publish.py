"""Publishing questionnaire versions: once published, a version never changes."""

from __future__ import annotations

from sqlmodel import Session, select

from survey.db.tables import QuestionnaireVersion
from survey.errors import Conflict
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


def published_versions(session: Session) -> list[QuestionnaireVersion]:
    return list(
        session.exec(
            select(QuestionnaireVersion).order_by(
                QuestionnaireVersion.form_id, QuestionnaireVersion.published_at
            )
        )
    )


def find_version(session: Session, form_id: str, version: str) -> QuestionnaireVersion | None:
    return session.exec(
        select(QuestionnaireVersion).where(
            QuestionnaireVersion.form_id == form_id, QuestionnaireVersion.version == version
        )
    ).first()


def load_version(row: QuestionnaireVersion) -> Questionnaire:
    """The questionnaire a stored version holds, rebuilt and re-checked."""
    return questionnaire_from_document(row.document)

"""Asking for an analysis: the one path from a request to a stored job.

``POST /api/v1/analyses`` and the console's "compute now" form both check the request the
same way (a published version, a construct of it as the target) and submit it through
:func:`survey.analyses.jobs.submit`, so identical inputs find the same job whichever way
they were asked.
"""

from __future__ import annotations

from sqlmodel import Session

from api.analysis.request import AnalysisRequest
from survey.analyses import jobs
from survey.db.tables import Analysis
from survey.errors import NotFound
from survey.questionnaire.publish import find_reference, load_version


def submit_analysis(
    session: Session, body: AnalysisRequest, *, requested_by: int | None = None
) -> tuple[Analysis, bool]:
    """The job for ``body`` and whether this call created it (False: identical inputs were
    already submitted, and their job is reused).

    Raises :class:`NotFound` for a version that is not published, or a target that is not a
    construct of it, with the choices in the message.
    """
    version = find_reference(session, body.version)
    if version is None:
        raise NotFound(f"no published questionnaire version {body.version}")
    constructs = load_version(version).constructs
    if body.target not in constructs:
        raise NotFound(
            f"target {body.target!r} is not a construct of {body.version}: choose one of "
            f"{', '.join(constructs)}"
        )
    return jobs.submit(session, version.id, body.canonical(), requested_by=requested_by)

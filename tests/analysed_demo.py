"""A SQLite database with the sample data and a few computed analyses, built once per run.

The dashboard's integration and browser tests both read it (each from its own copy): the
analyses cost most of a minute, so they are computed once per test process. Bootstrap is
small (20 resamples): the pages are under test here, not the intervals.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlmodel import Session, col, select

from api.analysis.request import AnalysisRequest
from api.analysis.worker import work
from api.cli.demo import prepare_demo
from survey.analyses import jobs as analyses
from survey.db.engine import make_engine
from survey.db.tables import Analysis, Customer, FollowUp, Response
from survey.questionnaire.publish import find_version
from survey.staff.accounts import create_staff

VERSION = "csi_mobile@2026.1"
#: All data and one month, both cut by region: the month leaves Taizhou below min_n.
JOBS = ((None, "region"), ("2026-04", "region"))
MONTH = "2026-04"
PASSWORD = "correct horse battery staple"
#: username -> (role, regions)
PEOPLE = {
    "boss": ("manager", []),
    "hz": ("manager", ["Hangzhou"]),
    "ivy": ("interviewer", []),
    "sue": ("supervisor", []),
}


@functools.cache
def template() -> Path:
    """The database file with the analyses done (do not write to it: copy it)."""
    folder = Path(tempfile.mkdtemp(prefix="manyi-dashboard-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        prepare_demo(engine)
        with Session(engine) as session:
            version = find_version(session, *VERSION.split("@"))
            assert version is not None
            for period, segment in JOBS:
                # 300 permutations: enough to flag one of the 7 regions (more than 7/0.05).
                request = AnalysisRequest(version=VERSION, period=period, segment=segment,
                                          bootstrap=20, permutations=300)  # fmt: skip
                analyses.submit(session, version.id, request.canonical())
        work(engine, once=True)
        with Session(engine) as session:
            failed = session.exec(select(Analysis).where(Analysis.status != analyses.DONE)).all()
            assert not failed, [(job.request, job.error) for job in failed]
    finally:
        engine.dispose()
    return path


def copy_to(folder: Path, people: Sequence[str] = tuple(PEOPLE)) -> str:
    """A copy of the template in ``folder`` with ``people`` able to sign in; its URL."""
    path = folder / "manyi.db"
    shutil.copyfile(template(), path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with Session(engine) as session:
        for username in people:
            role, regions = PEOPLE[username]
            create_staff(session, username, role, PASSWORD, regions=regions)
    engine.dispose()
    return url


def open_follow_ups(url: str, due, per_region: dict[str, int]) -> dict[str, list[int]]:
    """Open follow-ups for customers of each region, all due at ``due``; their ids by region."""
    engine = make_engine(url)
    made: dict[str, list[int]] = {}
    with Session(engine) as session:
        for region, count in per_region.items():
            rows = session.exec(
                select(Response.id, Customer.id)
                .join(Customer, Response.customer_id == Customer.id)
                .where(Customer.region == region, Response.status == "completed",
                       col(Response.id).not_in(select(FollowUp.response_id)))
                .order_by(Response.id).limit(count)
            ).all()  # fmt: skip
            follow_ups = [FollowUp(response_id=r, customer_id=c, reasons=["overall_dissatisfied"],
                                   due_at=due) for r, c in rows]  # fmt: skip
            session.add_all(follow_ups)
            session.commit()
            made[region] = [f.id for f in follow_ups]
    engine.dispose()
    return made

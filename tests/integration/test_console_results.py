"""The console's exports and analyses pages (/console/exports, /console/analyses) on SQLite
with the sample data and two computed analyses (tests/analysed_demo.py), through real logins:
an admin, a researcher, a manager who sees everything (boss), one limited to Hangzhou (hz),
a supervisor and an interviewer.
"""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from api.settings import Settings
from api.web.app import create_app
from survey.analyses import jobs
from survey.analyses.answers import Where, completed_count
from survey.campaigns.lifecycle import create_campaign
from survey.db.engine import make_engine
from survey.db.tables import Analysis, AuditLog, Campaign
from survey.db.tables import Response as SurveyResponse
from survey.questionnaire.publish import find_version
from survey.staff import audit
from survey.staff.accounts import create_staff, find_staff
from tests.analysed_demo import PASSWORD, VERSION, copy_to
from tests.integration.staff_login import SECRET, field, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

BASE = "https://manyi.example.org"
MEDIA = {"csv": "application/zip", "xlsx": "application/vnd.openxmlformats-officedocument",
         "sav": "application/x-spss-sav", "parquet": "application/vnd.apache.parquet"}  # fmt: skip


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    url = copy_to(tmp_path_factory.mktemp("console-results"))
    engine = make_engine(url)
    with Session(engine) as session:
        create_staff(session, "ada", "admin", PASSWORD)
        create_staff(session, "rita", "researcher", PASSWORD)
        # A campaign holding a third of the sample's responses: its own row on the page.
        version = find_version(session, *VERSION.split("@"))
        campaign = create_campaign(session, version.id, "April: phone", channels=["cati"])
        session.execute(update(SurveyResponse).where(SurveyResponse.id % 3 == 0)
                        .values(campaign_id=campaign.id))  # fmt: skip
        session.commit()
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def engine(database):
    engine = make_engine(database)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def login(database):
    clients: dict[str, TestClient] = {}

    def open_as(username: str) -> TestClient:
        if username not in clients:
            settings = Settings(database_url=database, public_base_url=BASE, env="test",
                                secret_key=SECRET)  # fmt: skip
            client = TestClient(create_app(settings), base_url="https://testserver",
                                follow_redirects=False)  # fmt: skip
            client.__enter__()
            assert log_in(client, username, PASSWORD).status_code == 303
            clients[username] = client
        return clients[username]

    yield open_as
    for client in clients.values():
        client.__exit__(None, None, None)


def all_jobs(engine) -> list[Analysis]:
    with Session(engine) as session:
        return list(session.exec(select(Analysis).order_by(col(Analysis.id))))


def audit_rows(engine, action) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == action)
                                 .order_by(col(AuditLog.id))))  # fmt: skip


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def submit(client, **fields):
    csrf = field(client.get("/console/analyses").text, "csrf")
    form = {"version": VERSION, "period": "", "segment": "", "engine": "pls",
            "bootstrap": "20", "seed": "1", **fields}  # fmt: skip
    return client.post("/console/analyses", data={"csrf": csrf, **form})


def done_job(engine) -> Analysis:
    return next(j for j in all_jobs(engine) if j.status == "done" and j.period is None)


# -- who may --------------------------------------------------------------------------------

MAY = {  # route -> roles that may open it
    "/console/exports": {"ada", "rita", "boss", "hz"},
    "/console/analyses": {"ada", "rita", "boss", "hz"},
}
PEOPLE = ("ada", "rita", "boss", "hz", "sue", "ivy")


@pytest.mark.parametrize("username", PEOPLE)
def test_each_page_is_open_to_the_roles_with_its_permission_and_refused_to_the_rest(
    login, engine, username
):
    client = login(username)
    for path, allowed in MAY.items():
        answer = client.get(path)
        assert answer.status_code == (200 if username in allowed else 403), path
    job = done_job(engine)
    answer = client.get(f"/console/analyses/{job.id}")
    assert answer.status_code == (200 if username in MAY["/console/analyses"] else 403)
    # Starting and re-running need run_analyses: admins and researchers only.
    before = len(all_jobs(engine))
    csrf = field(client.get("/me").text, "csrf")
    started = client.post("/console/analyses", data={"csrf": csrf, "version": VERSION,
                                                     "period": "2026-05"})  # fmt: skip
    again = client.post(f"/console/analyses/{job.id}/rerun", data={"csrf": csrf})
    if username in ("ada", "rita"):
        assert started.status_code == 303 and again.status_code == 303
    else:
        assert started.status_code == 403 and again.status_code == 403
        assert len(all_jobs(engine)) == before


def test_forms_without_their_csrf_field_are_refused_and_start_nothing(login, engine):
    rita = login("rita")
    before = len(all_jobs(engine))
    assert rita.post("/console/analyses", data={"version": VERSION}).status_code == 403
    assert rita.post(f"/console/analyses/{done_job(engine).id}/rerun").status_code == 403
    assert len(all_jobs(engine)) == before


# -- exports --------------------------------------------------------------------------------


def exported_links(html: str) -> list[str]:
    return [href.replace("&amp;", "&")
            for href in re.findall(r'href="(/api/v1/exports/responses\?[^"]+)"', html)]  # fmt: skip


def test_every_export_link_downloads_its_format_for_a_researcher(login, engine):
    rita = login("rita")
    page = rita.get("/console/exports")
    assert "Phone numbers are not exported" in page.text
    links = exported_links(page.text)
    assert {re.search(r"format=(\w+)", link).group(1) for link in links} == set(MEDIA)
    whole = [link for link in links if "campaign=" not in link]
    assert len(whole) == len(MEDIA)  # one published version in the sample
    for link in whole:
        answer = rita.get(link)
        fmt = re.search(r"format=(\w+)", link).group(1)
        assert answer.status_code == 200, (link, answer.text[:300])
        assert answer.headers["content-type"].startswith(MEDIA[fmt]), link
        assert "attachment" in answer.headers["content-disposition"]
    assert len(audit_rows(engine, audit.EXPORT)) >= len(MEDIA)


def shown_count(html: str, version_id: int, campaign_id: int | None = None) -> int:
    ident = f"n-{version_id}" + (f"-{campaign_id}" if campaign_id else "")
    return int(re.search(rf'id="{ident}">(\d+)<', html).group(1))


def test_counts_are_within_the_readers_scope_and_match_the_downloaded_rows(login, engine):
    with Session(engine) as session:
        version = find_version(session, *VERSION.split("@"))
        hz = find_staff(session, "hz")
        everyone = completed_count(session, find_staff(session, "boss"), Where(version.id))
        campaign_id = session.exec(select(Campaign.id).where(
            Campaign.questionnaire_version_id == version.id)).one()  # fmt: skip
        hangzhou = completed_count(session, hz, Where(version.id))
    assert 0 < hangzhou < everyone
    assert shown_count(login("boss").get("/console/exports").text, version.id) == everyone
    page = login("hz").get("/console/exports").text
    assert shown_count(page, version.id) == hangzhou
    assert "Only the responses of your scope: Hangzhou" in page
    link = next(link for link in exported_links(page)
                if "format=parquet" in link and "campaign=" not in link)  # fmt: skip
    data = pd.read_parquet(io.BytesIO(login("hz").get(link).content))
    assert len(data) == hangzhou and set(data["region"]) == {"Hangzhou"}
    assert (
        "phone" not in " ".join(data.columns)
        or data.filter(like="phone").map(lambda v: not str(v).startswith("+")).all().all()
    )
    by_campaign = shown_count(page, version.id, campaign_id)
    assert 0 < by_campaign < hangzhou
    link = next(link for link in exported_links(page)
                if f"campaign={campaign_id}" in link and "format=parquet" in link)  # fmt: skip
    assert len(pd.read_parquet(io.BytesIO(login("hz").get(link).content))) == by_campaign


# -- analyses -------------------------------------------------------------------------------


def test_the_list_shows_jobs_with_state_in_words_and_a_dashboard_link_when_done(login, engine):
    page = login("rita").get("/console/analyses")
    job = done_job(engine)
    row = re.search(rf'<tr id="job-{job.id}">(.*?)</tr>', page.text, re.S).group(1)
    assert "已完成" in row and "done" in row and VERSION in row and "全部 all" in row
    assert f'href="/dashboard/priorities?version={VERSION}&amp;by=region"' in row
    assert 'id="compute"' in page.text and 'value="200"' in page.text  # the API's default
    manager = login("boss").get("/console/analyses").text
    assert 'id="compute"' not in manager and f'id="job-{job.id}"' in manager


def test_compute_now_queues_a_job_says_the_worker_must_run_and_reuses_identical_inputs(
    login, engine
):
    rita = login("rita")
    answer = submit(rita, period="2026-Q2", segment="region")
    assert answer.status_code == 303
    job_id = int(re.search(r"/console/analyses/(\d+)\?m=queued", answer.headers["location"])[1])
    with Session(engine) as session:
        job = session.get(Analysis, job_id)
        assert (job.status, job.period, job.segment, job.request["bootstrap"]) == (
            "queued",
            "2026-Q2",
            "region",
            20,
        )
        assert job.requested_by == find_staff(session, "rita").id
    page = rita.get(answer.headers["location"]).text
    assert "manyi analyses work" in page and "Queued for" in page and "Submitted" in page
    again = submit(rita, period="2026-Q2", segment="region")
    assert again.headers["location"] == f"/console/analyses/{job_id}?m=reused"
    rows = [r for r in audit_rows(engine, audit.ANALYSIS_REQUESTED)
            if r.target == f"analysis:{job_id}"]  # fmt: skip
    assert [r.detail["reused"] for r in rows] == [False, True]
    assert rows[0].detail["request"]["period"] == "2026-Q2"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"version": "nope@1"}, "no published questionnaire version nope@1"),
        ({"version": "nope"}, "name the version as FORM@VERSION"),
        ({"period": "2026-13"}, "give a month as 2026-10 or a quarter as 2026-Q3"),
        ({"bootstrap": "abc"}, "bootstrap: &#39;abc&#39; is not a whole number"),
        ({"bootstrap": "999999"}, "bootstrap: Input should be less than or equal to 5000"),
        ({"engine": "magic"}, "engine: Input should be"),
        ({"segment": "planet"}, "segment: Input should be"),
    ],
)
def test_compute_now_with_a_bad_input_says_what_is_wrong_and_starts_nothing(
    login, engine, fields, words
):
    before = len(all_jobs(engine))
    answer = submit(login("rita"), **fields)
    assert answer.status_code == 422
    assert words in answer.text, text(answer.text)[:1500]
    assert 'role="alert"' in answer.text
    assert len(all_jobs(engine)) == before


def test_a_done_jobs_page_shows_n_indexes_and_the_matrix_link(login, engine):
    job = done_job(engine)
    page = login("rita").get(f"/console/analyses/{job.id}").text
    n = int(re.search(r'<strong id="n">(\d+)</strong>', page).group(1))
    assert n == job.result["n"]
    table = text(re.search(r'<table id="indexes">(.*?)</table>', page, re.S).group(1))
    first = job.result["indexes"]["indexes"][0]
    assert f"{first['index']:.1f}" in table
    assert f'href="/dashboard/priorities?version={VERSION}&amp;by=region" id="matrix"' in page
    assert 'id="rerun"' in page and "manyi analyses work" not in page


def test_a_failed_jobs_page_says_why_in_words(login, engine):
    with Session(engine) as session:
        version = find_version(session, *VERSION.split("@"))
        job, _ = jobs.submit(session, version.id, {"version": VERSION, "period": "2026-01",
                                                    "segment": None, "filters": {}})  # fmt: skip
        job_id = job.id
        jobs.fail(session, job_id, "too few responses (12) in 2026-01: choose a longer period")
    page = login("rita").get(f"/console/analyses/{job_id}")
    assert page.status_code == 200
    assert "失败" in page.text and "too few responses (12) in 2026-01" in page.text


def test_rerun_makes_a_new_job_with_the_same_request_though_nothing_changed(login, engine):
    rita = login("rita")
    job = done_job(engine)
    csrf = field(rita.get(f"/console/analyses/{job.id}").text, "csrf")
    first = rita.post(f"/console/analyses/{job.id}/rerun", data={"csrf": csrf})
    second = rita.post(f"/console/analyses/{job.id}/rerun", data={"csrf": csrf})
    ids = [int(re.search(r"/console/analyses/(\d+)\?m=rerun", a.headers["location"])[1])
           for a in (first, second)]  # fmt: skip
    assert len(set(ids)) == 2 and job.id not in ids
    with Session(engine) as session:
        for new_id in ids:
            new = session.get(Analysis, new_id)
            assert new.request == job.request and new.origin == jobs.RERUN
            assert new.status == "queued" and new.key != job.key
    # A plain submission of the same inputs still finds the original job.
    with Session(engine) as session:
        found, created = jobs.submit(session, job.questionnaire_version_id, job.request)
    assert (found.id, created) == (job.id, False)
    rows = audit_rows(engine, audit.ANALYSIS_RERUN)
    assert [(r.target, r.detail["of"]) for r in rows[-2:]] == [
        (f"analysis:{i}", job.id) for i in ids
    ]
    page = rita.get(f"/console/analyses/{ids[0]}").text
    assert "re-run" in page and "manyi analyses work" in page


def test_a_limited_manager_sees_no_job_of_another_region(login, engine):
    with Session(engine) as session:
        version = find_version(session, *VERSION.split("@"))
        request = {"version": VERSION, "period": None, "segment": None,
                   "filters": {"region": ["Ningbo"]}}  # fmt: skip
        job_id = jobs.submit(session, version.id, request)[0].id
    hz = login("hz")
    assert hz.get(f"/console/analyses/{job_id}").status_code == 404
    assert f'id="job-{job_id}"' not in hz.get("/console/analyses").text
    assert login("boss").get(f"/console/analyses/{job_id}").status_code == 200

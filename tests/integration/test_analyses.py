"""Analyses as jobs against SQLite and PostgreSQL: the API, the worker, reuse, failures,
the schedule, who may start and read them, and what a regional manager sees."""

from __future__ import annotations

import threading
from datetime import timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlmodel import Session, col, select

from api.analysis import run as analysis_run
from api.analysis import worker as analysis_worker
from api.analysis.request import AnalysisFilters, AnalysisRequest, period_bounds
from api.analysis.result import (
    SCHEMA_VERSION,
    AnalysisResult,
    UnreadableResult,
    parse_result,
    read_result,
)
from api.analysis.worker import SCHEDULED_SEGMENTS, schedule, scheduled_periods, work, work_once
from api.cli.rates import compute_campaign
from api.settings import Settings
from api.web.app import create_app
from models import fit as model_fit
from models.fit import fit_model
from scoring.indexes import construct_indexes
from survey.analyses import jobs as analyses
from survey.answering.bulk_import import import_responses
from survey.campaigns.lifecycle import change_status, create_campaign, invite
from survey.db.tables import Analysis, Customer, QuestionnaireVersion, Staff, utcnow
from survey.frames.sample_frame import read_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.questionnaire.scores import item_scores
from survey.staff.accounts import create_api_key
from tests.common import SAMPLES
from tests.integration.staff_keys import staff_with_keys

SECRET = "a-test-secret-that-is-long-enough-for-the-test-env"
VERSION = "csi_mobile@2026.1"
N = 600  # enough for a fit and for two regions of >= 100 responses
FAST = {"version": VERSION, "bootstrap": 10, "permutations": 0, "min_n": 100}


@pytest.fixture
def world(engine, sample_questionnaire):
    """The first N sample responses; staff of every role, with API keys."""
    responses = pd.read_csv(SAMPLES / "responses.csv", dtype=str).head(N + 1)
    frame = read_frame(SAMPLES / "frame.csv")
    frame = frame[frame.customer_id.isin(responses.customer_id)]
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame_id = store_frame(session, frame, "analyses", "test").id
        import_responses(session, version, responses.head(N), frame_id)
        big = responses.head(N).region.value_counts()
        region, other = big.index[0], big.index[1]
        keys = staff_with_keys(session, region, "analyses test")
        return {"version_id": version.id, "frame_id": frame_id, "keys": keys, "region": region,
                "other": other, "responses": responses}  # fmt: skip


@pytest.fixture
def client(engine, database_url):
    settings = Settings(database_url=database_url, public_base_url="https://manyi.example.org",
                        env="test", secret_key=SECRET)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        yield client


def as_(world, who) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['keys'][who]}"}


def post(client, world, who="researcher", **body):
    return client.post("/api/v1/analyses", json={**FAST, **body}, headers=as_(world, who))


def test_a_job_is_queued_computed_by_the_worker_and_then_reused(engine, world, client):
    first = post(client, world, segment="region", permutations=1000)
    assert first.status_code == 202, first.text
    job = first.json()
    assert job["status"] == "queued" and not job["reused"]
    assert first.headers["Location"] == job["url"] and job["url"].endswith(f"/{job['id']}")
    assert job["request"]["segment"] == "region" and job["request"]["engine"] == "pls"

    again = post(client, world, segment="region", permutations=1000)  # the same, still queued
    assert again.status_code == 202 and again.json()["id"] == job["id"] and again.json()["reused"]

    pending = client.get(job["url"], headers=as_(world, "researcher")).json()
    assert pending["status"] == "queued" and pending["result"] is None

    done = work_once(engine)
    assert done is not None and done.id == job["id"] and done.status == "done", done.error
    assert work_once(engine) is None  # nothing else waits

    read = client.get(job["url"], headers=as_(world, "researcher"))
    assert read.status_code == 200
    body = read.json()
    assert body["status"] == "done" and body["error"] is None
    result, provenance = body["result"], body["provenance"]
    assert result["n"] == N and sum(result["responses_by_channel"].values()) == N
    assert set(result["priorities"]) == {"constructs", *result["drivers"]}
    assert "network" in result["drivers"]
    blocks = result["priorities"]["constructs"]["segments"]
    assert {b["segment"] for b in blocks} == set(world["responses"].head(N).region)
    for point in result["priorities"]["network"]["matrix"]["points"]:
        assert point["x_interval"][0] <= point["x"] <= point["x_interval"][1]
    assert {"region", "service_hall"} <= set(result["rankings"])
    # Every ranked unit large enough carries its comparability verdict (MICOM step 2), and
    # each unit found not comparable has its warning and is marked on its matrix.
    rows = result["rankings"]["region"]
    assert {type(row["comparable"]) for row in rows} <= {bool, type(None)}
    assert any(row["comparable"] is not None for row in rows)
    flagged = {row["unit"] for row in rows if row["comparable"] is False}
    warned = {w["subject"] for w in result["warnings"] if w["code"] == "not-comparable"}
    assert {f"region={unit}" for unit in flagged} <= warned
    assert {b["segment"] for b in blocks if not b["comparable"]} == flagged
    # So does every period of the trends with enough responses (None: too few to test).
    months = result["trends"]["M"]["satisfaction"]
    assert all(row["comparable"] in (True, False, None) for row in months)
    assert any(row["comparable"] is not None for row in months) or all(
        row["n"] < 30 for row in months
    )
    assert provenance["engine"] == "pls" and provenance["n"] == N
    assert provenance["questionnaire"]["version"] == "2026.1"
    assert provenance["libraries"]["semopy"] and provenance["libraries"]["pandas"]
    assert provenance["bootstrap"] == 10 and provenance["seed"] == 1

    reused = post(client, world, segment="region", permutations=1000)
    assert (
        reused.status_code == 200 and reused.json()["id"] == job["id"] and reused.json()["reused"]
    )


def test_the_stored_indexes_equal_a_fit_of_the_same_responses_read_from_the_file(
    engine, world, client, sample_questionnaire
):
    """The job reads the database; here the same responses come from the sample CSV."""
    job = post(client, world, bootstrap=0).json()
    work_once(engine)
    result = client.get(job["url"], headers=as_(world, "researcher")).json()["result"]
    table = world["responses"].head(N)
    blocks = sample_questionnaire.construct_items()
    items = [name for block in blocks.values() for name in block]
    scores = item_scores(table, items, sample_questionnaire)
    fit = fit_model(sample_questionnaire.lavaan_syntax(), scores, engine="pls")
    expected = construct_indexes(fit, scores, sample_questionnaire, n_boot=0)
    stored = {row["construct"]: row["index"] for row in result["indexes"]["indexes"]}
    for construct in blocks:
        assert stored[construct] == pytest.approx(expected.index(construct), abs=1e-9)


def test_the_overall_analysis_carries_each_campaigns_rates_as_manyi_rates_gives_them(
    engine, world, client
):
    with Session(engine) as session:
        customers = session.exec(
            select(Customer.id).where(Customer.frame_id == world["frame_id"]).limit(30)
        ).all()
        session.exec(update(Customer).values(consent=True))
        session.commit()
        message = {"zh": "请评价：{link}"}
        campaign = create_campaign(
            session, world["version_id"], "November", channels=["sms_link"], message=message
        )
        change_status(session, campaign, "launch")
        invite(session, campaign, customers, secret="s" * 40, public_base_url="https://x.example",
               timezone="Asia/Shanghai", now=utcnow())  # fmt: skip
        expected = compute_campaign(session, campaign.id, now=utcnow(), timezone="Asia/Shanghai")
    overall = post(client, world).json()
    quarter = post(client, world, period="2026-Q2").json()
    work(engine, once=True)
    rates = client.get(overall["url"], headers=as_(world, "manager")).json()["result"]
    (row,) = rates["response_rates"]
    assert row["name"] == "November" and row["cases"] == 30
    for name in ("RR1", "RR2", "COOP1", "REF1", "CON1"):
        assert row["rates"][name] == expected["rates"][name]
    # Campaign-wide figures belong to the all-data analysis only.
    assert client.get(quarter["url"], headers=as_(world, "manager")).json()["result"][
        "response_rates"] is None  # fmt: skip
    page = client.get("/dashboard", headers=as_(world, "manager"))
    assert page.status_code == 200 and "November" in page.text and "RR1" in page.text


def test_new_responses_make_a_new_job_instead_of_serving_a_stale_result(engine, world, client):
    first = post(client, world).json()
    work_once(engine)
    with Session(engine) as session:
        version = session.get(QuestionnaireVersion, world["version_id"])
        import_responses(session, version, world["responses"].iloc[N:], world["frame_id"])
    second = post(client, world)
    assert second.status_code == 202 and second.json()["id"] != first["id"]
    assert not second.json()["reused"]


def test_a_failure_is_stored_with_its_reason_and_the_worker_goes_on(engine, world, client):
    empty = post(client, world, period="2020-01").json()
    fine = post(client, world).json()
    assert work(engine, once=True) == 2
    failed = client.get(empty["url"], headers=as_(world, "researcher")).json()
    assert failed["status"] == "failed" and failed["result"] is None
    assert "0 completed responses of csi_mobile@2026.1 in 2020-01" in failed["error"]
    assert "choose a longer period" in failed["error"]
    assert client.get(fine["url"], headers=as_(world, "researcher")).json()["status"] == "done"
    # Identical inputs give the stored failure back, nothing is recomputed.
    again = post(client, world, period="2020-01")
    assert again.status_code == 200 and again.json()["status"] == "failed"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"period": "2026-13"}, 422, "give a month as 2026-10 or a quarter as 2026-Q3"),
        ({"target": "happiness"}, 404, "not a construct of csi_mobile@2026.1"),
        ({"version": "csi_mobile@9.9"}, 404, "no published questionnaire version"),
        ({"version": "csi_mobile"}, 422, "FORM@VERSION"),
        ({"bootstrap": 10**6}, 422, "bootstrap"),
        ({"colour": "red"}, 422, "colour"),
        ({"segment": "phone"}, 422, "segment"),
    ],
)
def test_a_bad_request_is_refused_with_a_clear_error_and_no_job(
    engine, world, client, body, status, says
):
    answer = post(client, world, **body)
    assert answer.status_code == status, answer.text
    assert says in answer.text
    assert answer.json()["error"]["status"] == status
    with Session(engine) as session:
        assert session.exec(select(Analysis)).first() is None


def test_who_may_start_and_read_analyses(engine, world, client):
    assert post(client, world, "interviewer").status_code == 403
    assert post(client, world, "manager").status_code == 403  # managers read, not start
    job = post(client, world).json()
    work_once(engine)
    assert client.get(job["url"], headers=as_(world, "interviewer")).status_code == 403
    assert client.get(job["url"]).status_code == 401
    assert client.get(job["url"], headers=as_(world, "manager")).json()["result"]["indexes"]
    listed = client.get("/api/v1/analyses?limit=1", headers=as_(world, "manager")).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == job["id"]
    assert "result" not in listed["items"][0]
    assert client.get("/api/v1/analyses/999999", headers=as_(world, "manager")).status_code == 404


def test_a_regional_manager_sees_only_their_regions_blocks_and_no_totals(engine, world, client):
    job = post(client, world, segment="region").json()
    work_once(engine)
    full = client.get(job["url"], headers=as_(world, "manager")).json()["result"]
    read = client.get(job["url"], headers=as_(world, "regional")).json()
    mine = read["result"]
    how = read["provenance"]
    assert how["scope"] == "limited" and how["engine"] == "pls" and how["libraries"]
    assert "n" not in how and "warnings" not in how and "data_fingerprint" not in how
    region, other = world["region"], world["other"]
    assert mine["scope"] == "limited" and "withheld" in mine["withheld"].lower()
    for entry in mine["priorities"].values():
        assert entry["matrix"] is None
        assert [b["segment"] for b in entry["segments"]] == [region]
    # The same type, with the totals empty: none of them reaches the regional manager.
    assert all(mine[total] is None for total in ("indexes", "trends", "model", "n"))
    assert mine["warnings"] == [] and mine["response_rates"] is None
    # Their units keep their places among all units; the others are places without names.
    ranked = mine["rankings"]["region"]
    assert [row["unit"] for row in ranked if row["unit"]] == [region]
    assert len(ranked) == len(full["rankings"]["region"])
    assert all(set(row) == {"unit", "rank", "rank_low", "rank_high"}
               for row in ranked if row["unit"] is None)  # fmt: skip
    halls = {row["unit"] for row in mine["rankings"]["service_hall"]} - {None}
    assert halls and all(full["hall_regions"][hall] == region for hall in halls)
    # None of the other region's numbers is anywhere in what the regional manager got.
    theirs = next(b for b in full["priorities"]["constructs"]["segments"] if b["segment"] == other)
    text = str(mine)
    assert other not in text
    assert all(repr(p["y"]) not in text for p in theirs["matrix"]["points"])

    filtered = post(client, world, filters={"region": [region]}).json()
    work_once(engine)
    own = client.get(filtered["url"], headers=as_(world, "regional")).json()["result"]
    assert own["scope"] == "whole" and own["indexes"] and own["n"] < N


def test_a_lost_job_is_claimed_again_after_its_lease_and_failed_after_three_losses(
    engine, world, client
):
    job_id = post(client, world).json()["id"]
    with Session(engine) as session:
        first = analyses.claim_next(session, "worker-a")
        assert first is not None and first.id == job_id and first.attempts == 1
        assert analyses.claim_next(session, "worker-b") is None  # held by worker-a
        # A heartbeat keeps it worker-a's, however long the analysis takes ...
        beat = utcnow() + analyses.LEASE + timedelta(minutes=1)
        assert analyses.heartbeat(session, job_id, "worker-a", now=beat)
        assert analyses.claim_next(session, "worker-b", now=beat + timedelta(seconds=30)) is None
        # ... and silence for longer than the lease hands it on.
        later = beat + analyses.LEASE + timedelta(seconds=1)
        second = analyses.claim_next(session, "worker-b", now=later)
        assert second is not None and second.worker == "worker-b" and second.attempts == 2
        assert not analyses.heartbeat(session, job_id, "worker-a")  # no longer worker-a's
        session.exec(update(Analysis).values(attempts=analyses.MAX_ATTEMPTS))
        session.commit()
        much_later = later + analyses.LEASE + timedelta(seconds=1)
        assert analyses.claim_next(session, "worker-c", now=much_later) is None
        lost = session.get(Analysis, job_id, populate_existing=True)
        assert lost.status == "failed" and "lost 3 times" in lost.error


def test_the_worker_renews_the_heartbeat_while_it_computes(engine, world, client, monkeypatch):
    monkeypatch.setattr(analyses, "HEARTBEAT", timedelta(seconds=0.2))
    job_id = post(client, world, bootstrap=50).json()["id"]
    done = work_once(engine)
    assert done.id == job_id and done.status == "done"
    assert done.heartbeat_at > done.started_at  # renewed at least once during the fit


def test_the_schedule_submits_each_period_segment_region_and_large_hall_once(
    engine, world, monkeypatch
):
    monkeypatch.setattr(analysis_worker, "MIN_FIT_N", 20)  # the test's halls are small
    with Session(engine) as session:
        first = schedule(session)
        second = schedule(session)
    requests = [job.request for job, created in first]
    assert all(created for _, created in first) and not any(created for _, created in second)
    assert all(job.origin == "schedule" for job, _ in first)
    whole = [r for r in requests if not any(r["filters"].values())]
    periods = {r["period"] for r in whole}
    assert None in periods and {"2026-Q2", "2026-06"} <= periods
    assert len(whole) == len(periods) * len(SCHEDULED_SEGMENTS)
    answered = world["responses"].head(N)
    regional = [r for r in requests if r["filters"]["region"]]
    assert {r["filters"]["region"][0] for r in regional} == set(answered.region)
    assert {r["period"] for r in regional} == {None, "2026-Q2"}
    assert len(regional) == 2 * answered.region.nunique()
    halls = [r for r in requests if r["filters"]["service_hall"]]
    counts = answered.service_hall.value_counts()
    assert sorted(r["filters"]["service_hall"][0] for r in halls) == sorted(
        counts[counts >= 20].index
    )
    assert halls and all(r["period"] is None for r in halls)


def test_customers_without_a_hall_are_in_no_hall_of_the_schedule(engine, world, monkeypatch):
    # A hotline caller's customer record has no hall (""): many of them once made the
    # schedule ask for a hall named "", which the request refuses, and the worker stopped.
    monkeypatch.setattr(analysis_worker, "MIN_FIT_N", 20)
    with Session(engine) as session:
        session.exec(update(Customer).values(service_hall=""))
        session.commit()
        requests = [job.request for job, _ in schedule(session)]
    assert requests and not [r for r in requests if r["filters"]["service_hall"]]


def test_a_hall_manager_sees_their_halls_own_indexes(engine, world, client, monkeypatch):
    monkeypatch.setattr(analysis_run, "MIN_FIT_N", 20)  # the test's largest hall has 28
    # and the model's own minimum (10 times its 6 arrows into satisfaction) is 60
    monkeypatch.setattr(model_fit, "minimum_sample_size", lambda spec, engine: (20, "a test"))
    hall = world["responses"].head(N).service_hall.value_counts().index[0]
    with Session(engine) as session:
        member = Staff(username="hall", display_name="hall", role="manager", service_halls=[hall])
        session.add(member)
        session.commit()
        key = create_api_key(session, member, "hall test")[1]
    job = post(client, world, filters={"service_hall": [hall]}, min_n=10).json()
    work_once(engine)
    read = client.get(job["url"], headers={"Authorization": f"Bearer {key}"}).json()
    assert read["result"]["scope"] == "whole" and read["result"]["indexes"]
    satisfaction = next(r for r in read["result"]["indexes"]["indexes"]
                        if r["construct"] == "satisfaction")  # fmt: skip
    page = client.get("/dashboard", headers={"Authorization": f"Bearer {key}"})
    assert page.status_code == 200 and "withheld" not in page.text
    assert f"{satisfaction['index']:.1f}" in page.text


def test_periods_are_calendar_months_and_quarters_in_utc():
    since, until = period_bounds("2026-12")
    assert (since.isoformat(), until.isoformat()) == ("2026-12-01T00:00:00+00:00",
                                                      "2027-01-01T00:00:00+00:00")  # fmt: skip
    since, until = period_bounds("2026-Q4")
    assert (since.month, until.year, until.month) == (10, 2027, 1)
    assert period_bounds(None) == (None, None)
    from datetime import UTC, datetime

    assert scheduled_periods(datetime(2026, 2, 10, tzinfo=UTC)) == [
        "2026-Q1", "2025-Q4", "2026-02", "2026-01", "2025-12"]  # fmt: skip
    assert AnalysisRequest(version=VERSION, filters={"region": ["b", "a", "a"]}).canonical()[
        "filters"]["region"] == ["a", "b"]  # fmt: skip


def test_an_unknown_query_parameter_is_named_instead_of_ignored(world, client):
    answer = client.get("/api/v1/analyses?limt=5", headers=as_(world, "manager"))
    assert answer.status_code == 422
    (detail,) = answer.json()["error"]["details"]
    assert detail["location"] == ["query", "limt"]
    assert "this operation takes: limit, offset, status" in detail["message"]
    assert client.get("/api/v1/analyses?limit=5", headers=as_(world, "manager")).status_code == 200


def test_two_workers_share_the_queue_and_compute_each_job_once(engine, world, client):
    ids = {post(client, world, period=period, bootstrap=0).json()["id"]
           for period in (None, "2026-Q1", "2026-Q2", "2026-06")}  # fmt: skip
    counts: list[int] = []
    workers = [threading.Thread(target=lambda: counts.append(work(engine, once=True)))
               for _ in range(2)]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert sum(counts) == len(ids)
    with Session(engine) as session:
        jobs = session.exec(select(Analysis).where(col(Analysis.id).in_(ids))).all()
    assert {job.status for job in jobs} == {"done"}
    assert all(job.attempts == 1 for job in jobs)  # nobody computed a job twice


def test_a_finished_result_round_trips_through_its_type_and_is_read_once(engine, world, client):
    post(client, world, bootstrap=0)
    work_once(engine)
    with Session(engine) as session:
        job = session.exec(select(Analysis)).one()
        stored = session.get(Analysis, job.id).result
        first = read_result(session, job)
        assert read_result(session, job) is first  # read and checked once, then shared
    assert isinstance(first, AnalysisResult) and first.schema_version == SCHEMA_VERSION
    # Stored JSON -> type -> JSON gives the stored JSON back, to the last digit.
    assert first.model_dump(mode="json") == stored
    assert AnalysisResult.model_validate_json(first.model_dump_json()) == first


def test_a_stored_result_of_another_shape_is_refused_with_its_reason(engine, world, client):
    post(client, world, bootstrap=0)
    work_once(engine)
    with Session(engine) as session:
        job = session.exec(select(Analysis)).one()
        stored = dict(session.get(Analysis, job.id).result)
    with pytest.raises(UnreadableResult, match="schema version 1.*submit the analysis again"):
        parse_result({**stored, "schema_version": 2})
    with pytest.raises(UnreadableResult, match="indexs"):
        parse_result({**stored, "indexs": {}})


def test_the_dashboard_lookup_uses_its_index_on_postgresql(engine, world, client):
    if engine.dialect.name != "postgresql":
        pytest.skip("the query plan is PostgreSQL's")
    post(client, world, bootstrap=0, period="2026-Q2")
    work_once(engine)
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM analysis" in statement and "filters_hash" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            job = analyses.latest_done(
                session, world["version_id"], period="2026-Q2", segment=None,
                filters=AnalysisFilters().model_dump(),
            )  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert job is not None and job.period == "2026-Q2"
    [(statement, parameters)] = seen
    with engine.begin() as connection:
        # A year of a busy service: thousands of jobs over versions' periods, segments,
        # filters and states (a table of a few rows is read whole, index or not).
        connection.exec_driver_sql(
            """
            INSERT INTO analysis (key, questionnaire_version_id, request, data_fingerprint,
                                  period, segment, filters_hash, status, origin, created_at,
                                  attempts)
            SELECT md5(i::text), %(version)s, '{}', 'x',
                   '2025-' || lpad((1 + i %% 12)::text, 2, '0'),
                   (ARRAY[NULL, 'region', 'service_hall', 'tier'])[1 + i %% 4],
                   md5((i %% 40)::text),
                   (ARRAY['done', 'done', 'failed', 'queued'])[1 + i %% 4],
                   'schedule', now(), 1
            FROM generate_series(1, 5000) AS i
            """,
            {"version": world["version_id"]},
        )
        connection.exec_driver_sql("ANALYZE analysis")
        plan = connection.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
    assert any("ix_analysis_lookup" in line for line in plan), "\n".join(plan)

"""Service remedy against SQLite and PostgreSQL: follow-ups opened, queued, closed, reported."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from models.classifier import fit_classifier
from survey.db.tables import (
    Answer,
    CallCase,
    Customer,
    FollowUp,
    RemedyModel,
    Response,
    Staff,
)
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.remedy.classifier import CATEGORICAL_ATTRIBUTES, store_model, training_table
from survey.remedy.report import weekly_report
from survey.remedy.rules import (
    CLASSIFIER_REASON,
    FollowUpError,
    close_follow_up,
    open_follow_ups,
)
from tests.common import SAMPLES
from tests.service_process import run_manyi

# Monday 2026-05-04 00:00 in Shanghai is Sunday 16:00 UTC.
MONDAY = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.fixture(scope="module")
def sample_classifier(sample_questionnaire):
    responses = pd.read_csv(SAMPLES / "responses.csv", dtype={"customer_id": str})
    frame = pd.read_csv(SAMPLES / "frame.csv", dtype={"customer_id": str})
    features, y = training_table(sample_questionnaire, responses, frame)
    fitted = fit_classifier(features, y, categorical=CATEGORICAL_ATTRIBUTES, random_state=0)
    return fitted.parameters()  # what is stored


@pytest.fixture
def world(engine, sample_questionnaire):
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame = store_frame(session, generate_frame(6, seed=5), "remedy", "test")
        customers = session.exec(
            select(Customer.id).where(Customer.frame_id == frame.id).order_by(Customer.id)
        ).all()
        agent = Staff(username="li", display_name="Li", role="interviewer")
        session.add(agent)
        session.commit()
        return {"version_id": version.id, "customers": list(customers), "staff_id": agent.id}


def neutral(questionnaire) -> dict[str, str]:
    return {i.name: "3" for i in questionnaire.items if i.type == "rating"}


def respond(session, world, answers, *, customer=0, status="completed", at=MONDAY, later=None):
    """A response with its answers (then ``later`` ones appended, as a changed answer is)."""
    response = Response(
        questionnaire_version_id=world["version_id"],
        customer_id=world["customers"][customer] if customer is not None else None,
        channel="web_link",
        status=status,
        started_at=at,
        completed_at=at if status == "completed" else None,
    )
    session.add(response)
    session.flush()
    for batch in (answers, later or {}):
        for name, value in batch.items():
            session.add(
                Answer(response_id=response.id, item_name=name, value=value, answered_at=at)
            )
        session.flush()
    return response.id


def test_a_low_score_opens_a_follow_up_and_a_priority_call_case(
    engine, world, sample_questionnaire
):
    with Session(engine) as session:
        interview = CallCase(
            customer_id=world["customers"][1],
            kind="interview",
            priority=0,
            next_call_at=MONDAY - timedelta(hours=3),
        )
        session.add(interview)
        response_id = respond(session, world, {**neutral(sample_questionnaire), "sat_overall": "2"})
        opened = open_follow_ups(session, response_id, MONDAY)
        session.commit()  # the completion's own commit
        assert opened.reasons == ("overall_dissatisfied",) and opened.score is None
        assert opened.due_at == MONDAY + timedelta(hours=48)
        follow_up = session.get(FollowUp, opened.follow_up_id)
        assert follow_up.status == "open" and follow_up.customer_id == world["customers"][0]
        assert follow_up.case_id == opened.case_id and follow_up.due_at == opened.due_at
        call = session.get(CallCase, opened.case_id)
        assert call.kind == "follow_up" and call.status == "open" and call.next_call_at == MONDAY
        assert call.campaign_id is None  # outside every campaign's response rates
        top = session.exec(
            select(CallCase.kind)
            .where(CallCase.status == "open")
            .order_by(CallCase.priority.desc(), CallCase.next_call_at)
        ).first()
        assert top == "follow_up" and call.priority > interview.priority


def test_the_follow_up_is_first_in_the_interviewer_queue(engine, world, sample_questionnaire):
    cati = pytest.importorskip("survey.cati.queue")
    with Session(engine) as session:
        session.add(
            CallCase(
                customer_id=world["customers"][1],
                kind="interview",
                priority=0,
                next_call_at=MONDAY - timedelta(days=1),
            )
        )
        response_id = respond(session, world, {**neutral(sample_questionnaire), "sat_overall": "1"})
        opened = open_follow_ups(session, response_id, MONDAY)
        session.commit()
        served = cati.next_case(session, world["staff_id"], MONDAY + timedelta(seconds=1))
        assert served is not None and served.id == opened.case_id


def test_opening_is_idempotent(engine, world, sample_questionnaire):
    with Session(engine) as session:
        response_id = respond(session, world, {**neutral(sample_questionnaire), "net_moving": "1"})
        first = open_follow_ups(session, response_id, MONDAY)
        assert open_follow_ups(session.connection(), response_id, MONDAY) is None
        session.commit()
        assert open_follow_ups(session, response_id, MONDAY + timedelta(hours=1)) is None
        session.commit()
        assert first.reasons == ("item_very_poor",)
        assert session.exec(select(func.count()).select_from(FollowUp)).one() == 1
        assert session.exec(select(func.count()).select_from(CallCase)).one() == 1


def test_latest_answer_counts_and_cannot_answer_never_fires(engine, world, sample_questionnaire):
    base = neutral(sample_questionnaire)
    with Session(engine) as session:
        changed_up = respond(
            session, world, {**base, "sat_overall": "2"}, later={"sat_overall": "4"}
        )
        changed_down = respond(
            session, world, {**base, "sat_overall": "4"}, later={"sat_overall": "2"}, customer=1
        )
        cannot = respond(
            session, world, {**base, "sat_overall": "6", "net_clarity": "6"}, customer=2
        )
        unfinished = respond(
            session, world, {**base, "sat_overall": "1"}, customer=3, status="in_progress"
        )
        assert open_follow_ups(session, changed_up, MONDAY) is None
        assert open_follow_ups(session, changed_down, MONDAY).reasons == ("overall_dissatisfied",)
        assert open_follow_ups(session, cannot, MONDAY) is None
        assert open_follow_ups(session, unfinished, MONDAY) is None


def test_a_response_without_a_customer_gets_a_follow_up_but_no_call(
    engine, world, sample_questionnaire
):
    with Session(engine) as session:
        response_id = respond(
            session, world, {**neutral(sample_questionnaire), "sat_overall": "1"}, customer=None
        )
        opened = open_follow_ups(session, response_id, MONDAY)
        assert opened is not None and opened.case_id is None


def test_a_usable_classifier_flags_a_customer_who_did_not_say_it(
    engine, world, sample_questionnaire, sample_classifier
):
    drivers = {
        name: "2"
        for name in sample_questionnaire.item_names
        if name.startswith(("img_", "net_", "bil_", "hall_", "new_", "cmp_"))
    }
    answers = {**neutral(sample_questionnaire), **drivers, "complained": "yes"}
    with Session(engine) as session:
        model = store_model(
            session, world["version_id"], sample_classifier, questionnaire=sample_questionnaire
        )
        assert model.usable and model.active and model.auc == sample_classifier["validation"]["auc"]
        poor = respond(session, world, answers)
        content = respond(
            session, world, {**neutral(sample_questionnaire), "sat_overall": "5"}, customer=1
        )
        opened = open_follow_ups(session, poor, MONDAY)
        assert opened.reasons == (CLASSIFIER_REASON,)
        assert opened.score >= model.parameters["threshold"]
        assert open_follow_ups(session, content, MONDAY) is None


def test_a_weak_classifier_score_is_ignored(engine, world, sample_questionnaire, sample_classifier):
    drivers = {
        name: "2"
        for name in sample_questionnaire.item_names
        if name.startswith(("img_", "net_", "bil_", "hall_", "new_", "cmp_"))
    }
    with Session(engine) as session:
        model = store_model(
            session, world["version_id"], sample_classifier, questionnaire=sample_questionnaire
        )
        model.usable = False  # as a weak model is stored
        session.add(model)
        session.commit()
        poor = respond(session, world, {**neutral(sample_questionnaire), **drivers})
        low = respond(
            session, world, {**neutral(sample_questionnaire), "sat_overall": "2"}, customer=1
        )
        assert open_follow_ups(session, poor, MONDAY) is None
        opened = open_follow_ups(session, low, MONDAY)
        assert opened.reasons == ("overall_dissatisfied",) and opened.score is None


def test_a_new_model_retires_the_old_one(engine, world, sample_questionnaire, sample_classifier):
    with Session(engine) as session:
        first = store_model(
            session, world["version_id"], sample_classifier, questionnaire=sample_questionnaire
        )
        second = store_model(
            session, world["version_id"], sample_classifier, questionnaire=sample_questionnaire
        )
        session.refresh(first)
        assert not first.active and second.active
        stored = session.get(RemedyModel, second.id)
        assert json.loads(json.dumps(stored.parameters)) == stored.parameters


def test_closing_validates_and_takes_the_case_off_the_queue(engine, world, sample_questionnaire):
    with Session(engine) as session:
        response_id = respond(session, world, {**neutral(sample_questionnaire), "sat_overall": "1"})
        opened = open_follow_ups(session, response_id, MONDAY)
        session.commit()
        staff = world["staff_id"]
        for outcome, cause, staff_id, message in [
            ("fixed", "network", staff, "outcome 'fixed'"),
            ("resolved", None, staff, "needs a root cause"),
            ("resolved", "Bad Cause", staff, "must be a lower-case code"),
            ("resolved", "network", staff + 99, "does not exist"),
        ]:
            with pytest.raises(FollowUpError, match=message):
                close_follow_up(session, opened.follow_up_id, outcome, cause, staff_id, MONDAY)
        with pytest.raises(FollowUpError, match="does not exist"):
            close_follow_up(session, 999_999, "resolved", "network", staff, MONDAY)
        closed = close_follow_up(
            session,
            opened.follow_up_id,
            "unreachable",
            None,
            staff,
            MONDAY + timedelta(hours=5),
            notes="no answer three times",
        )
        session.commit()
        assert closed.status == "closed" and closed.outcome == "unreachable"
        assert closed.closed_by == staff and closed.root_cause is None
        assert session.get(CallCase, opened.case_id).status == "final"
        with pytest.raises(FollowUpError, match="closed already"):
            close_follow_up(session, opened.follow_up_id, "resolved", "network", staff, MONDAY)


def test_weekly_report_accounts_for_the_sla_across_a_simulated_week(
    engine, world, sample_questionnaire
):
    low = {**neutral(sample_questionnaire), "sat_overall": "2"}
    staff = world["staff_id"]
    hours = timedelta(hours=1)
    with Session(engine) as session:

        def opened_at(moment, customer=0):
            response_id = respond(session, world, low, customer=customer, at=moment)
            follow_up = open_follow_ups(session, response_id, moment)
            session.commit()
            return follow_up.follow_up_id

        # Opened the week before, closed (late) this Monday: closed here, not opened here.
        earlier = opened_at(MONDAY - 72 * hours)
        close_follow_up(session, earlier, "not_resolved", "network", staff, MONDAY + hours)
        on_time = opened_at(MONDAY)  # Monday, closed Tuesday: within 48 h
        close_follow_up(session, on_time, "resolved", "billing", staff, MONDAY + 24 * hours)
        late = opened_at(MONDAY + 24 * hours, customer=1)  # Tuesday, closed Friday: late
        close_follow_up(session, late, "resolved", "network", staff, MONDAY + 96 * hours)
        breached = opened_at(MONDAY + 48 * hours, customer=2)  # Wednesday, never closed
        still_due = opened_at(MONDAY + 140 * hours, customer=3)  # Sunday, due next week
        session.commit()
        report = weekly_report(
            session, date(2026, 5, 4), "Asia/Shanghai", now=MONDAY + 30 * 24 * hours
        )
        assert report.starts_at == "2026-05-03T16:00:00+00:00"
        assert report.opened == 4 and report.opened_by_reason == {"overall_dissatisfied": 4}
        assert (report.closed, report.closed_within_sla, report.closed_late) == (3, 1, 2)
        assert report.by_outcome == {"not_resolved": 1, "resolved": 2}
        assert report.resolution_rate == pytest.approx(2 / 3)
        assert report.by_root_cause == {
            "billing": {"closed": 1, "resolved": 1},
            "network": {"closed": 2, "resolved": 1},
        }
        assert report.open_at_end == 2 and report.sla_breaches == 1
        assert report.breached_ids == [breached] and still_due not in report.breached_ids
        assert report.median_hours_to_close == pytest.approx(72.0)
        json.dumps(report.to_dict())
        # The week before: one opened, nothing closed (no rate rather than 0%).
        before = weekly_report(session, date(2026, 4, 27), "Asia/Shanghai", now=MONDAY)
        assert before.opened == 1 and before.closed == 0 and before.resolution_rate is None
        assert (
            before.open_at_end == 1 and before.sla_breaches == 1
        )  # due Sunday 01:00 UTC, before the week ended


def manyi(*args, env):
    return run_manyi(*args, env=env, timeout=300)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_trains_stores_and_reports(engine, database_url, world):
    env = {"MANYI_DATABASE_URL": database_url}
    files = [str(SAMPLES / n) for n in ("csi_questionnaire.yaml", "responses.csv", "frame.csv")]
    run = manyi("remedy", "train", *files, "--json", env=env)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["usable"] and result["auc_ci_low"] < result["auc"] < result["auc_ci_high"]
    with Session(engine) as session:
        stored = session.get(RemedyModel, result["model_id"])
        assert stored.active and stored.auc == pytest.approx(result["auc"])
    hotline = str(SAMPLES / "hotline_questionnaire.yaml")
    refused = manyi("remedy", "train", hotline, *files[1:], "--target", "overall", env=env)
    assert refused.returncode == 1 and "is not published" in refused.stderr
    text = manyi("remedy", "train", *files, "--no-store", env=env)
    assert text.returncode == 0, text.stderr
    assert "validation AUC" in text.stdout and "DeLong" in text.stdout
    assert "stored as" not in text.stdout
    run = manyi("remedy", "report", "--week", "2026-05-06", "--json", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["week_start"] == "2026-05-04"
    text = manyi("remedy", "report", "--week", "2026-05-06", env=env)
    assert "resolution rate n/a" in text.stdout


def test_the_weekly_report_of_a_database_never_migrated_says_how_to_migrate_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    done = run_manyi("remedy", "report", env={"MANYI_DATABASE_URL": url})
    assert done.returncode == 1
    assert f"the database {url} has no schema: run `manyi db upgrade`" in done.stderr

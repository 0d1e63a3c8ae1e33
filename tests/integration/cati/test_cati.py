"""Phone interviews across simulated days, on SQLite and PostgreSQL, with a movable clock.

Times are written as wall-clock times in Shanghai (the customers' zone, UTC+8) and turned
into UTC instants: ``at(2, 10, 30)`` is 2 March 2026, 10:30 in Shanghai.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from survey.campaigns.lifecycle import (
    CampaignError,
    change_status,
    create_call_cases,
    create_campaign,
)
from survey.cati.outcomes import OutcomeError
from survey.cati.queue import (
    CaseNotHeld,
    CatiError,
    extend_hold,
    force_release,
    next_case,
    open_phone_interview,
    reassign_case,
    record_attempt,
    release_case,
    start_phone_interview,
)
from survey.db.tables import CallAttempt, CallCase, Campaign, Customer, Response, Staff
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from tests.integration.cati.call_pages import save_answers

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def make_world(engine, questionnaire, n=3, calling=None, consent=True):
    """A running phone campaign with ``n`` interview cases, two interviewers and others."""
    with Session(engine) as session:
        version = publish(session, questionnaire)
        frame = store_frame(session, generate_frame(n + 2, seed=11), "phone", "test")
        customers = list(
            session.execute(
                select(Customer).where(Customer.frame_id == frame.id).order_by(Customer.id)
            ).scalars()
        )
        for customer in customers:
            customer.consent = consent
            customer.language = "zh"
            session.add(customer)
        staff = {
            "a": Staff(username="a", display_name="Interviewer A", role="interviewer"),
            "b": Staff(username="b", display_name="Interviewer B", role="interviewer"),
            "boss": Staff(username="boss", display_name="Supervisor", role="supervisor"),
            "gone": Staff(username="gone", display_name="Left", role="interviewer", active=False),
            "analyst": Staff(username="analyst", display_name="Analyst", role="researcher"),
        }
        session.add_all(staff.values())
        session.commit()
        campaign = create_campaign(
            session, version.id, "Phone March", channels=["cati"], calling=calling or {}
        )
        change_status(session, campaign, "launch")
        counts = create_call_cases(session, campaign, [c.id for c in customers[:n]], now=at(1, 8))
        assert counts == {"created": n, "no_consent": 0, "already_queued": 0}
        cases = list(
            session.execute(
                select(CallCase.id).where(CallCase.campaign_id == campaign.id).order_by(CallCase.id)
            ).scalars()
        )
        return {
            "campaign_id": campaign.id,
            "customers": [c.id for c in customers],
            "staff": {key: person.id for key, person in staff.items()},
            "cases": cases,
        }


@pytest.fixture
def world(engine, sample_questionnaire):
    return make_world(engine, sample_questionnaire)


def take(engine, world, who, now, **kwargs):
    with Session(engine) as session:
        found = next_case(session, world["staff"][who], now, **kwargs)
        return found.id if found is not None else None


def record(engine, world, case_id, who, outcome, now, **kwargs):
    with Session(engine) as session:
        return record_attempt(session, case_id, world["staff"][who], outcome, now, **kwargs)


def case_row(engine, case_id) -> CallCase:
    with Session(engine) as session:
        return session.get(CallCase, case_id)


# --- the queue --------------------------------------------------------------------------------


def test_fresh_cases_come_in_order_and_an_interviewer_keeps_the_case_held(engine, world):
    first, second, third = world["cases"]
    assert take(engine, world, "a", at(1, 10)) == first
    # Asking again (a reloaded page) gives the same case, not a second one.
    assert take(engine, world, "a", at(1, 10, 1)) == first
    assert take(engine, world, "b", at(1, 10, 1)) == second
    assert take(engine, world, "boss", at(1, 10, 2)) == third
    assert take(engine, world, "b", at(1, 10, 3)) == second
    held = case_row(engine, first)
    assert held.held_by == world["staff"]["a"]
    assert held.held_until == at(1, 10) + timedelta(minutes=20)


def test_only_callers_may_take_cases(engine, world):
    for who in ("gone", "analyst"):
        with pytest.raises(CatiError, match="only active staff with the role interviewer"):
            take(engine, world, who, at(1, 10))
    with pytest.raises(CatiError, match="timezone-aware"):
        take(engine, world, "a", datetime(2026, 3, 1, 10))


def test_appointment_is_served_exactly_at_its_time_and_before_other_due_cases(engine, world):
    first, second, third = world["cases"]
    assert take(engine, world, "a", at(1, 10)) == first
    with pytest.raises(CatiError, match="outside the calling hours"):
        record(engine, world, first, "a", "appointment", at(1, 10, 5), appointment_at=at(1, 22))
    with pytest.raises(CatiError, match="later than now"):
        record(engine, world, first, "a", "appointment", at(1, 10, 5), appointment_at=at(1, 9))
    with pytest.raises(CatiError, match="goes with the outcome 'appointment'"):
        record(engine, world, first, "a", "no_answer", at(1, 10, 5), appointment_at=at(2, 10))
    done = record(
        engine, world, first, "a", "appointment", at(1, 10, 5), appointment_at=at(2, 10, 30)
    )
    assert (done.attempt.disposition, done.case.status) == ("2.21", "open")
    assert done.case.appointment_at == done.case.next_call_at == at(2, 10, 30)
    assert done.case.held_by is None
    # The other two are called and not reached on day 1; they are due again on day 2.
    for case_id in (second, third):
        assert take(engine, world, "a", at(1, 11)) == case_id
        record(engine, world, case_id, "a", "no_answer", at(1, 11))
    # One minute before the appointment, the appointment case is not served.
    before = take(engine, world, "b", at(2, 10, 29))
    assert before in (second, third)
    with Session(engine) as session:
        release_case(session, before, world["staff"]["b"], at(2, 10, 29))
    # At its time, it comes first, although the other two have been due since day 1.
    assert take(engine, world, "b", at(2, 10, 30)) == first
    done = record(engine, world, first, "b", "hard_refusal", at(2, 10, 40))
    assert (done.case.status, done.case.final_disposition) == ("final", "2.11")
    assert done.case.appointment_at is None


def test_an_appointment_is_not_served_a_second_early_even_with_nothing_else_to_do(
    engine, sample_questionnaire
):
    world = make_world(engine, sample_questionnaire, n=1)
    (only,) = world["cases"]
    assert take(engine, world, "a", at(1, 10)) == only
    record(engine, world, only, "a", "appointment", at(1, 10, 2), appointment_at=at(1, 10, 20))
    assert take(engine, world, "a", at(1, 10, 20) - timedelta(seconds=1)) is None
    assert take(engine, world, "a", at(1, 10, 20)) == only


def test_retry_delays_follow_the_outcome(engine, sample_questionnaire):
    world = make_world(engine, sample_questionnaire, n=5, calling={"min_gap_minutes": 0})
    delays = {
        "busy": timedelta(minutes=15),
        "no_answer": timedelta(hours=3),
        "answering_machine": timedelta(hours=3),
        "not_available": timedelta(hours=2),
        "soft_refusal": timedelta(days=7),
    }
    called = at(2, 10)
    by_outcome = {}
    for outcome, delay in delays.items():
        case_id = take(engine, world, "a", called)
        done = record(engine, world, case_id, "a", outcome, called)
        assert done.case.next_call_at == called + delay, outcome
        assert done.case.status == "open"
        by_outcome[outcome] = case_id
    # The busy one is back 15 minutes later, not a minute before.
    assert take(engine, world, "b", called + timedelta(minutes=14)) is None
    assert take(engine, world, "b", called + timedelta(minutes=15)) == by_outcome["busy"]
    record(engine, world, by_outcome["busy"], "b", "hard_refusal", called + timedelta(minutes=16))
    # Two hours on, only the customer who was not available; three hours on, the no-answers.
    assert take(engine, world, "b", called + timedelta(hours=2)) == by_outcome["not_available"]
    record(engine, world, by_outcome["not_available"], "b", "hard_refusal", at(2, 12, 5))
    assert take(engine, world, "a", called + timedelta(hours=3)) == by_outcome["no_answer"]
    machine = by_outcome["answering_machine"]
    assert take(engine, world, "boss", called + timedelta(hours=3)) == machine
    # The soft refusal waits a week.
    assert case_row(engine, by_outcome["soft_refusal"]).next_call_at == at(9, 10)


def test_minimum_gap_stretches_a_shorter_retry_delay(engine, sample_questionnaire):
    world = make_world(engine, sample_questionnaire, n=1)  # default gap: 60 minutes
    (only,) = world["cases"]
    assert take(engine, world, "a", at(1, 10)) == only
    done = record(engine, world, only, "a", "busy", at(1, 10))
    assert done.case.next_call_at == at(1, 11)  # busy is 15 minutes, the gap 60
    assert take(engine, world, "a", at(1, 10, 59)) is None
    assert take(engine, world, "a", at(1, 11)) == only


def test_calling_hours_are_the_customers_local_hours(engine, sample_questionnaire):
    world = make_world(engine, sample_questionnaire, n=1)
    (only,) = world["cases"]
    assert take(engine, world, "a", at(1, 22)) is None
    assert take(engine, world, "a", at(2, 8, 59)) is None
    assert take(engine, world, "a", at(2, 21)) is None
    # The zone passed in counts when the campaign names none: 22:00 in Shanghai is 14:00 UTC,
    # 14:00 in London.
    assert take(engine, world, "b", at(1, 22), timezone="Europe/London") == only
    with Session(engine) as session:
        release_case(session, only, world["staff"]["b"], at(1, 22))
    assert take(engine, world, "a", at(2, 9)) == only
    # Not reached at 20:00: three hours later is 23:00, so the retry waits for 09:00.
    done = record(engine, world, only, "a", "no_answer", at(2, 20))
    assert done.case.next_call_at == at(3, 9)
    assert take(engine, world, "a", at(2, 23, 30)) is None
    assert take(engine, world, "a", at(3, 9)) == only


def test_attempt_limit_ends_cases_with_the_most_informative_disposition(
    engine, sample_questionnaire
):
    world = make_world(
        engine,
        sample_questionnaire,
        n=2,
        calling={"max_attempts": 3, "retry_minutes": {"soft_refusal": 60}},
    )
    refused, never = world["cases"]
    # Day 1: both called twice; day 2: the third and last call.
    histories = {refused: ["no_answer", "soft_refusal", "no_answer"], never: ["no_answer"] * 3}
    calls = [at(1, 10), at(1, 14), at(2, 10)]
    for number, when in enumerate(calls):
        for _ in histories:
            case_id = take(engine, world, "a", when)
            done = record(engine, world, case_id, "a", histories[case_id][number], when)
            assert done.case.attempts == number + 1
            assert done.case.status == ("final" if number == 2 else "open")
    assert case_row(engine, refused).final_disposition == "2.11"
    assert case_row(engine, never).final_disposition == "3.13"
    assert take(engine, world, "a", at(5, 10)) is None
    with Session(engine) as session:
        count = session.execute(select(func.count()).select_from(CallAttempt)).scalar()
        assert count == 6


def test_final_outcomes_end_a_case_at_once(engine, world):
    first, second, third = world["cases"]
    for case_id, outcome, code in (
        (first, "wrong_number", "4.41"),
        (second, "language_barrier", "2.33"),
        (third, "hard_refusal", "2.11"),
    ):
        assert take(engine, world, "a", at(1, 10)) == case_id
        done = record(engine, world, case_id, "a", outcome, at(1, 10), notes="said so")
        assert (done.case.status, done.case.final_disposition) == ("final", code)
        assert done.case.next_call_at is None and done.attempt.notes == "said so"
    assert take(engine, world, "a", at(2, 10)) is None


def test_follow_ups_come_before_interviews_and_are_called_while_the_campaign_is_paused(
    engine, world
):
    with Session(engine) as session:
        campaign = session.get(Campaign, world["campaign_id"])
        counts = create_call_cases(
            session, campaign, [world["customers"][3]], kind="follow_up", now=at(1, 9, 30)
        )
        assert counts["created"] == 1
        again = create_call_cases(session, campaign, [world["customers"][3]], kind="follow_up")
        assert again == {"created": 0, "no_consent": 0, "already_queued": 1}
        follow_up = session.execute(
            select(CallCase.id).where(CallCase.kind == "follow_up")
        ).scalar_one()
    # Created after the interviews, served before them.
    assert take(engine, world, "a", at(1, 10)) == follow_up
    with Session(engine) as session:
        change_status(session, session.get(Campaign, world["campaign_id"]), "pause")
    assert take(engine, world, "b", at(1, 10)) is None  # interviews wait while paused
    record(engine, world, follow_up, "a", "no_answer", at(1, 10))
    assert take(engine, world, "b", at(1, 13)) == follow_up
    # Reached: a follow-up has no questionnaire, so its complete needs no interview.
    done = record(engine, world, follow_up, "b", "complete", at(1, 13, 10))
    assert (done.case.status, done.case.final_disposition) == ("final", "1.1")
    assert case_row(engine, follow_up).priority == 100


def test_a_follow_up_outside_any_campaign_follows_the_default_rules(engine, world):
    # As survey.remedy.rules opens them: no campaign, due at once, priority above interviews.
    with Session(engine) as session:
        row = CallCase(customer_id=world["customers"][4], kind="follow_up", priority=100,
                       next_call_at=at(1, 21, 30), created_at=at(1, 21, 30))  # fmt: skip
        session.add(row)
        session.commit()
        follow_up = row.id
    assert take(engine, world, "a", at(1, 21, 31)) is None  # after 21:00 local
    assert take(engine, world, "a", at(2, 9)) == follow_up


def test_only_the_holder_records_and_an_expired_hold_can_be_taken(engine, world):
    first = world["cases"][0]
    assert take(engine, world, "a", at(1, 10)) == first
    with pytest.raises(CaseNotHeld, match="not held by staff"):
        record(engine, world, first, "b", "no_answer", at(1, 10, 5))
    with pytest.raises(OutcomeError, match="use one of"):
        record(engine, world, first, "a", "hung_up", at(1, 10, 5))
    # A renews the hold while working (to 10:35): B gets another case until it runs out.
    with Session(engine) as session:
        extend_hold(session, first, world["staff"]["a"], at(1, 10, 15))
    second = take(engine, world, "b", at(1, 10, 34))
    assert second == world["cases"][1]
    record(engine, world, second, "b", "no_answer", at(1, 10, 35))
    assert take(engine, world, "b", at(1, 10, 36)) == first
    with pytest.raises(CaseNotHeld):
        record(engine, world, first, "a", "no_answer", at(1, 10, 37))
    done = record(engine, world, first, "b", "no_answer", at(1, 10, 37))
    assert done.attempt.interviewer_id == world["staff"]["b"]


def test_create_call_cases_needs_the_cati_channel_and_consent(engine, sample_questionnaire):
    world = make_world(engine, sample_questionnaire, n=1)
    with Session(engine) as session:
        campaign = session.get(Campaign, world["campaign_id"])
        sms_only = create_campaign(
            session, campaign.questionnaire_version_id, "SMS", message={"zh": "请评价：{link}"}
        )
        with pytest.raises(CampaignError, match="no cati channel"):
            create_call_cases(session, sms_only, world["customers"][:1])
        customer = session.get(Customer, world["customers"][2])
        customer.consent = False
        session.add(customer)
        session.commit()
        counts = create_call_cases(session, campaign, world["customers"][:3])
        assert counts == {"created": 1, "no_consent": 1, "already_queued": 1}
        with pytest.raises(ValueError, match="max_attempts is 0"):
            create_campaign(
                session,
                campaign.questionnaire_version_id,
                "x",
                channels=["cati"],
                calling={"max_attempts": 0},
            )


# --- the interview ----------------------------------------------------------------------------


def required_items(link):
    return [item.name for item in link.questionnaire.items if item.required]


def test_a_stopped_interview_is_a_break_off_or_a_partial_by_the_threshold_set_in_advance(
    engine, sample_questionnaire
):
    world = make_world(engine, sample_questionnaire, n=2)
    short, long = world["cases"]
    a = world["staff"]["a"]
    for case_id, answered in ((short, 5), (long, 20)):
        assert take(engine, world, "a", at(1, 10)) == case_id
        with Session(engine) as session:
            response = start_phone_interview(session, case_id, a, at(1, 10))
            assert (response.channel, response.interviewer) == ("cati", "a")
            response_id = response.id
            link = open_phone_interview(session, case_id, a)
            assert link.mode == "interviewer" and link.invitation is None
            # Even "partial" asked by the interviewer is decided by the share answered.
            values = {name: "4" for name in required_items(link)[:answered]}
            assert save_answers(session, link, values, language="zh", complete=False)
            with pytest.raises(CatiError, match="a complete needs the case's interview"):
                record_attempt(session, case_id, a, "complete", at(1, 10, 8))
            done = record_attempt(session, case_id, a, "partial", at(1, 10, 8))
        expected = ("break_off", "2.12") if answered == 5 else ("partial", "1.2")
        assert (done.attempt.outcome, done.attempt.disposition) == expected
        assert done.attempt.response_id == response_id == done.case.response_id
        assert done.case.status == "open"
        assert done.case.next_call_at == at(2, 10, 8)  # a day later, to finish


def test_full_cycle_over_three_days_ends_with_a_complete(engine, sample_questionnaire):
    world = make_world(engine, sample_questionnaire, n=1)
    (only,) = world["cases"]
    a, b = world["staff"]["a"], world["staff"]["b"]
    # Day 1: no answer in the morning; in the afternoon the customer asks for tomorrow 19:00.
    assert take(engine, world, "a", at(1, 10)) == only
    record(engine, world, only, "a", "no_answer", at(1, 10, 1))
    assert take(engine, world, "a", at(1, 13)) is None
    assert take(engine, world, "a", at(1, 13, 1)) == only
    record(engine, world, only, "a", "appointment", at(1, 13, 3), appointment_at=at(2, 19))
    # Day 2, 19:00: B calls, the interview starts and breaks off early.
    assert take(engine, world, "b", at(2, 18, 59)) is None
    assert take(engine, world, "b", at(2, 19)) == only
    with Session(engine) as session:
        response_id = start_phone_interview(session, only, b, at(2, 19, 1)).id
        link = open_phone_interview(session, only, b)
        names = required_items(link)
        first_three = {name: "5" for name in names[:3]}
        save_answers(session, link, first_three, language="zh", complete=False)
        record_attempt(session, only, b, "break_off", at(2, 19, 6), started_at=at(2, 19))
    # Day 3: A calls back; the same interview continues where it stopped, and completes.
    assert take(engine, world, "a", at(3, 19, 5)) is None  # a day after the break-off
    assert take(engine, world, "a", at(3, 19, 6)) == only
    with Session(engine) as session:
        again = start_phone_interview(session, only, a, at(3, 19, 5))
        assert again.id == response_id
        link = open_phone_interview(session, only, a)
        assert len([v for v in link.answers.values() if v is not None]) == 3
        rest = {name: "4" for name in names[3:]}
        assert save_answers(session, link, rest, language="zh", complete=True)
        done = record_attempt(session, only, a, "complete", at(3, 19, 20), started_at=at(3, 19, 5))
        assert (done.case.status, done.case.final_disposition) == ("final", "1.1")
        assert session.get(Response, response_id).status == "completed"
        outcomes = session.execute(
            select(CallAttempt.outcome, CallAttempt.disposition, CallAttempt.interviewer_id)
            .where(CallAttempt.case_id == only)
            .order_by(CallAttempt.id)
        ).all()
    assert [tuple(row) for row in outcomes] == [
        ("no_answer", "3.13", a),
        ("appointment", "2.21", a),
        ("break_off", "2.12", b),
        ("complete", "1.1", a),
    ]
    assert take(engine, world, "a", at(4, 10)) is None


# --- two interviewers at once -----------------------------------------------------------------


def test_two_interviewers_asking_at_the_same_moment_never_get_the_same_case(
    engine, sample_questionnaire
):
    rounds = 15
    world = make_world(engine, sample_questionnaire, n=2 * rounds)
    barrier = threading.Barrier(2, timeout=30)
    got: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    now = at(1, 10)

    def work(who: str) -> None:
        try:
            with Session(engine) as session:
                staff_id = world["staff"][who]
                for _ in range(rounds):
                    barrier.wait()
                    case = next_case(session, staff_id, now)
                    assert case is not None
                    # Asking again while holding it gives the same case back.
                    assert next_case(session, staff_id, now).id == case.id
                    got[who].append(case.id)
                    barrier.wait()  # both hold a case now: any overlap would show here
                    record_attempt(session, case.id, staff_id, "hard_refusal", now)
        except (AssertionError, CatiError, SQLAlchemyError, threading.BrokenBarrierError) as error:
            # Reported below; the barrier is broken so that the other thread stops too.
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(who,)) for who in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(got["a"]) == len(got["b"]) == rounds
    assert not set(got["a"]) & set(got["b"])
    assert sorted(got["a"] + got["b"]) == world["cases"]
    with Session(engine) as session:
        by_case = session.execute(
            select(CallAttempt.case_id, func.count()).group_by(CallAttempt.case_id)
        ).all()
    assert {count for _, count in by_case} == {1} and len(by_case) == 2 * rounds


# --- supervisors ------------------------------------------------------------------------------


def test_a_supervisor_reassigns_a_held_case_and_the_previous_holder_cannot_record_it(engine, world):
    first, second, _ = world["cases"]
    staff = world["staff"]
    assert take(engine, world, "a", at(1, 10)) == first
    with Session(engine) as session:
        with pytest.raises(CatiError, match="not an active supervisor"):
            reassign_case(session, first, staff["b"], staff["a"], at(1, 10, 1))
        with pytest.raises(CatiError, match="cannot take calls"):
            reassign_case(session, first, staff["analyst"], staff["boss"], at(1, 10, 1))
        moved = reassign_case(session, first, staff["b"], staff["boss"], at(1, 10, 1))
    assert (moved.held_by, moved.held_until) == (staff["b"], at(1, 10, 21))
    with pytest.raises(CaseNotHeld):
        record(engine, world, first, "a", "no_answer", at(1, 10, 2))
    # B's next request returns the case given to them; A gets the next one.
    assert take(engine, world, "b", at(1, 10, 2)) == first
    assert take(engine, world, "a", at(1, 10, 2)) == second
    with Session(engine) as session:
        # A already holds a case: a second one is refused.
        with pytest.raises(CatiError, match="a holds case"):
            reassign_case(session, first, staff["a"], staff["boss"], at(1, 10, 3))
    done = record(engine, world, first, "b", "no_answer", at(1, 10, 4))
    assert done.attempt.interviewer_id == staff["b"]
    with Session(engine) as session:
        record_attempt(session, second, staff["a"], "hard_refusal", at(1, 10, 5))
        with pytest.raises(CatiError, match="already final"):
            reassign_case(session, second, staff["b"], staff["boss"], at(1, 10, 6))


def test_a_supervisor_releases_a_held_case_back_into_the_queue(engine, world):
    first = world["cases"][0]
    assert take(engine, world, "a", at(1, 10)) == first
    with Session(engine) as session:
        assert (
            force_release(session, first, world["staff"]["boss"], at(1, 10, 5))
            == world["staff"]["a"]
        )
        assert force_release(session, first, world["staff"]["boss"], at(1, 10, 5)) is None
    row = case_row(engine, first)
    assert (row.held_by, row.held_until, row.attempts) == (None, None, 0)
    with pytest.raises(CaseNotHeld):
        record(engine, world, first, "a", "no_answer", at(1, 10, 6))
    # Free at once: B gets it although A's hold would have lasted until 10:20.
    assert take(engine, world, "b", at(1, 10, 6)) == first

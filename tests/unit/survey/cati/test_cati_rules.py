"""Calling rules of phone interviews, call outcomes, and final dispositions from call histories."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from survey.aapor.dispositions import category_of
from survey.cati.outcomes import OUTCOMES, OutcomeError, final_disposition, outcome
from survey.cati.queue import answered_share
from survey.cati.rules import CallingRules, CallingRulesError, parse_calling

# --- rules ------------------------------------------------------------------------------------


def test_empty_rules_give_the_documented_defaults():
    rules = parse_calling({})
    assert (rules.hours_start, rules.hours_end) == (time(9), time(21))
    assert rules.timezone == "Asia/Shanghai"
    assert rules.max_attempts == 6
    assert rules.min_gap == timedelta(minutes=60)
    assert rules.retry["no_answer"] == timedelta(hours=3)
    assert rules.retry["busy"] == timedelta(minutes=15)
    assert rules.retry["answering_machine"] == timedelta(hours=3)
    assert rules.retry["soft_refusal"] == timedelta(days=7)
    assert rules.partial_threshold == 0.5
    assert rules.hold == timedelta(minutes=20)
    assert rules.ends_case("hard_refusal") and rules.ends_case("complete")
    assert not rules.ends_case("soft_refusal") and not rules.ends_case("no_answer")
    assert parse_calling(None) == rules


def test_rules_override_only_what_they_name_and_round_trip_through_a_dict():
    rules = parse_calling(
        {
            "hours": "08:30-20:00",
            "timezone": "Asia/Urumqi",
            "max_attempts": 4,
            "min_gap_minutes": 30,
            "retry_minutes": {"busy": 5, "soft_refusal": "final"},
            "partial_threshold": 0.8,
            "hold_minutes": 45,
        }
    )
    assert (rules.hours_start, rules.hours_end) == (time(8, 30), time(20))
    assert rules.retry["busy"] == timedelta(minutes=5)
    assert rules.retry["no_answer"] == timedelta(hours=3)  # untouched default
    assert rules.retry["soft_refusal"] is None and rules.ends_case("soft_refusal")
    assert (rules.max_attempts, rules.partial_threshold) == (4, 0.8)
    assert parse_calling(rules.to_dict()) == rules


def test_default_timezone_comes_from_the_caller_unless_the_rules_name_one():
    assert parse_calling({}, timezone="Europe/Berlin").timezone == "Europe/Berlin"
    assert parse_calling({"timezone": "Asia/Tokyo"}, timezone="Europe/Berlin").timezone == (
        "Asia/Tokyo"
    )


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"max_attempt": 3}, "unknown key(s) max_attempt: use hours"),
        ({"hours": "9-21"}, "write HH:MM-HH:MM"),
        ({"hours": "21:00-09:00"}, "end before they start"),
        ({"hours": 9}, "write HH:MM-HH:MM"),
        ({"timezone": "Mars/Olympus"}, "not a known time zone"),
        ({"max_attempts": 0}, "max_attempts is 0: write a whole number from 1 to 50"),
        ({"max_attempts": 2.5}, "whole number"),
        ({"max_attempts": True}, "whole number"),
        ({"min_gap_minutes": -1}, "min_gap_minutes is -1"),
        ({"retry_minutes": {"hard_refusal": 60}}, "not an outcome that can be retried"),
        ({"retry_minutes": {"busy": "soon"}}, 'write minutes (0 or more) or "final"'),
        ({"retry_minutes": [1, 2]}, "write a mapping of outcome to minutes"),
        ({"partial_threshold": 1.5}, "partial_threshold is 1.5"),
        ({"partial_threshold": 0}, "every stopped interview a partial"),
        ({"hold_minutes": 0}, "hold_minutes is 0"),
    ],
)
def test_invalid_rules_say_which_key_is_wrong_and_how_to_fix_it(raw, says):
    with pytest.raises(CallingRulesError) as error:
        parse_calling(raw)
    assert isinstance(error.value, ValueError)
    assert says in str(error.value)


def test_calling_hours_are_local_to_the_customers_time_zone():
    rules = CallingRules()  # 09:00-21:00 Asia/Shanghai (UTC+8)
    assert not rules.within_hours(datetime(2026, 3, 2, 0, 59, tzinfo=UTC))  # 08:59 local
    assert rules.within_hours(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # 09:00 local
    assert rules.within_hours(datetime(2026, 3, 2, 12, 59, tzinfo=UTC))  # 20:59 local
    assert not rules.within_hours(datetime(2026, 3, 2, 13, 0, tzinfo=UTC))  # 21:00 local
    # 22:00 local: the next opening is 09:00 local the next day.
    assert rules.next_opening(datetime(2026, 3, 2, 14, 0, tzinfo=UTC)) == datetime(
        2026, 3, 3, 1, 0, tzinfo=UTC
    )
    inside = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    assert rules.next_opening(inside) == inside


# --- outcomes ---------------------------------------------------------------------------------


def test_every_outcome_has_a_valid_aapor_code_and_a_retry_rule_when_not_final():
    for found in OUTCOMES.values():
        category_of(found.code)  # raises when not an AAPOR code
        assert found.final or found.retry is not None, found.name
    assert outcome("no_answer").code == "3.13"
    assert outcome("busy").code == "3.12"
    assert outcome("language_barrier").code == "2.33"
    assert outcome("quota_filled").code == "4.80"
    with pytest.raises(OutcomeError, match="use one of complete, partial"):
        outcome("hung_up")


# --- final disposition ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "ended_final", "expected"),
    [
        ([], None, "3.11"),  # never called
        (["3.13", "3.13", "1.1"], None, "1.1"),  # complete wins
        (["2.12", "1.2", "3.13"], None, "1.2"),  # a partial over later outcomes
        (["1.2", "2.11"], True, "1.2"),  # a partial even if a hard refusal follows
        (["3.13", "2.11", "3.13", "3.12"], None, "2.11"),  # refusal over later non-contacts
        (["2.11", "2.12"], None, "2.12"),  # within refusals, the latest
        (["3.13", "2.22", "3.12"], None, "2.22"),  # non-contact over unknown
        (["2.22", "2.21", "2.22"], None, "2.21"),  # a person reached over voicemail
        (["3.12", "3.12", "3.12"], None, "3.12"),  # always busy
        (["3.12", "3.13", "3.12"], None, "3.13"),  # busy and no answer: no answer
        (["3.12", "3.16"], None, "3.16"),
        (["3.13", "2.33"], True, "2.33"),  # ended on language barrier
        (["3.13", "4.32"], True, "4.32"),  # disconnected, never reached
        (["2.11", "3.13", "4.32"], True, "2.11"),  # reached once, then disconnected
        (["2.21", "4.41"], True, "2.21"),  # appointment, then the number changed hands
        (["2.11", "4.80"], True, "4.80"),  # quota filled is not about the number
        (["3.13", "2.11"], True, "2.11"),  # hard refusal
    ],
)
def test_final_disposition_follows_the_documented_rules(codes, ended_final, expected):
    assert final_disposition(codes, ended_final=ended_final) == expected


def test_final_disposition_reads_attempt_rows():
    class Row:
        def __init__(self, disposition):
            self.disposition = disposition

    assert final_disposition([Row("3.13"), Row("2.11"), Row("3.13")]) == "2.11"


# --- partial versus break-off -----------------------------------------------------------------


def test_answered_share_counts_required_questions_and_not_refusals(sample_questionnaire):
    # The sample offers interviewers "refused" (7) and "don't know" (8) on its scales.
    with_refused = sample_questionnaire
    required = [i.name for i in with_refused.items if i.required]
    assert answered_share(with_refused, {}) == 0
    half = {name: "4" for name in required[: len(required) // 2]}
    assert answered_share(with_refused, half) == pytest.approx((len(required) // 2) / len(required))
    # "Cannot answer" (6) is an answer; "refused" (7) is not; a blank is not.
    first = required[0]
    assert answered_share(with_refused, {first: "6"}) == pytest.approx(1 / len(required))
    assert answered_share(with_refused, {first: "7"}) == 0
    assert answered_share(with_refused, {first: None}) == 0
    assert answered_share(with_refused, {name: "3" for name in required}) == 1

"""The simulated week of hotline contacts: its shape, its fictional numbers, its truth."""

from __future__ import annotations

import numpy as np
import phonenumbers
import pytest

from survey.synthetic.contacts import (
    AGENT_TRUTH_COLUMNS,
    CONTACT_COLUMNS,
    REPLY_COLUMNS,
    fiction_phones,
    max_fiction_numbers,
    simulate_contacts,
)


@pytest.fixture(scope="module")
def week():
    return simulate_contacts(n=20_000, agents=60, teams=6, seed=3)


def test_the_week_has_the_contact_event_fields_and_one_row_per_contact(week):
    contacts = week.contacts
    assert tuple(contacts.columns) == CONTACT_COLUMNS
    assert tuple(week.replies.columns) == REPLY_COLUMNS
    assert tuple(week.agents.columns) == AGENT_TRUTH_COLUMNS
    assert len(contacts) == 20_000 and contacts["contact_id"].is_unique
    assert contacts["ended_at"].is_monotonic_increasing
    span = contacts["ended_at"].max() - contacts["ended_at"].min()
    assert span.days == 6  # seven calendar days
    assert set(contacts["channel"]) == {"hotline", "hall", "online"}
    assert contacts["channel"].value_counts(normalize=True)["hotline"] > 0.6
    assert set(contacts["queue"]) == {"billing", "network", "complaints", "general"}
    # Halls only for hall contacts.
    assert contacts.loc[contacts["channel"] == "hall", "service_hall"].notna().all()
    assert contacts.loc[contacts["channel"] != "hall", "service_hall"].isna().all()


def test_nights_are_quiet_and_mornings_busy(week):
    hours = week.contacts["ended_at"].dt.hour.value_counts()
    assert hours[10] > 10 * hours[3]


def test_some_customers_call_two_to_five_times(week):
    calls = week.contacts["phone"].value_counts()
    assert 0.2 < (calls > 1).mean() < 0.45
    assert calls.max() <= 5


def test_replies_come_from_about_a_quarter_and_after_the_contact(week):
    rate = len(week.replies) / len(week.contacts)
    assert 0.15 < rate < 0.35
    assert set(week.replies["digit"]) == {"1", "2", "3"}
    joined = week.replies.merge(week.contacts, on="contact_id")
    assert (joined["replied_at"] > joined["ended_at"]).all()
    typed = week.replies["text"] != week.replies["digit"]
    assert typed.any() and (week.replies.loc[typed, "digit"] == "3").all()


def test_the_truth_adds_team_and_agent_effects_and_counts_each_agents_contacts(week):
    agents = week.agents
    assert np.allclose(agents["true_effect"], agents["team_effect"] + agents["agent_effect"])
    assert agents["contacts"].sum() == len(week.contacts)
    assert agents["replies"].sum() == len(week.replies)
    counted = week.contacts["agent_id"].value_counts()
    assert (agents.set_index("agent_id")["contacts"][counted.index] == counted).all()
    # Better agents are truly more often satisfied.
    assert np.corrcoef(agents["true_effect"], agents["true_satisfaction_rate"])[0, 1] > 0.7


def test_the_same_seed_gives_the_same_week_and_another_seed_another():
    a = simulate_contacts(n=2000, agents=20, teams=4, seed=1)
    b = simulate_contacts(n=2000, agents=20, teams=4, seed=1)
    c = simulate_contacts(n=2000, agents=20, teams=4, seed=2)
    assert a.contacts.equals(b.contacts) and a.replies.equals(b.replies)
    assert not a.contacts["phone"].equals(c.contacts["phone"])


def test_phone_numbers_are_distinct_valid_and_in_ranges_reserved_for_fiction():
    numbers = fiction_phones(max_fiction_numbers())
    assert len(set(numbers)) == max_fiction_numbers() == 125_100
    for number in numbers[::997]:
        assert phonenumbers.is_valid_number(phonenumbers.parse(number))
        assert (
            number[5:10] == "55501" if number.startswith("+1") else number[4:8] in ("5550", "7010")
        )
    with pytest.raises(ValueError, match="fictional numbers"):
        fiction_phones(max_fiction_numbers() + 1)

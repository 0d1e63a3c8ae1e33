"""What a batch reads of its programme is current: a change of rate, of the campaign's
message or of state is seen by the very next batch (what is kept between batches is keyed on
what is read in each), on SQLite and PostgreSQL; and the attributes' size check answers as
writing their JSON would."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import select
from sqlmodel import Session

from survey.db.tables import Campaign, OutboundSms, Programme
from survey.programmes.decide import _MAX_ATTRIBUTES, _json_size
from survey.programmes.manage import change_state, find_programme
from tests.unit.survey.programmes.test_decide import contact, decide, make_programme


def edit(engine, **changes):
    with Session(engine) as session:
        programme = session.execute(select(Programme)).scalar_one()
        for name, value in changes.items():
            setattr(programme, name, value)
        session.add(programme)
        session.commit()


def test_a_changed_rate_is_used_by_the_next_batch(engine):
    make_programme(engine, sample_rate=1.0)
    assert [r.decision for r in decide(engine, [contact(1)])] == ["invited"]
    edit(engine, default_rate=0.0)
    assert [r.reason for r in decide(engine, [contact(2)])] == [
        "not drawn at the rate 0 of the programme"
    ]
    edit(engine, queue_rates={"billing": 1.0})
    assert [r.reason for r in decide(engine, [contact(3)])] == [
        "drawn at the rate 1 of queue billing"
    ]


def test_a_changed_message_is_sent_from_the_next_batch(engine):
    make_programme(engine, sample_rate=1.0)
    decide(engine, [contact(1)])
    with Session(engine) as session:
        campaign = session.execute(select(Campaign)).scalar_one()
        campaign.message = {"zh": "新的问候", "en": "New greeting"}
        session.add(campaign)
        session.commit()
    decide(engine, [contact(2), contact(3, attributes={"language": "en"})])
    with Session(engine) as session:
        bodies = session.execute(select(OutboundSms.body).order_by(OutboundSms.id)).scalars().all()
    assert not bodies[0].startswith("新的问候")
    assert bodies[1].startswith("新的问候\n") and bodies[2].startswith("New greeting\n")


def test_a_programme_paused_after_a_batch_refuses_the_next(engine):
    from survey.errors import Conflict

    make_programme(engine)
    decide(engine, [contact(1)])
    with Session(engine) as session:
        change_state(session, find_programme(session, "hotline"), "pause")
    with pytest.raises(Conflict, match="paused: resume it"):
        decide(engine, [contact(2)])
    with Session(engine) as session:
        change_state(session, find_programme(session, "hotline"), "resume")
    assert [r.decision for r in decide(engine, [contact(2)])] == ["invited"]


def _attributes(generator: random.Random) -> dict:
    alphabet = ["a", "é", "话", "\x01", "\n", '"', "\\", "\u2028", "😀"]
    attributes = {}
    for _ in range(generator.randrange(0, 12)):
        name = "".join(generator.choices(alphabet, k=generator.randrange(1, 80)))
        kind = generator.randrange(6)
        if kind == 0:
            value = "".join(generator.choices(alphabet, k=generator.randrange(0, 900)))
        elif kind == 1:
            value = generator.choice([0, -1, 10**17, -(10**18) + 1, 10**18, 10**30])
        elif kind == 2:
            value = generator.choice(
                [0.1, -2.2250738585072014e-308, 1e308, float("inf"), float("nan")]
            )
        elif kind == 3:
            value = generator.choice([True, False, None])
        elif kind == 4:
            value = {"nested": "x" * generator.randrange(0, 50)}
        else:
            value = [1, "two"]
        attributes[name] = value
    return attributes


def test_the_attributes_size_check_decides_as_their_json_length_would():
    generator = random.Random(20260715)
    for _ in range(3000):
        attributes = _attributes(generator)
        try:
            exact = len(json.dumps(attributes, ensure_ascii=False, allow_nan=False))
        except ValueError:
            with pytest.raises(ValueError):
                _json_size(attributes)
            continue
        size = _json_size(attributes)
        assert (size > _MAX_ATTRIBUTES) == (exact > _MAX_ATTRIBUTES), attributes
        assert size >= exact
        if size > _MAX_ATTRIBUTES:
            assert size == exact  # the reason quotes it


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_number_json_has_not_makes_the_event_invalid_on_every_database(engine, number):
    # PostgreSQL's json type refuses NaN and the infinities that Python's JSON writes
    make_programme(engine, sample_rate=1.0)
    results = decide(engine, [contact(1, attributes={"score": number}), contact(2)])
    assert [(r.decision, r.reason) for r in results] == [
        ("invalid", "attributes: give values that are text, numbers, true/false or null"),
        ("invited", "drawn at the rate 1 of the programme"),
    ]

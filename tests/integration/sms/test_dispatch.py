"""The SMS outbox and its dispatchers on SQLite and PostgreSQL, with a movable clock."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from survey.answering.links import invitation_token, token_hash
from survey.campaigns.lifecycle import CampaignError, change_status, create_campaign, invite
from survey.db.tables import Campaign, Customer, DispatcherLease, Invitation, OptOut, OutboundSms
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.sms.dispatch import Dispatcher
from survey.sms.transport import (
    PermanentReason,
    PermanentSendError,
    RetryableSendError,
    SendReceipt,
    UncertainSendError,
)

SECRET = "s" * 40
BASE = "https://survey.example.org"
# 10:00 in Shanghai: inside the sending hours.
MORNING = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += timedelta(seconds=seconds)


class RecordingTransport:
    """Stands in for a provider: records sends and fails on request."""

    def __init__(self, clock=None) -> None:
        self.sent: list[tuple[str, str, datetime | None]] = []
        self.failures: dict[str, list[Exception]] = {}
        self.clock = clock
        self.lock = threading.Lock()

    def send(self, message):
        with self.lock:
            queue = self.failures.get(message.to)
            if queue:
                raise queue.pop(0)
            self.sent.append((message.to, message.body, self.clock() if self.clock else None))
            return SendReceipt(f"SM{len(self.sent):032x}", "queued", 1)

    def find_sent(self, to, body, since):
        with self.lock:
            for number, text, _ in self.sent:
                if number == to and text == body:
                    return SendReceipt("SMfound", "sent", 1)
        return None


@pytest.fixture
def world(engine, sample_questionnaire):
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame = store_frame(session, generate_frame(200, seed=5), "f", "test")
        customers = list(
            session.execute(select(Customer).where(Customer.frame_id == frame.id)).scalars()
        )
        for c in customers:
            c.consent = True
            c.language = "zh"
            session.add(c)
        session.commit()
        campaign = create_campaign(
            session, version.id, "March",
            message={"zh": "请评价我们的服务：{link}", "en": "Rate us: {link}"},
            rate_per_second=5.0,
        )  # fmt: skip
        return {"campaign_id": campaign.id, "customers": [c.id for c in customers],
                "phones": {c.id: c.phone_e164 for c in customers}}  # fmt: skip


def launch(engine, world, n=20, now=MORNING, **kwargs):
    with Session(engine) as session:
        campaign = session.get(Campaign, world["campaign_id"])
        for key, value in kwargs.items():
            setattr(campaign, key, value)
        session.add(campaign)
        session.commit()
        counts = invite(session, campaign, world["customers"][:n], secret=SECRET,
                        public_base_url=BASE, timezone="Asia/Shanghai", now=now)  # fmt: skip
        change_status(session, campaign, "launch")
    return counts


def dispatcher(engine, transport, clock, worker="w1", **kwargs):
    return Dispatcher(engine=engine, transport=transport, worker_id=worker, secret=SECRET,
                      public_base_url=BASE, clock=clock, sleep=clock.sleep, **kwargs)  # fmt: skip


def statuses(engine) -> Counter:
    with Session(engine) as session:
        return Counter(session.execute(select(OutboundSms.status)).scalars())


def test_each_invitation_is_sent_once_with_its_own_single_use_link(engine, world):
    clock = Clock(MORNING)
    transport = RecordingTransport()
    assert launch(engine, world)["invited"] == 20
    dispatcher(engine, transport, clock).run(until_idle=True)
    assert len(transport.sent) == 20
    assert Counter(to for to, _, _ in transport.sent).most_common(1)[0][1] == 1
    with Session(engine) as session:
        invitations = list(session.execute(select(Invitation)).scalars())
        bodies = list(session.execute(select(OutboundSms.body)).scalars())
    by_phone = {to: body for to, body, _ in transport.sent}
    for invitation in invitations:
        token = invitation_token(SECRET, invitation.id)
        assert len(token) >= 22  # 128 bits, URL-safe
        assert invitation.token_hash == token_hash(token)
        assert by_phone[world["phones"][invitation.customer_id]].endswith(f"{BASE}/s/{token}")
        assert invitation.status == "invited"
    # The database holds the template, never the link token.
    assert all(body == "请评价我们的服务：{link}" for body in bodies)


def test_quiet_hours_defer_to_eight_in_the_morning_local_time(engine, world):
    evening = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    clock = Clock(evening)
    transport = RecordingTransport(clock)
    launch(engine, world, n=5, now=evening)
    d = dispatcher(engine, transport, clock)
    d.run_once()
    assert transport.sent == [] and statuses(engine) == {"pending": 5}
    with Session(engine) as session:
        not_before = set(session.execute(select(OutboundSms.not_before)).scalars())
    assert not_before == {datetime(2026, 3, 3, 0, 0, tzinfo=UTC)}  # 08:00 local
    clock.now = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    d.run(until_idle=True)
    assert len(transport.sent) == 5
    assert all(t >= datetime(2026, 3, 3, 0, 0, tzinfo=UTC) for _, _, t in transport.sent)


def test_rate_limit_spaces_sends_on_the_campaign_clock(engine, world):
    clock = Clock(MORNING)
    transport = RecordingTransport(clock)
    launch(engine, world, n=30)  # 5 per second
    dispatcher(engine, transport, clock, batch_size=7).run(until_idle=True)
    times = sorted(t for _, _, t in transport.sent)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.2, abs=1e-6)
    assert (times[-1] - times[0]).total_seconds() == pytest.approx(29 * 0.2, abs=1e-6)


def test_opted_out_numbers_get_nothing_even_if_they_opt_out_after_inviting(engine, world):
    clock = Clock(MORNING)
    transport = RecordingTransport()
    with Session(engine) as session:
        session.add(OptOut(phone_e164=world["phones"][world["customers"][0]], keyword="TD",
                           source="sms"))  # fmt: skip
        session.commit()
    counts = launch(engine, world, n=5)
    assert counts["opted_out"] == 1 and counts["invited"] == 4
    with Session(engine) as session:  # opts out between invitation and sending
        session.add(OptOut(phone_e164=world["phones"][world["customers"][1]], keyword="STOP",
                           source="sms"))  # fmt: skip
        session.commit()
    dispatcher(engine, transport, clock).run(until_idle=True)
    assert len(transport.sent) == 3
    assert statuses(engine) == {"sent": 3, "skipped": 1}


def test_an_opted_out_number_gets_its_confirmation_and_help_but_no_follow_up_question(
    engine, world
):
    clock = Clock(MORNING)
    transport = RecordingTransport()
    phone = world["phones"][world["customers"][0]]
    with Session(engine) as session:
        session.add(OptOut(phone_e164=phone, keyword="TD", source="sms"))
        for sequence, kind in enumerate(("question", "opt_out_confirmation", "help", "thanks")):
            session.add(OutboundSms(campaign_id=world["campaign_id"], kind=kind,
                                    sequence=sequence, to_phone=phone, body=kind,
                                    timezone="Asia/Shanghai", not_before=MORNING))  # fmt: skip
        session.commit()
        change_status(session, session.get(Campaign, world["campaign_id"]), "launch")
    dispatcher(engine, transport, clock).run(until_idle=True)
    assert sorted(body for _, body, _ in transport.sent) == ["help", "opt_out_confirmation"]
    with Session(engine) as session:
        skipped = session.execute(
            select(OutboundSms.kind).where(OutboundSms.status == "skipped")
        ).scalars()
        assert sorted(skipped) == ["question", "thanks"]


def test_retryable_errors_come_back_later_and_permanent_ones_fail(engine, world):
    clock = Clock(MORNING)
    transport = RecordingTransport()
    launch(engine, world, n=3)
    a, b, c = (world["phones"][i] for i in world["customers"][:3])
    transport.failures[a] = [RetryableSendError("429", "too many requests", retry_after=60)]
    transport.failures[b] = [
        PermanentSendError("21610", "unsubscribed recipient", reason=PermanentReason.OPTED_OUT)
    ]
    transport.failures[c] = [RetryableSendError("500", "server error", None)] * 5
    d = dispatcher(engine, transport, clock, max_attempts=5, backoff_seconds=1)
    d.run(until_idle=True)
    for _ in range(10):  # let the retry times come due
        clock.sleep(120)
        d.run(until_idle=True)
    assert [to for to, _, _ in transport.sent] == [a]
    with Session(engine) as session:
        rows = {r.to_phone: r for r in session.execute(select(OutboundSms)).scalars()}
        assert session.get(OptOut, b) is not None  # the carrier's opt-out is recorded
    assert rows[a].status == "sent" and rows[a].attempts == 2
    assert rows[b].status == "failed" and rows[b].error_code == "21610"
    assert rows[c].status == "failed" and rows[c].attempts == 5


def test_a_send_without_answer_is_reported_uncertain_not_repeated(engine, world):
    clock = Clock(MORNING)
    transport = RecordingTransport()
    launch(engine, world, n=1)
    transport.failures[world["phones"][world["customers"][0]]] = [UncertainSendError("timeout")]
    d = dispatcher(engine, transport, clock)
    d.run(until_idle=True)
    clock.sleep(3600)
    d.run(until_idle=True)
    assert transport.sent == [] and statuses(engine) == {"uncertain": 1}


def test_paused_campaign_sends_nothing_until_resumed(engine, world):
    clock = Clock(MORNING)
    transport = RecordingTransport()
    launch(engine, world, n=4)
    with Session(engine) as session:
        change_status(session, session.get(Campaign, world["campaign_id"]), "pause")
    d = dispatcher(engine, transport, clock)
    d.run(until_idle=True)
    assert transport.sent == []
    with Session(engine) as session:
        change_status(session, session.get(Campaign, world["campaign_id"]), "resume")
        with pytest.raises(CampaignError, match="cannot launch a running campaign"):
            change_status(session, session.get(Campaign, world["campaign_id"]), "launch")
    d.run(until_idle=True)
    assert len(transport.sent) == 4


def test_work_of_a_dead_dispatcher_is_taken_back_and_reconciled(engine, world):
    clock = Clock(MORNING)
    transport = RecordingTransport()
    launch(engine, world, n=6)
    dead = dispatcher(engine, transport, clock, worker="dead", batch_size=6)
    dead.heartbeat()
    ids = dead.claim()
    # "dead" handed the first message to the provider, then was killed; it had marked a
    # second one sending but the provider never got it.
    first, second = ids[0], ids[1]
    with Session(engine) as session:
        rows = {r.id: r for r in session.execute(select(OutboundSms)).scalars()}
    transport.send(type("M", (), {"to": rows[first].to_phone,
                                  "body": dead._render(rows[first])})())  # fmt: skip
    with Session(engine) as session:
        session.execute(update(OutboundSms).where(OutboundSms.id.in_([first, second]))
                        .values(status="sending", sending_at=clock()))  # fmt: skip
        session.commit()
    clock.sleep(60)  # the lease (30 s) runs out
    alive = dispatcher(engine, transport, clock, worker="alive")
    alive.run(until_idle=True)
    per_number = Counter(to for to, _, _ in transport.sent)
    assert set(per_number.values()) == {1} and len(per_number) == 5
    with Session(engine) as session:
        rows = {r.id: r for r in session.execute(select(OutboundSms)).scalars()}
        assert session.get(DispatcherLease, "dead") is None
    assert rows[first].status == "sent"  # found in the provider's log
    assert rows[second].status == "uncertain"  # not found: reported, not resent
    assert alive.stats.reconciled == 1 and alive.stats.uncertain == 1


def test_two_dispatchers_in_parallel_never_send_one_message_twice(engine, world):
    clock = Clock(MORNING)
    transport = RecordingTransport()
    with Session(engine) as session:
        campaign = session.get(Campaign, world["campaign_id"])
        campaign.rate_per_second = 10_000.0
        session.add(campaign)
        session.commit()
    launch(engine, world, n=200)
    # The first sender waits (up to 5 s of real time) until the other worker also holds a
    # batch, so the test really runs two claims side by side; otherwise one thread can
    # drain the queue before the other is scheduled.
    send, senders = transport.send, set()

    def send_side_by_side(message):
        senders.add(threading.current_thread().name)
        deadline = time.monotonic() + 5
        while len(senders) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        return send(message)

    transport.send = send_side_by_side
    workers = [dispatcher(engine, transport, clock, worker=f"w{i}", batch_size=5)
               for i in range(2)]  # fmt: skip
    threads = [threading.Thread(target=w.run, kwargs={"until_idle": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    per_number = Counter(to for to, _, _ in transport.sent)
    assert len(per_number) == 200 and set(per_number.values()) == {1}
    assert all(w.stats.sent > 0 for w in workers), [w.stats for w in workers]  # both took part
    assert statuses(engine) == {"sent": 200}


def test_campaign_settings_are_checked(engine, world):
    with Session(engine) as session:
        with pytest.raises(CampaignError, match="link"):
            create_campaign(session, 1, "x", message={"zh": "没有链接"})
        with pytest.raises(CampaignError, match="channel"):
            create_campaign(session, 1, "x", channels=["fax"])
        with pytest.raises(ValueError, match="HH:MM"):
            create_campaign(session, 1, "x", message={"zh": "{link}"}, quiet_start="9pm")

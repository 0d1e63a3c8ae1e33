"""``manyi contacts consume`` against the real RabbitMQ, on SQLite and PostgreSQL: 20,000
events survive a SIGKILL of the consumer with exactly one decision each and no second
invitation, and a poison message is dead-lettered while the rest is decided.

RabbitMQ at MANYI_TEST_AMQP_URL (default: guest on 127.0.0.1:5672) is optional on a
developer's machine and mandatory when CI=true. Every test uses its own queue, deleted after.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pika
import pika.exceptions
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from survey.db.tables import ContactEvent, Customer, Invitation, OutboundSms
from survey.programmes.consumer import ContactConsumer, dead_letter_queue, declare
from survey.programmes.decide import sample_point
from survey.programmes.manage import create_programme
from survey.questionnaire import load_questionnaire
from survey.questionnaire.publish import publish
from tests.common import SAMPLES, require
from tests.integration.staff_login import SECRET
from tests.service_process import manyi

AMQP_URL = os.environ.get("MANYI_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
EVENTS = 20_000
KILL_AFTER = 5_000
RATE = 0.3
TIMEOUT_S = 180


def consume_command(*args: str) -> list[str]:
    """``manyi contacts consume ARGS``, or the same group run alone while api.cli.main does
    not register it yet."""
    from api.cli.main import app

    if "contacts" in {group.name for group in app.registered_groups}:
        return manyi("contacts", "consume", *args)
    code = "from api.cli.programmes import contacts_app; contacts_app(prog_name='manyi contacts')"
    return [sys.executable, "-c", code, "consume", *args]


def connect() -> pika.BlockingConnection:
    parameters = pika.URLParameters(AMQP_URL)
    parameters.socket_timeout = parameters.blocked_connection_timeout = 3
    parameters.connection_attempts = 1
    return pika.BlockingConnection(parameters)


@pytest.fixture
def queue():
    """A fresh queue and its dead-letter queue, declared as the consumer declares them."""
    try:
        connection = connect()
    except pika.exceptions.AMQPError as error:
        require(False, f"RabbitMQ unreachable at {AMQP_URL}: {error!r}")
    name = f"manyi.test.contacts.{uuid.uuid4().hex[:12]}"
    channel = connection.channel()
    declare(channel, name)
    try:
        yield name
    finally:
        channel = connection.channel()
        channel.queue_delete(name)
        channel.queue_delete(dead_letter_queue(name))
        connection.close()


def publish_all(queue: str, bodies) -> None:
    connection = connect()
    channel = connection.channel()
    persistent = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent,
                                      content_type="application/json")  # fmt: skip
    for body in bodies:
        channel.basic_publish("", queue, body, persistent)
    connection.close()  # the broker has every message once the close is answered


def waiting(queue: str) -> int:
    """Messages ready in ``queue`` (not those handed out and unacknowledged)."""
    connection = connect()
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def dead_letters(queue: str) -> list[bytes]:
    connection = connect()
    channel = connection.channel()
    bodies = []
    while True:
        method, _, body = channel.basic_get(dead_letter_queue(queue), auto_ack=True)
        if method is None:
            break
        bodies.append(body)
    connection.close()
    return bodies


def setup_programme(engine) -> str:
    with Session(engine) as session:
        questionnaire, _ = load_questionnaire(SAMPLES / "contact_evaluation.yaml")
        version = publish(session, questionnaire)
        programme = create_programme(session, version, "hotline", mode="sms_reply",
                                     channels=["hotline", "hall"], sample_rate=RATE)  # fmt: skip
        return programme.sampling_key


def event(i: int, *, phones: int = EVENTS) -> dict:
    ended = datetime.now(UTC) - timedelta(minutes=3)
    return {"contact_id": f"CC-{i:06d}", "phone": f"+86139{i % phones:08d}", "channel": "hotline",
            "ended_at": ended.isoformat(), "agent_id": f"A{i % 50}", "team": f"T{i % 5}",
            "queue": "billing", "region": "Haidian", "service_hall": None,
            "attributes": {"topic": "bill"}}  # fmt: skip


def count(engine, *columns_and_where) -> int:
    with Session(engine) as session:
        return session.execute(
            select(func.count()).select_from(ContactEvent).where(*columns_and_where)
        ).scalar_one()


def wait_for(condition, what: str, process: subprocess.Popen | None = None, log=None) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if process is not None and process.poll() is not None:
            log.seek(0)
            pytest.fail(f"the consumer exited with {process.returncode}:\n{log.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen in {TIMEOUT_S} s")
        time.sleep(0.05)


def test_a_consumer_killed_mid_stream_and_restarted_decides_every_event_once(
    engine, database_url, queue, tmp_path
):
    key = setup_programme(engine)
    # 18,000 numbers for 20,000 contacts: 2,000 customers call twice and are invited once.
    publish_all(queue, (json.dumps(event(i, phones=18_000)).encode() for i in range(EVENTS)))
    env = {**os.environ, "MANYI_DATABASE_URL": database_url, "MANYI_SECRET_KEY": SECRET,
           "MANYI_ENV": "test", "MANYI_AMQP_URL": AMQP_URL}  # fmt: skip
    command = consume_command("--programme", "hotline", "--queue", queue)
    with open(tmp_path / "consumer.log", "w+", encoding="utf-8") as log:
        first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_for(lambda: count(engine) >= KILL_AFTER, f"{KILL_AFTER} decisions", first, log)
        finally:
            first.kill()
            first.wait()
        killed_at = count(engine)
        assert killed_at < EVENTS  # killed mid-stream, with events left in the queue
        started = time.monotonic()
        second = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_for(lambda: count(engine) == EVENTS, "every decision", second, log)
            seconds = time.monotonic() - started
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
        log.seek(0)
        output = log.read()
    print(
        f"{EVENTS - killed_at} events decided in {seconds:.1f} s after the restart "
        f"({(EVENTS - killed_at) / seconds:.0f}/s, {engine.dialect.name})"
    )  # noqa: T201
    assert waiting(queue) == 0, output  # every message acknowledged, none requeued at the stop
    assert dead_letters(queue) == []
    stopped = output.splitlines()[-1]
    assert stopped.startswith(f"consumer of {queue} stopped: ") and "0 dead-lettered" in stopped
    # The killed consumer held unacknowledged messages; the restarted one had them again.
    redelivered = int(re.search(r"\((\d+) redelivered\)", stopped).group(1))
    assert 0 < redelivered <= 500, stopped

    with Session(engine) as session:
        stored = session.execute(
            select(ContactEvent.contact_id, ContactEvent.decision, ContactEvent.source,
                   ContactEvent.invitation_id, ContactEvent.phone_e164)
        ).all()  # fmt: skip
        invitations = session.execute(
            select(Invitation.id, Customer.external_id, Customer.phone_e164)
            .join(Customer, Customer.id == Invitation.customer_id)
        ).all()  # fmt: skip
        outbox = session.execute(select(func.count()).select_from(OutboundSms)).scalar_one()
    assert sorted(r.contact_id for r in stored) == [f"CC-{i:06d}" for i in range(EVENTS)]
    assert {r.source for r in stored} == {"queue"}
    # Each decision is the one the sampling rule gives, whatever batch or process made it.
    drawn = {r.contact_id for r in stored if sample_point(key, r.contact_id) < RATE}
    assert {r.contact_id for r in stored if r.decision == "sampled_out"} == (
        {r.contact_id for r in stored} - drawn
    )
    assert {r.decision for r in stored if r.contact_id in drawn} <= {"invited", "frequency_capped"}
    invited = [r for r in stored if r.decision == "invited"]
    assert 0.25 * EVENTS < len(invited) < 0.32 * EVENTS
    # One invitation, one customer and one message per invited contact; none per number twice.
    assert len(invitations) == len(invited) == outbox
    assert sorted(i.external_id for i in invitations) == sorted(r.contact_id for r in invited)
    assert {r.invitation_id for r in invited} == {i.id for i in invitations}
    assert len({i.phone_e164 for i in invitations}) == len(invitations)
    capped = [r for r in stored if r.decision == "frequency_capped"]
    assert capped and {r.phone_e164 for r in capped} <= {i.phone_e164 for i in invitations}


def test_poison_messages_are_dead_lettered_and_the_rest_is_decided(engine, queue):
    setup_programme(engine)
    bad_phone = {**event(7), "contact_id": "CC-BAD", "phone": "not a number"}
    bodies = [json.dumps(event(i)).encode() for i in range(50)]
    poison = [b"\xff not JSON", b"[1, 2]", json.dumps(bad_phone).encode()]
    if engine.dialect.name == "postgresql":  # its text cannot hold a NUL: the batch is refused
        poison.append(json.dumps({**event(8), "contact_id": "CC-\x00"}).encode())
    bodies[10:10] = poison
    publish_all(queue, bodies)
    stopping = threading.Event()
    consumer = ContactConsumer(engine, "hotline", url=AMQP_URL, queue=queue, secret=SECRET,
                               timezone="Asia/Shanghai", prefetch=20, stop=stopping.is_set,
                               sleep=stopping.wait)  # fmt: skip
    thread = threading.Thread(target=consumer.run)
    thread.start()
    try:
        wait_for(
            lambda: consumer.stats.dead_lettered == len(poison) and count(engine) == 50, "the batch"
        )
    finally:
        stopping.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert sorted(dead_letters(queue)) == sorted(poison)
    assert waiting(queue) == 0
    assert consumer.stats.received == 50 + len(poison) and consumer.stats.batches >= 3
    assert sum(consumer.stats.decisions.values()) == 51  # the invalid event is decided, too
    assert consumer.stats.decisions["invalid"] == 1


def test_the_command_refuses_an_unknown_or_paused_programme_before_consuming(
    engine, database_url, monkeypatch
):
    from typer.testing import CliRunner

    from api.cli.programmes import contacts_app
    from api.settings import get_settings
    from survey.programmes.manage import change_state, find_programme

    monkeypatch.setenv("MANYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MANYI_SECRET_KEY", SECRET)
    monkeypatch.setenv("MANYI_ENV", "test")
    monkeypatch.setenv("MANYI_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2F")  # never reached
    get_settings.cache_clear()
    setup_programme(engine)
    with Session(engine) as session:
        change_state(session, find_programme(session, "hotline"), "pause")
    runner = CliRunner()
    unknown = runner.invoke(contacts_app, ["consume", "--programme", "nope"])
    assert unknown.exit_code == 2 and "no programme named 'nope'" in unknown.output
    paused = runner.invoke(contacts_app, ["consume", "--programme", "hotline"])
    assert paused.exit_code == 2 and "manyi programme resume hotline" in paused.output
    get_settings.cache_clear()

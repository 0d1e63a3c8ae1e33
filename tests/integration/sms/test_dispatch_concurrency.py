"""Done-when of issue 15 (dispatch): messages in flight, against a provider that takes 150 ms.

``manyi dispatch`` processes send through the real Twilio client to the fake Twilio, which
holds every answer 150 ms (a realistic round trip). One message at a time, a dispatcher
could send at most 6.7 a second; these tests ask for 400 and 200.

What is asserted, and what is not: every number receives exactly one message (counted at
the fake), every row the outbox calls sent is at the fake under the SID it recorded, and
the rate measured over the fake's arrival times stays under the campaign's limit (+5%).
How close to the limit one process gets is a speed claim: asserted here only loosely
(at least half the limit, which no one-at-a-time dispatcher can reach: it proves the
messages overlap) because a shared 2-core CI machine runs this test beside others.
``bench/bench_dispatch.py`` measures it (the goal: 0.9x a 400 msg/s limit) against the
one-at-a-time baseline in the same run. With two dispatchers the rate is asserted within
±5% both ways, at a limit low enough (200/s) for one survivor to hold alone.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, select

from survey.db.engine import normalise_url
from survey.db.tables import Invitation, OutboundSms
from survey.frames.sample_frame import generate_frame
from tests.common import SAMPLES
from tests.fakes.fake_twilio import FakeTwilio

DELAY = 0.150
SENDER = "+15005550006"

pytestmark = [pytest.mark.slow]


def manyi(env, *args, timeout=300):
    run = subprocess.run([sys.executable, "-m", "api.cli.main", *args], capture_output=True,
                         text=True, timeout=timeout, env=env, check=False)  # fmt: skip
    assert run.returncode == 0, f"manyi {' '.join(args)}: {run.stdout}\n{run.stderr}"
    return run.stdout


def worker(env, worker_id, log_path, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli.main", "dispatch", "--until-idle", "--worker-id", worker_id,
         "--lease-seconds", "5", *extra],
        stdout=open(log_path, "a"), stderr=subprocess.STDOUT, env=env,  # noqa: SIM115
    )  # fmt: skip


def launch(env, tmp_path, n, rate):
    frame = generate_frame(n, seed=17)
    frame["consent"] = True
    frame.to_csv(tmp_path / "frame.csv", index=False)
    manyi(env, "questionnaire", "publish", str(SAMPLES / "csi_questionnaire.yaml"))
    manyi(env, "frame", "import", str(tmp_path / "frame.csv"), "--name", "contacts")
    manyi(env, "campaign", "create", "--questionnaire", "csi_mobile", "--frame", "contacts",
          "--name", "load", "--sample", str(n), "--rate", str(rate), "--quiet", "none")  # fmt: skip
    assert f"{n} messages queued" in manyi(env, "campaign", "launch", "1")


def environment(database_url, fake):
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "MANYI_ENV": "test",
        "MANYI_SECRET_KEY": "k" * 48,
        "MANYI_DATABASE_URL": database_url,
        "MANYI_SMS_TRANSPORT": "twilio",
        "MANYI_TWILIO_ACCOUNT_SID": fake.account_sid,
        "MANYI_TWILIO_AUTH_TOKEN": fake.auth_token,
        "MANYI_TWILIO_FROM_NUMBER": SENDER,
        "MANYI_TWILIO_BASE_URL": fake.base_url,
    }


def outbox(database_url):
    engine = create_engine(normalise_url(database_url))
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboundSms.to_phone, OutboundSms.status, OutboundSms.provider_message_id,
                   OutboundSms.claimed_by)
        ).all()  # fmt: skip
        invited = Counter(connection.execute(select(Invitation.status)).scalars())
    engine.dispose()
    return rows, invited


def measured_rate(messages) -> float:
    times = sorted(message.created_at for message in messages)
    return (len(times) - 1) / (times[-1] - times[0])


def test_one_dispatcher_keeps_400_a_second_in_flight_against_a_150_ms_provider(
    database_url, tmp_path
):
    n, rate = 2_000, 400.0
    with FakeTwilio(delay=DELAY) as fake:
        env = environment(database_url, fake)
        launch(env, tmp_path, n, rate)
        log = tmp_path / "dispatch.log"
        process = worker(env, "solo", log)
        assert process.wait(timeout=240) == 0, log.read_text()
        messages = fake.messages
    rows, invited = outbox(database_url)

    measured = measured_rate(messages)
    print(f"\n{len(messages)} messages at {measured:.1f}/s for a limit of {rate:g}/s "
          f"({measured / rate:.2f}x), {DELAY * 1000:g} ms a message")  # fmt: skip
    per_number = Counter(message.to for message in messages)
    assert len(per_number) == n and set(per_number.values()) == {1}
    sids = {message.to: message.sid for message in messages}
    assert Counter(row.status for row in rows) == {"sent": n}
    assert all(sids[row.to_phone] == row.provider_message_id for row in rows)
    assert invited["invited"] == n
    assert measured <= rate * 1.05
    assert measured >= rate * 0.5, "the messages did not overlap"


def test_two_dispatchers_with_messages_in_flight_survive_a_sigkill_and_keep_the_rate(
    database_url, tmp_path
):
    n, rate, kill_after = 4_000, 200.0, 1_500
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    with FakeTwilio(delay=DELAY) as fake:
        env = environment(database_url, fake)
        launch(env, tmp_path, n, rate)
        a, b = worker(env, "a", logs["a"]), worker(env, "b", logs["b"])
        deadline = time.monotonic() + 120
        while len(fake.messages) < kill_after:
            assert time.monotonic() < deadline, "the workers did not get going"
            assert a.poll() is None and b.poll() is None, logs["a"].read_text()
            time.sleep(0.02)
        a.send_signal(signal.SIGKILL)  # about 30 messages are with the provider now
        a.wait(timeout=10)
        killed_at = len(fake.messages)
        restarted = worker(env, "a", logs["a"])  # the same id: it takes back its own work
        for process in (b, restarted):
            assert process.wait(timeout=300) == 0, logs["a"].read_text() + logs["b"].read_text()
        messages = fake.messages
    rows, invited = outbox(database_url)

    text = logs["a"].read_text() + logs["b"].read_text()
    reconciled = sum(int(found) for found in re.findall(r"reconciled (\d+)", text))
    per_number = Counter(message.to for message in messages)
    statuses = Counter(row.status for row in rows)
    uncertain = [row.to_phone for row in rows if row.status == "uncertain"]
    measured = measured_rate(messages)
    print(
        f"\n{len(messages)} messages at {measured:.1f}/s for a limit of {rate:g}/s "
        f"({measured / rate - 1:+.2%}); killed after {killed_at}; reconciled from the "
        f"provider's log {reconciled}; uncertain {len(uncertain)}; outbox {dict(statuses)}"
    )
    # Exactly once, and what the outbox calls sent is at the fake under the recorded SID.
    assert max(per_number.values()) == 1
    sids = {message.to: message.sid for message in messages}
    assert all(sids.get(row.to_phone) == row.provider_message_id
               for row in rows if row.status == "sent")  # fmt: skip
    assert statuses["sent"] + len(uncertain) == n and len(rows) == n
    assert invited["invited"] == statuses["sent"]
    # The messages in flight at the kill were found in the provider's log; only rows
    # marked in the last few milliseconds before it and not yet handed over are unknown,
    # and they were not sent again.
    assert reconciled >= 1, text
    assert len(uncertain) <= 10
    assert len(per_number) == statuses["sent"] + sum(per_number[n] for n in uncertain)
    assert {row.claimed_by for row in rows} >= {"a", "b"}
    assert measured == pytest.approx(rate, rel=0.05)

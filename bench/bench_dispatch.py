"""Benchmark: messages per second of one ``manyi dispatch`` process against a slow provider.

Run ``.venv/bin/python bench/bench_dispatch.py [--database-url URL] [--messages N]
[--rate R] [--delay S] [--in-flight K ...]``. In one run, on this machine:

1. The fake Twilio (``tests/fakes/fake_twilio.py``) holds every answer ``--delay`` seconds
   (150 ms: a realistic round trip to a provider).
2. For each ``--in-flight`` value (default 1, the one-at-a-time dispatcher as it was, as the
   baseline; and 100, the default), a fresh database gets a campaign of ``--messages``
   invitations at ``--rate`` msg/s (400), and one ``manyi dispatch --until-idle`` process
   sends them through the real Twilio client. The baseline gets ``--baseline-messages``
   (100): one at a time it cannot go faster than 1/delay msg/s.
3. The rate is measured over the fake's arrival times ((n - 1) / (last - first)); every
   number must have received exactly one message (a duplicate is printed loudly).

``--database-url`` is a SQLite URL (default: a file in a temporary folder) or the URL of
a PostgreSQL server, on which a fresh database is created per run and dropped after.
Prints msg/s, the share of the limit and the ratio to the baseline; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.fake_twilio import FakeTwilio  # noqa: E402

SENDER = "+15005550006"


@contextmanager
def fresh_database(url: str | None):
    """A database URL of its own for one run: a new SQLite file or PostgreSQL database."""
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/manyi.db"
        return
    import psycopg

    admin_url = url.replace("postgresql+psycopg://", "postgresql://")
    name = f"manyi_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manyi(env: dict[str, str], *args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "api.cli.main", *args], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=False)  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"manyi {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}")
    return run.stdout


def one_run(database_url: str | None, n: int, rate: float, delay: float, in_flight: int):
    """Dispatch n invitations with ``in_flight`` sends at once: (msg/s, duplicates, seconds)."""
    import pandas as pd  # noqa: F401 -- the frame generator's, imported before timing

    from survey.frames.sample_frame import generate_frame

    with fresh_database(database_url) as url, FakeTwilio(delay=delay) as fake:
        env = {
            **os.environ,
            "MANYI_ENV": "test",
            "MANYI_SECRET_KEY": "k" * 48,
            "MANYI_DATABASE_URL": url,
            "MANYI_SMS_TRANSPORT": "twilio",
            "MANYI_TWILIO_ACCOUNT_SID": fake.account_sid,
            "MANYI_TWILIO_AUTH_TOKEN": fake.auth_token,
            "MANYI_TWILIO_FROM_NUMBER": SENDER,
            "MANYI_TWILIO_BASE_URL": fake.base_url,
        }
        with tempfile.TemporaryDirectory() as folder:
            frame = generate_frame(n, seed=23)
            frame["consent"] = True
            frame.to_csv(Path(folder) / "frame.csv", index=False)
            manyi(env, "questionnaire", "publish",
                  str(ROOT / "data/samples/csi_questionnaire.yaml"))  # fmt: skip
            manyi(env, "frame", "import", str(Path(folder) / "frame.csv"), "--name", "bench")
        manyi(env, "campaign", "create", "--questionnaire", "csi_mobile", "--frame", "bench",
              "--name", "bench", "--sample", str(n), "--rate", str(rate),
              "--quiet", "none")  # fmt: skip
        manyi(env, "campaign", "launch", "1")
        started = time.perf_counter()
        manyi(env, "dispatch", "--until-idle", "--worker-id", "bench", "--in-flight",
              str(in_flight))  # fmt: skip
        elapsed = time.perf_counter() - started
        messages = fake.messages
    times = sorted(message.created_at for message in messages)
    measured = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    per_number = Counter(message.to for message in messages)
    duplicates = sum(count - 1 for count in per_number.values())
    missing = n - len(per_number)
    return measured, duplicates, missing, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--baseline-messages", type=int, default=100)
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--delay", type=float, default=0.150)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 100])
    args = parser.parse_args()
    database = (args.database_url or "sqlite").split(":")[0]
    print(f"one dispatcher, {database}, limit {args.rate:g} msg/s, provider answers in "
          f"{args.delay * 1000:g} ms")  # fmt: skip
    baseline = None
    for in_flight in args.in_flight:
        n = args.baseline_messages if in_flight == 1 else args.messages
        measured, duplicates, missing, elapsed = one_run(
            args.database_url, n, args.rate, args.delay, in_flight
        )
        if in_flight == args.in_flight[0]:
            baseline = measured
        ratio = f"{measured / baseline:6.1f}x baseline" if baseline else ""
        flag = ""
        if duplicates or missing:
            flag = f"  !!! {duplicates} DUPLICATES, {missing} NUMBERS WITHOUT A MESSAGE !!!"
        print(f"  in flight {in_flight:>3}: {n:>5} messages, {measured:7.1f} msg/s "
              f"({measured / args.rate:.2f}x the limit), {ratio} "
              f"[{elapsed:.1f} s for the process]{flag}")  # fmt: skip


if __name__ == "__main__":
    main()

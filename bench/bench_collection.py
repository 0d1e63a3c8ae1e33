"""Benchmark: web-form submissions and SMS status callbacks per second, and nothing lost.

Run ``.venv/bin/python bench/bench_collection.py [--submissions N] [--rounds R] [--clients C]
[--database-url URL ...] [--workers N ...]``. In one run, on this machine:

1. Manyi is served by uvicorn with a running campaign of invitations, once per database and
   number of worker processes asked for (every ``--database-url`` with every ``--workers``):
   by default one process on the embedded SQLite database in WAL mode with ``synchronous=FULL``,
   the way ``make demo`` runs it. ``--database-url sqlite`` is a fresh SQLite file; a
   PostgreSQL URL names the admin database to connect to: the bench creates a fresh database
   beside it for each server and drops it afterwards. Several processes are uvicorn's own
   ``--workers`` (what ``manyi serve --workers`` runs), so SQLite with two processes can be
   measured although ``manyi serve`` refuses it. Two baselines are served the same way:
   ``bench/bare_endpoints.py``, FastAPI endpoints on the same paths that parse the form and
   answer alike, storing nothing; and
   ``bench/durable_floor.py``, the bare endpoint plus a raw durable INSERT of the posted
   fields before the 303 (the least an endpoint that stores before acknowledging does).
2. Form submissions: C client threads with keep-alive connections each post the first
   page of a questionnaire (its answers, CSRF field included) for distinct invitations.
   Every server first gets the same ``--warm-up`` posts, not counted (imports, first
   connections, caches), then R rounds of N counted ones, the servers in turn in each
   round (fresh invitations per round), so that a machine whose speed drifts during the run
   (a shared virtual machine does) weighs on all servers alike; the median round is reported.
   Acknowledged = answered 303 to the next page. Afterwards the databases are counted:
   responses with all the page's answers must equal the acknowledged submissions, warm-up
   included.
3. Status callbacks: as many sent messages as a round has submissions (plus the warm-up's)
   each get "sent", "delivered", a duplicate "delivered" and a late "sent", each signed with
   X-Twilio-Signature. Afterwards every one of them must read "delivered".

Besides the rates, the CPU time each server spent per counted post (its processes together;
Linux: read from ``/proc``), and the load generator's own: the machine's 2 cores are shared by
the client and the server, so a server's throughput follows its CPU per post. 0.8x of the bare
endpoint's rate leaves a server about 1.25x the bare endpoint's CPU per post.

Prints rates and ratios to the baselines and between the Manyi servers (each to the first one,
and several processes to one on the same database); asserts nothing (a lost row is printed
loudly).
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-" + "k" * 40
AUTH_TOKEN = "t" * 32
#: The servers compared, as the results name them.
LABELS = {"bare": "bare", "floor": "durable floor", "app": "Manyi"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(database_url: str, n: int, public_base_url: str):
    """A published questionnaire, n customers, a running campaign; returns the posts."""
    from sqlalchemy import select
    from sqlmodel import Session

    from api.web.answering_pages import csrf_token
    from survey.answering.links import invitation_token
    from survey.answering.pages import build_pages
    from survey.campaigns.lifecycle import change_status, create_campaign, invite
    from survey.db.engine import make_engine, upgrade
    from survey.db.tables import Customer, Invitation, OutboundSms
    from survey.frames.sample_frame import generate_frame
    from survey.frames.store import store_frame
    from survey.questionnaire import load_questionnaire
    from survey.questionnaire.publish import publish

    engine = make_engine(database_url)
    upgrade(engine)
    questionnaire, _ = load_questionnaire(ROOT / "data/samples/csi_questionnaire.yaml")
    with Session(engine) as session:
        version = publish(session, questionnaire)
        frame = store_frame(session, generate_frame(n, seed=3), "bench", "bench")
        ids = list(session.execute(select(Customer.id).where(Customer.frame_id == frame.id))
                   .scalars())  # fmt: skip
        for customer in session.execute(select(Customer)).scalars():
            customer.consent = True
            session.add(customer)
        session.commit()
        message = {"zh": "请评价：{link}", "en": "Rate us: {link}"}
        campaign = create_campaign(session, version.id, "bench", message=message)
        invite(session, campaign, ids, secret=SECRET, public_base_url=public_base_url,
               timezone="Asia/Shanghai")  # fmt: skip
        change_status(session, campaign, "launch")
        invitations = list(session.execute(select(Invitation.id)).scalars())
        # Status callbacks refer to messages the provider accepted: mark the outbox sent.
        sids = []
        for row in session.execute(select(OutboundSms)).scalars():
            row.status, row.provider_message_id = "sent", f"SM{row.id:032x}"
            sids.append(row.provider_message_id)
            session.add(row)
        session.commit()
    first = build_pages(questionnaire, "grouped")[0]
    answers = {}
    for item in first.items:
        codes = [c.name for c in item.choices.choices if c.missing is None] if item.choices else []
        answers[item.name] = "4" if "4" in codes else (codes[0] if codes else "8")
    posts = []
    for invitation_id in invitations:
        token = invitation_token(SECRET, invitation_id)
        fields = {**answers, "csrf": csrf_token(SECRET, token), "lang": "zh"}
        posts.append((f"/s/{token}/p/1", urllib.parse.urlencode(fields)))
    engine.dispose()
    return posts, sids, len(first.items)


def serve(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    # The server's warnings go to a file, read when it stops: a pipe nobody reads while the
    # server runs would stop it once full.
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip
    process.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise SystemExit(f"server exited: {log.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start within 60 s")


def wait_for_workers(process: subprocess.Popen, workers: int) -> None:
    """With several workers uvicorn's supervisor listens before they all serve: wait for them."""
    if workers < 2:
        return
    deadline = time.monotonic() + 60
    while len(descendants(process.pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # each worker imports the app after it is started


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid`` and theirs (Linux); empty where /proc is absent."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                for child in children.read().split():
                    found += [int(child), *descendants(int(child))]
        except OSError:
            continue
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of ``pid`` and every process it started (uvicorn's workers)."""
    total = cpu_seconds(pid)
    if total is None:
        return None
    return total + sum(cpu_seconds(child) or 0.0 for child in descendants(pid))


class Target:
    """One Manyi server measured: a database (SQLite or PostgreSQL) and a number of processes."""

    def __init__(self, database: str, workers: int, tmp: Path, index: int) -> None:
        self.workers = workers
        self.port = free_port()
        self.admin: str | None = None
        if database == "sqlite" or database.startswith("sqlite:"):
            self.kind = "SQLite"
            self.url = f"sqlite:///{tmp / f'bench-{index}.db'}"
        else:
            import psycopg

            from survey.db.engine import normalise_url

            self.kind = "PostgreSQL"
            self.admin = database
            self.name = f"manyi_bench_{os.getpid()}_{index}"
            with psycopg.connect(database, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.name}"')
            self.url = normalise_url(database.rsplit("/", 1)[0] + f"/{self.name}")
        self.label = f"{self.kind} {workers}"
        self.process: subprocess.Popen | None = None

    def drop(self) -> None:
        if self.admin is not None:
            import psycopg

            with psycopg.connect(self.admin, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU seconds of a process (this one when None); None where /proc is absent."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hammer(port: int, requests: list[tuple[str, str, dict]], clients: int, expect: int):
    """Send every request once over `clients` keep-alive connections; returns
    (seconds, acknowledged, failures)."""
    work: queue.Queue = queue.Queue()
    for r in requests:
        work.put(r)
    acknowledged, failures, lock = [0], [], threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        ok = 0
        while True:
            try:
                path, body, headers = work.get_nowait()
            except queue.Empty:
                break
            connection.request("POST", path, body, {
                "Content-Type": "application/x-www-form-urlencoded", **headers})  # fmt: skip
            response = connection.getresponse()
            response.read()
            if response.status == expect:
                ok += 1
            else:
                with lock:
                    failures.append((path, response.status))
        connection.close()
        with lock:
            acknowledged[0] += ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, acknowledged[0], failures


def count_stored(database_url: str, items_per_page: int) -> tuple[int, int]:
    """(responses holding every answer of page 1, messages reading delivered)."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from survey.db.engine import make_engine
    from survey.db.tables import Answer, OutboundSms

    engine = make_engine(database_url)
    with Session(engine) as session:
        answered = func.count(func.distinct(Answer.item_name))
        per_response = (
            select(Answer.response_id)
            .group_by(Answer.response_id)
            .having(answered >= items_per_page)
        )
        full = session.execute(select(func.count()).select_from(per_response.subquery())).scalar()
        delivered = session.execute(
            select(func.count()).where(OutboundSms.delivery_status == "delivered")
        ).scalar()
    engine.dispose()
    return int(full or 0), int(delivered or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warm-up", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--database-url", action="append", default=None,
        help="'sqlite' (a fresh file, the default) or a PostgreSQL URL of an admin database "
        "(a fresh database is created beside it and dropped after); may be repeated",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="uvicorn worker processes per Manyi server, e.g. 1 2")  # fmt: skip
    options = parser.parse_args()

    from durable_floor import stored_posts

    from survey.sms.signatures import sign

    with tempfile.TemporaryDirectory() as tmp:
        targets: list[Target] = []
        try:
            for database in options.database_url or ["sqlite"]:
                for workers in options.workers:
                    targets.append(Target(database, workers, Path(tmp), len(targets)))
            run(options, targets, Path(tmp), stored_posts, sign)
        finally:
            for target in targets:
                target.drop()


def run(options, targets: list[Target], tmp: Path, stored_posts, sign) -> None:
    n, warm, rounds = options.submissions, options.warm_up, options.rounds
    floor_database = str(tmp / "floor.db")
    bare_port, floor_port = free_port(), free_port()
    prepared = {}
    t0 = time.perf_counter()
    for target in targets:
        public = f"http://127.0.0.1:{target.port}"
        prepared[target.label] = prepare(target.url, warm + rounds * n, public)
    items = next(iter(prepared.values()))[2]
    print(f"prepared {warm + rounds * n} invitations for each of "
          f"{', '.join(t.label for t in targets)} in {time.perf_counter() - t0:.1f} s; "
          f"{options.clients} clients, {items} answers per submission, "
          f"{warm} warm-up posts per server")  # fmt: skip

    def env_of(database_url: str, public: str) -> dict[str, str]:
        return {**os.environ, "MANYI_DATABASE_URL": database_url, "MANYI_SECRET_KEY": SECRET,
                "MANYI_PUBLIC_BASE_URL": public, "MANYI_SMS_TRANSPORT": "twilio",
                "MANYI_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                "MANYI_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "MANYI_TWILIO_FROM_NUMBER": "+15555550100", "MANYI_ENV": "test",
                "FLOOR_DATABASE": floor_database}  # fmt: skip

    first = targets[0]
    base_env = env_of(first.url, f"http://127.0.0.1:{first.port}")
    processes: dict[str, subprocess.Popen] = {}
    try:
        for target in targets:
            env = env_of(target.url, f"http://127.0.0.1:{target.port}")
            arguments = ["--factory", "api.web.app:create_app", "--workers", str(target.workers)]
            target.process = serve(arguments, env, target.port)
            wait_for_workers(target.process, target.workers)
            processes[target.label] = target.process
        processes["bare"] = serve(["--app-dir", "bench", "bare_endpoints:app"], base_env,
                                  bare_port)  # fmt: skip
        processes["floor"] = serve(["--app-dir", "bench", "durable_floor:app"], base_env,
                                   floor_port)  # fmt: skip
        ports = {"bare": bare_port, "floor": floor_port} | {t.label: t.port for t in targets}
        forms = {t.label: [(p, b, {}) for p, b in prepared[t.label][0]] for t in targets}
        forms["bare"] = forms["floor"] = forms[first.label]
        names = list(ports)
        rates = {name: [] for name in names}
        server_cpu = {name: [] for name in names}  # microseconds per post
        client_cpu = {name: [] for name in names}
        acknowledged = dict.fromkeys(names, 0)
        refused = {name: [] for name in names}
        for name in names:
            _, acknowledged[name], _ = hammer(ports[name], forms[name][:warm], options.clients,
                                              303)  # fmt: skip
        for r in range(rounds):
            for name in names:
                counted = forms[name][warm + r * n : warm + (r + 1) * n]
                pid = processes[name].pid
                before = tree_cpu_seconds(pid), cpu_seconds()
                seconds, ok, failed = hammer(ports[name], counted, options.clients, 303)
                after = tree_cpu_seconds(pid), cpu_seconds()
                rates[name].append(ok / seconds)
                if None not in before + after and ok:
                    server_cpu[name].append((after[0] - before[0]) / ok * 1e6)
                    client_cpu[name].append((after[1] - before[1]) / ok * 1e6)
                acknowledged[name] += ok
                refused[name] += failed
        stored = {t.label: count_stored(t.url, items)[0] for t in targets}
        stored["floor"] = stored_posts(floor_database)
        callback_rates: dict[str, float] = {}
        callback_notes: dict[str, str] = {}
        for name in ["bare", *(t.label for t in targets)]:
            target = next((t for t in targets if t.label == name), first)
            public = f"http://127.0.0.1:{target.port}"
            # As many messages as one round's submissions: 4 callbacks each.
            sids = prepared[target.label][1][: warm + n]
            callbacks = []
            for sid in sids:
                for status in ("sent", "delivered", "delivered", "sent"):
                    params = {"MessageSid": sid, "MessageStatus": status}
                    signature = sign(AUTH_TOKEN, public + "/sms/status", params)
                    callbacks.append(("/sms/status", urllib.parse.urlencode(params),
                                      {"X-Twilio-Signature": signature}))  # fmt: skip
            # Warm-up: the first messages' callbacks once more later are duplicates, as normal.
            hammer(ports[name], callbacks[: 4 * warm], options.clients, 200)
            cb_s, cb_ok, cb_fail = hammer(ports[name], callbacks, options.clients, 200)
            callback_rates[name] = cb_ok / cb_s
            if name != "bare":
                _, delivered = count_stored(target.url, items)
                callback_notes[name] = (
                    f"delivered {delivered} of {len(sids)}, refused {len(cb_fail)}"
                    f"{_statuses(cb_fail)}"
                    f"{'  <-- LOST REPORTS' if delivered != len(sids) else ''}"
                )
    finally:
        for name, process in processes.items():
            process.terminate()
            process.wait(timeout=30)
            process.log.seek(0)
            errors = process.log.read()
            if errors.strip():  # warnings and errors only (--log-level warning)
                tail = "\n    ".join(errors.strip().splitlines()[-20:])
                print(f"  {name} server's log ends:\n    {tail}")
    report(options, targets, rates, server_cpu, client_cpu, acknowledged, refused, stored,
           callback_rates, callback_notes)  # fmt: skip


def _statuses(failures: list[tuple[str, int]]) -> str:
    """The HTTP statuses of refused requests, e.g. " (HTTP 503 x1)"; "" when none."""
    counts = Counter(status for _, status in failures)
    return (" (" + ", ".join(f"HTTP {s} x{n}" for s, n in sorted(counts.items())) + ")"
            if counts else "")  # fmt: skip


def report(options, targets, rates, server_cpu, client_cpu, acknowledged, refused, stored,
           callback_rates, callback_notes) -> None:  # fmt: skip
    n, rounds = options.submissions, options.rounds
    names = list(rates)
    median = {name: statistics.median(rates[name]) for name in names}
    labels = {"bare": "bare", "floor": "durable floor"} | {t.label: t.label for t in targets}
    print(f"\nform submissions (first page, 303 to the next; {rounds} rounds of {n} per server)")
    for r in range(rounds):
        print(f"  round {r + 1}: " + "  ".join(f"{labels[k]} {rates[k][r]:5.0f}/s" for k in names))
    print("  medians:")
    print(f"  bare FastAPI endpoint   {median['bare']:8.0f} /s  (stores nothing)")
    print(f"  durable floor           {median['floor']:8.0f} /s  (bare + raw INSERT in SQLite, "
          "committed first)")  # fmt: skip
    for t in targets:
        print(f"  Manyi {t.label:<17} {median[t.label]:8.0f} /s  /s/{{token}}/p/1")
    print(f"  ratio floor / bare      {median['floor'] / median['bare']:8.2f}x  "
          "(what durability costs)")  # fmt: skip
    for t in targets:
        print(f"  ratio {t.label + ' / bare':<17} {median[t.label] / median['bare']:8.2f}x")
    ratios(targets, median, "posts")
    if all(server_cpu.values()):
        print("  CPU per post, medians (the server's processes; the load generator's in brackets):")
        for name in names:
            server = statistics.median(server_cpu[name])
            client = statistics.median(client_cpu[name])
            print(
                f"  {labels[name]:22}  {server:6.0f} us  ({client:4.0f} us)  "
                f"{server / statistics.median(server_cpu['bare']):5.2f}x bare's"
            )
    for name in ["floor", *(t.label for t in targets)]:
        lost = acknowledged[name] - stored[name]
        print(f"  {labels[name]}: acknowledged {acknowledged[name]}, "
              f"stored complete {stored[name]}, lost {lost}, refused {len(refused[name])}"
              f"{_statuses(refused[name])}"
              f"{'  <-- LOST ANSWERS' if lost else ''}")  # fmt: skip
    print("\nstatus callbacks (4 per message: sent, delivered, duplicate, late sent; signed)")
    print(f"  bare FastAPI endpoint   {callback_rates['bare']:8.0f} /s")
    for t in targets:
        print(f"  Manyi {t.label:<17} {callback_rates[t.label]:8.0f} /s  "
              f"({callback_notes[t.label]})")  # fmt: skip
    ratios(targets, callback_rates, "callbacks")


def ratios(targets: list[Target], rate: dict[str, float], what: str) -> None:
    """Each server to the first, and several processes to one on the same database."""
    first = targets[0]
    for t in targets[1:]:
        print(
            f"  ratio {what} {t.label} / {first.label}  {rate[t.label] / rate[first.label]:6.2f}x"
        )
    for t in targets:
        one = next((o for o in targets if o.kind == t.kind and o.workers == 1), None)
        if t.workers > 1 and one is not None and one is not first:
            print(
                f"  ratio {what} {t.label} / {one.label}  {rate[t.label] / rate[one.label]:6.2f}x"
            )


if __name__ == "__main__":
    main()

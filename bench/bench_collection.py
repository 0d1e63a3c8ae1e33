"""Benchmark: web-form submissions and SMS status callbacks per second, and nothing lost.

Run ``.venv/bin/python bench/bench_collection.py [--submissions N] [--rounds R] [--clients C]``.
In one run, on this machine:

1. Manyi is served by uvicorn (one process, the embedded SQLite database in WAL mode with
   ``synchronous=FULL``, the way ``make demo`` runs it) with a running campaign of invitations.
   Two baselines are served the same way: ``bench/bare_endpoints.py``, FastAPI endpoints on
   the same paths that parse the form and answer alike, storing nothing; and
   ``bench/durable_floor.py``, the bare endpoint plus a raw durable INSERT of the posted
   fields before the 303 (the least an endpoint that stores before acknowledging does).
2. Form submissions: C client threads with keep-alive connections each post the first
   page of a questionnaire (its answers, CSRF field included) for distinct invitations.
   Every server first gets the same ``--warm-up`` posts, not counted (imports, first
   connections, caches), then R rounds of N counted ones, the three servers in turn in each
   round (fresh invitations per round), so that a machine whose speed drifts during the run
   (a shared virtual machine does) weighs on all three alike; the median round is reported.
   Acknowledged = answered 303 to the next page. Afterwards the databases are counted:
   responses with all the page's answers must equal the acknowledged submissions, warm-up
   included.
3. Status callbacks: as many sent messages as a round has submissions (plus the warm-up's)
   each get "sent", "delivered", a duplicate "delivered" and a late "sent", each signed with
   X-Twilio-Signature. Afterwards every one of them must read "delivered".

Besides the rates, the CPU time each server process spent per counted post (Linux: read from
``/proc``), and the load generator's own: the machine's 2 cores are shared by the client and
the server, so a server's throughput follows its CPU per post. 0.8x of the bare endpoint's
rate leaves a server about 1.25x the bare endpoint's CPU per post.

Prints rates and ratios to the baselines; asserts nothing (a lost row is printed loudly).
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
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start within 60 s")


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
    options = parser.parse_args()
    n, warm, rounds = options.submissions, options.warm_up, options.rounds

    from durable_floor import stored_posts

    from survey.sms.signatures import sign

    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        floor_database = str(Path(tmp) / "floor.db")
        app_port, bare_port, floor_port = free_port(), free_port(), free_port()
        public = f"http://127.0.0.1:{app_port}"
        t0 = time.perf_counter()
        posts, sids, items = prepare(database_url, warm + rounds * n, public)
        print(f"prepared {len(posts)} invitations in {time.perf_counter() - t0:.1f} s; "
              f"{options.clients} clients, {items} answers per submission, "
              f"{warm} warm-up posts per server")  # fmt: skip
        env = {**os.environ, "MANYI_DATABASE_URL": database_url, "MANYI_SECRET_KEY": SECRET,
               "MANYI_PUBLIC_BASE_URL": public, "MANYI_SMS_TRANSPORT": "twilio",
               "MANYI_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "MANYI_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
               "MANYI_TWILIO_FROM_NUMBER": "+15555550100", "MANYI_ENV": "test",
               "FLOOR_DATABASE": floor_database}  # fmt: skip
        app = serve(["--factory", "api.web.app:create_app"], env, app_port)
        bare = serve(["--app-dir", "bench", "bare_endpoints:app"], env, bare_port)
        floor = serve(["--app-dir", "bench", "durable_floor:app"], env, floor_port)
        try:
            form = [(path, body, {}) for path, body in posts]
            servers = {"bare": bare_port, "floor": floor_port, "app": app_port}
            processes = {"bare": bare, "floor": floor, "app": app}
            rates = {name: [] for name in servers}
            server_cpu = {name: [] for name in servers}  # microseconds per post
            client_cpu = {name: [] for name in servers}
            acknowledged = dict.fromkeys(servers, 0)
            refused = {name: [] for name in servers}
            for name, port in servers.items():
                _, acknowledged[name], _ = hammer(port, form[:warm], options.clients, 303)
            for r in range(rounds):
                counted = form[warm + r * n : warm + (r + 1) * n]
                for name, port in servers.items():
                    before = cpu_seconds(processes[name].pid), cpu_seconds()
                    seconds, ok, failed = hammer(port, counted, options.clients, 303)
                    after = cpu_seconds(processes[name].pid), cpu_seconds()
                    rates[name].append(ok / seconds)
                    if None not in before + after and ok:
                        server_cpu[name].append((after[0] - before[0]) / ok * 1e6)
                        client_cpu[name].append((after[1] - before[1]) / ok * 1e6)
                    acknowledged[name] += ok
                    refused[name] += failed
            stored, _ = count_stored(database_url, items)
            floor_stored = stored_posts(floor_database)
            callbacks = []
            # As many messages as one round's submissions: 4 callbacks each.
            sids = sids[: warm + n]
            for sid in sids:
                for status in ("sent", "delivered", "delivered", "sent"):
                    params = {"MessageSid": sid, "MessageStatus": status}
                    signature = sign(AUTH_TOKEN, public + "/sms/status", params)
                    callbacks.append(("/sms/status", urllib.parse.urlencode(params),
                                      {"X-Twilio-Signature": signature}))  # fmt: skip
            # Warm-up: the first messages' callbacks once more later are duplicates, as normal.
            for port in (bare_port, app_port):
                hammer(port, callbacks[: 4 * warm], options.clients, 200)
            cb_bare_s, cb_bare_ok, _ = hammer(bare_port, callbacks, options.clients, 200)
            cb_s, cb_ok, cb_fail = hammer(app_port, callbacks, options.clients, 200)
            _, delivered = count_stored(database_url, items)
        finally:
            for process in (app, bare, floor):
                process.terminate()
                process.wait(timeout=30)
    bare_rate, floor_rate, app_rate = (
        statistics.median(rates[k]) for k in ("bare", "floor", "app")
    )
    print(f"\nform submissions (first page, 303 to the next; {rounds} rounds of {n} per server)")
    for r in range(rounds):
        print(f"  round {r + 1}: bare {rates['bare'][r]:5.0f}/s  floor {rates['floor'][r]:5.0f}/s  "
              f"Manyi {rates['app'][r]:5.0f}/s")  # fmt: skip
    print("  medians:")
    print(f"  bare FastAPI endpoint   {bare_rate:8.0f} /s  (stores nothing)")
    print(f"  durable floor           {floor_rate:8.0f} /s  (bare + raw INSERT, committed first)")
    print(f"  Manyi /s/{{token}}/p/1    {app_rate:8.0f} /s")
    print(f"  ratio floor / bare      {floor_rate / bare_rate:8.2f}x  (what durability costs)")
    print(f"  ratio Manyi / floor     {app_rate / floor_rate:8.2f}x  (what Manyi's checks cost)")
    print(f"  ratio Manyi / bare      {app_rate / bare_rate:8.2f}x  (target >= 0.8x)")
    if all(server_cpu.values()):
        print("  CPU per post, medians (server process; the load generator's in brackets):")
        for name, label in LABELS.items():
            server = statistics.median(server_cpu[name])
            client = statistics.median(client_cpu[name])
            print(
                f"  {label:22}  {server:6.0f} us  ({client:4.0f} us)  "
                f"{server / statistics.median(server_cpu['bare']):5.2f}x bare's"
            )
    for name, stored_rows in (("app", stored), ("floor", floor_stored)):
        lost = acknowledged[name] - stored_rows
        print(f"  {LABELS[name]}: acknowledged {acknowledged[name]}, "
              f"stored complete {stored_rows}, lost {lost}, refused {len(refused[name])}"
              f"{'  <-- LOST ANSWERS' if lost else ''}")  # fmt: skip
    cb_bare_rate, cb_rate = cb_bare_ok / cb_bare_s, cb_ok / cb_s
    print("\nstatus callbacks (4 per message: sent, delivered, duplicate, late sent; signed)")
    print(f"  bare FastAPI endpoint   {cb_bare_rate:8.0f} /s")
    print(f"  Manyi /sms/status       {cb_rate:8.0f} /s  ({cb_ok} in {cb_s:.2f} s)")
    print(f"  ratio Manyi / bare      {cb_rate / cb_bare_rate:8.2f}x")
    print(f"  messages delivered {delivered} of {len(sids)}; refused callbacks {len(cb_fail)}")


if __name__ == "__main__":
    main()

"""Benchmark: the managers' pages and the analysis worker, against baselines of the same run.

Run ``.venv/bin/python bench/bench_dashboard.py``. Prepares the sample data (5,000
responses) in a temporary SQLite file, computes the analyses the pages read (all data and
one quarter, by region, 200 bootstrap resamples, timed: that is the worker's cost), then
serves the app with uvicorn and times each page over keep-alive HTTP: median and 95th
percentile of sequential requests by a signed-in manager, and their ratio to a bare FastAPI
endpoint answering a fixed page of the same size (``bench/bare_endpoints.py``), measured in
the same run over the same kind of connection. Asserts nothing.
"""

from __future__ import annotations

import http.client
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VERSION = "csi_mobile@2026.1"
REQUESTS = 200
PAGES = {
    "/health": "/health",
    "overview": "/dashboard",
    "priorities, constructs": "/dashboard/priorities",
    "priorities, network items, Wenzhou, 2026-Q2":
        "/dashboard/priorities?dimension=network&segment=Wenzhou&period=2026-Q2",
    "rankings": "/dashboard/rankings",
    "report 2026-Q2": "/dashboard/report?period=2026-Q2",
}  # fmt: skip


def prepare(url: str, password: str) -> list[tuple[str, float]]:
    from sqlmodel import Session

    from api.analysis.request import AnalysisRequest
    from api.analysis.worker import work_once
    from api.cli.demo import prepare_demo
    from survey.analyses import jobs as analyses
    from survey.db.engine import make_engine
    from survey.questionnaire.publish import find_version
    from survey.staff.accounts import create_staff

    engine = make_engine(url)
    prepare_demo(engine)
    timings = []
    with Session(engine) as session:
        version = find_version(session, *VERSION.split("@"))
        create_staff(session, "boss", "manager", password, display_name="Boss")
        for period in (None, "2026-Q2"):
            request = AnalysisRequest(version=VERSION, period=period, segment="region")
            analyses.submit(session, version.id, request.canonical())
    while True:
        started = time.perf_counter()
        job = work_once(engine)
        if job is None:
            break
        assert job.status == "done", job.error
        timings.append(
            (f"{job.request['period'] or 'all data'}, by region", time.perf_counter() - started)
        )
    engine.dispose()
    return timings


def sign_in(port: int, password: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", "/login")
    answer = connection.getresponse()
    page = answer.read().decode()
    cookies = "; ".join(c.split(";")[0] for c in answer.headers.get_all("Set-Cookie") or [])
    marker = 'name="csrf" value="'
    csrf = page[page.index(marker) + len(marker) :].split('"')[0]
    body = urlencode({"username": "boss", "password": password, "csrf": csrf, "next": "/"})
    connection.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                "Cookie": cookies})  # fmt: skip
    answer = connection.getresponse()
    answer.read()
    assert answer.status == 303, answer.status
    return "; ".join(c.split(";")[0] for c in answer.headers.get_all("Set-Cookie") or [])


def time_page(port: int, path: str, cookie: str) -> tuple[float, float, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    times, size = [], 0
    for number in range(REQUESTS + 10):
        started = time.perf_counter()
        connection.request("GET", path, headers={"Cookie": cookie})
        answer = connection.getresponse()
        body = answer.read()
        assert answer.status == 200, (path, answer.status)
        if number >= 10:  # the first ones warm caches up
            times.append(time.perf_counter() - started)
            size = len(body)
    times.sort()
    return statistics.median(times), times[int(0.95 * len(times))], size


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="manyi-bench-dashboard-"))
    url = f"sqlite:///{folder / 'manyi.db'}"
    password = secrets.token_urlsafe(16)
    print(f"preparing the sample data and computing the analyses in {folder} ...")
    for what, seconds in prepare(url, password):
        print(f"  worker: analysis of {what}: {seconds:.1f} s (200 resamples, every dimension)")
    port = 8000 + secrets.randbelow(1000) + 1000
    env = {**os.environ, "MANYI_DATABASE_URL": url, "MANYI_ENV": "development"}
    bare_port = port + 1
    servers = [
        serve(["--factory", "api.web.app:create_app"], port, env),
        serve(["bench.bare_endpoints:app"], bare_port, env),
    ]
    try:
        cookie = sign_in(port, password)
        print(f"\n{REQUESTS} sequential requests per page, one keep-alive connection")
        print(f"{'page':<46} {'median':>9} {'p95':>9} {'x bare':>8} {'KB':>6}")
        base, p95, size = time_page(bare_port, "/page", "")
        print(f"{'bare FastAPI page (baseline)':<46} {base * 1e3:>7.2f}ms {p95 * 1e3:>7.2f}ms "
              f"{1:>7.1f}x {size / 1024:>6.1f}")  # fmt: skip
        for name, path in PAGES.items():
            median, p95, size = time_page(port, path, cookie)
            print(f"{name:<46} {median * 1e3:>7.2f}ms {p95 * 1e3:>7.2f}ms "
                  f"{median / base:>7.1f}x {size / 1024:>6.1f}")  # fmt: skip
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


def serve(app: list[str], port: int, env: dict[str, str]) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *app, "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    for _ in range(300):
        try:
            http.client.HTTPConnection("127.0.0.1", port).request("GET", "/")
            break
        except OSError:
            time.sleep(0.1)
    time.sleep(0.5)
    return server


if __name__ == "__main__":
    main()

"""The `manyi` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import text

from survey.db.engine import make_engine
from tests.common import SAMPLES
from tests.service_process import free_port
from tests.service_process import run_manyi as manyi


@pytest.mark.parametrize(
    "command",
    [[], ["serve"], ["demo"], ["db"], ["db", "upgrade"], ["questionnaire"],
     ["questionnaire", "validate"], ["sample"], ["sample", "generate"], ["sample", "frame"]],
)  # fmt: skip
def test_every_command_has_help(command):
    run = manyi(*command, "--help")
    assert run.returncode == 0, run.stderr
    assert "Usage: manyi" in run.stdout


def test_validate_passes_the_sample_questionnaire():
    run = manyi("questionnaire", "validate", str(SAMPLES / "csi_questionnaire.yaml"))
    assert run.returncode == 0, run.stderr
    assert "valid: csi_mobile version 2026.1, 33 items, 8 constructs" in run.stdout


def test_validate_fails_with_located_problems_and_a_nonzero_exit(tmp_path):
    bad = (SAMPLES / "csi_questionnaire.yaml").read_text(encoding="utf-8")
    bad = bad.replace("name: net_clarity", "name: Net-Clarity").replace(
        "choices: satisfied5", "choices: satisfied7"
    )
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    run = manyi("questionnaire", "validate", str(path))
    assert run.returncode == 1
    assert "items[4].name (line " in run.stderr and "[item-name-invalid]" in run.stderr
    assert "[choice-list-unknown]" in run.stderr and "fix:" in run.stderr
    as_json = manyi("questionnaire", "validate", "--json", str(path))
    assert as_json.returncode == 1 and '"code": "item-name-invalid"' in as_json.stdout


def test_validate_of_a_missing_file_exits_2():
    run = manyi("questionnaire", "validate", "/nonexistent/form.yaml")
    assert run.returncode == 2 and "no questionnaire file" in run.stderr


def test_serve_migrates_a_fresh_database_and_answers(tmp_path):
    port = free_port()
    env = {"MANYI_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli.main", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **env},
    )  # fmt: skip
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None and '"status":"ok"' in body
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0]
    assert "fresh database: creating the schema" in output


def test_serve_refuses_a_database_behind_the_code_and_says_how_to_migrate(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('0000')"))
    engine.dispose()
    run = manyi("serve", "--port", str(free_port()), env={"MANYI_DATABASE_URL": url})
    assert run.returncode == 1
    assert "manyi db upgrade" in run.stderr


def test_invalid_settings_are_reported_not_a_traceback(tmp_path):
    run = manyi("db", "upgrade", env={"MANYI_ENV": "production", "MANYI_SECRET_KEY": "x"})
    assert run.returncode == 1
    assert "MANYI_SECRET_KEY" in run.stderr and "Traceback" not in run.stderr


def test_db_upgrade_then_publish_then_publish_changed_content_is_refused(tmp_path):
    env = {"MANYI_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    assert manyi("db", "upgrade", env=env).returncode == 0
    sample = SAMPLES / "csi_questionnaire.yaml"
    first = manyi("questionnaire", "publish", str(sample), env=env)
    assert first.returncode == 0 and "published csi_mobile version 2026.1" in first.stdout
    changed = tmp_path / "changed.yaml"
    changed.write_text(sample.read_text(encoding="utf-8").replace("移动客户满意度调查", "新标题"),
                       encoding="utf-8")  # fmt: skip
    run = manyi("questionnaire", "publish", str(changed), env=env)
    assert run.returncode == 1 and "new version" in run.stderr


def test_stopping_the_demo_with_sigterm_stops_its_analysis_worker_too(tmp_path):
    # A supervisor stops a service with SIGTERM; the worker the demo started beside the
    # server must not outlive it (uvicorn raises the signal again after shutting down).
    port = free_port()
    log = tmp_path / "demo.log"
    env = {**os.environ, "MANYI_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
           "MANYI_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}  # fmt: skip
    command = [sys.executable, "-m", "api.cli.main", "demo", "--port", str(port)]
    with open(log, "w") as out:
        demo = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                break
            except OSError:
                assert demo.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        workers = _children(demo.pid)
        assert workers, "the demo started no analysis worker"
        demo.terminate()
        demo.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers), log.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
        for pid in _children(demo.pid):
            os.kill(pid, 9)


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_the_demo_on_a_database_of_an_earlier_sample_says_to_start_afresh(tmp_path):
    # A database left by an earlier demo whose sample questionnaire has changed since: the
    # demo stops saying what to do, instead of a traceback.
    import shutil

    from api.cli.demo import prepare_demo

    earlier = tmp_path / "samples"
    shutil.copytree(SAMPLES, earlier)
    form = earlier / "csi_questionnaire.yaml"
    form.write_text(form.read_text(encoding="utf-8").replace(
        "zh: 移动客户满意度调查", "zh: 移动客户满意度调查（旧）"), encoding="utf-8")  # fmt: skip
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    prepare_demo(engine, earlier)
    engine.dispose()
    run = manyi("demo", "--no-serve", env={"MANYI_DATABASE_URL": url})
    assert run.returncode == 1, run.stdout
    assert "earlier demo" in run.stderr and "make clean" in run.stderr
    assert "Traceback" not in run.stderr

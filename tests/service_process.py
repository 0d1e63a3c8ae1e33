"""``manyi`` commands as real processes, for the tests of the command line and of a service.

:func:`run_manyi` runs one command to its end. :func:`running` starts one (and optionally
companions such as the analysis worker), waits until ``/health`` answers, yields, and stops
them all, whatever happened; :func:`serving` is ``manyi serve`` on a database so. Their
output goes to a log file (an unread pipe would block a process once full) that a failure
prints.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

# Generous against a loaded 2-core CI machine: a server starts in a few seconds when idle.
STARTUP_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manyi(*args: str) -> list[str]:
    """The command line of ``manyi ARGS`` with this interpreter (no installed script needed)."""
    return [sys.executable, "-m", "api.cli.main", *args]


def run_manyi(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``manyi ARGS`` to its end, with ``env`` over this process's environment; its output
    captured and its exit code left to the caller."""
    return subprocess.run(
        manyi(*args), capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, check=False,
    )  # fmt: skip


@contextmanager
def running(
    command: Sequence[str],
    *,
    base_url: str,
    env: dict[str, str],
    log_path: Path,
    companions: Sequence[Sequence[str]] = (),
) -> Iterator[None]:
    """Run ``command`` (a server answering at ``base_url``) and ``companions`` beside it."""
    with ExitStack() as stack:
        log = stack.enter_context(open(log_path, "w+", encoding="utf-8"))

        def start(argv: Sequence[str]) -> subprocess.Popen:
            process = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env)  # fmt: skip
            stack.callback(_stop, process)
            return process

        server = start(command)
        for companion in companions:
            start(companion)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if server.poll() is not None:
                log.seek(0)
                what = " ".join(command[2:])
                pytest.fail(f"{what} exited with {server.returncode}:\n{log.read()}")
            try:
                urllib.request.urlopen(base_url + "/health", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"{base_url}/health did not answer in {STARTUP_TIMEOUT_S} s:\n"
                                f"{log.read()}")  # fmt: skip
                time.sleep(0.1)
        yield


def local_base() -> str:
    """A base URL on loopback at a free port, for a server about to start."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def serving(database_url: str, folder: Path, base: str | None = None, **env: str) -> Iterator[str]:
    """``manyi serve`` on ``database_url`` at ``base`` (a free port's when None), its log in
    ``folder``, with ``env``'s settings (``MANYI_...``) over this process's; yields the base."""
    base = base or local_base()
    environment = {**os.environ, "MANYI_DATABASE_URL": database_url,
                   "MANYI_PUBLIC_BASE_URL": base, **env}  # fmt: skip
    port = base.rsplit(":", 1)[1]
    with running(manyi("serve", "--port", port), base_url=base, env=environment,
                 log_path=folder / "server.log"):  # fmt: skip
        yield base


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

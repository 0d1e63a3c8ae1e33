"""Files from outside cannot exhaust the parsers (security issue 18, item 3).

Each attack shown against Manyi runs here as an operator runs it, ``manyi questionnaire
validate`` or ``manyi frame import`` in a subprocess: a YAML alias bomb (2.2 GB before), a
zip-bomb workbook (1.29 GB from 412 KB before), a 3-million-row workbook (still importing
after 120 s before), 5,000 nested parentheses in skip logic (a traceback before).

Memory is measured, not guessed. ``os.wait4`` returns the resource usage of the one child
it reaps, so ``ru_maxrss`` is the peak resident set of that command alone (a cumulative
``RUSAGE_CHILDREN`` would mix in every earlier test's children). The attack's peak must stay
within 100 MB of the peak of the same command on a small valid file, measured just before in
the same test: the interpreter, its imports and the database migrations cost the same in
both. An address-space limit (RLIMIT_AS, 2 GiB) is only a backstop, so that a regression
fails with a MemoryError instead of exhausting a shared machine; a time limit does the same
for a regression that reads for minutes.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

from tests.common import SAMPLES
from tests.service_process import manyi
from tests.unit.survey.questionnaire.workbooks import (
    cell,
    customer,
    frame_header,
    write_workbook,
)

MB = 1024 * 1024
#: How much more than the same command on a small valid file an attack may take.
MEMORY_MARGIN = 100 * MB
BACKSTOP = 2048 * MB


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes


def _backstop() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (BACKSTOP, BACKSTOP))


def run_measured(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
    """``manyi ARGS`` to its end, with its own peak resident set (see the module's notes)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            manyi(*args), stdout=out, stderr=err, env={**os.environ, **(env or {})},
            preexec_fn=_backstop,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                pytest.fail(f"manyi {' '.join(args)} still running after {timeout} s")
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it again
        out.seek(0)
        err.seek(0)
        return Run(
            os.waitstatus_to_exitcode(status),
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            usage.ru_maxrss * 1024,  # kilobytes on Linux
        )


def assert_within_margin(attack: Run, baseline: Run) -> None:
    assert baseline.returncode == 0, baseline.stderr
    extra = attack.peak_rss - baseline.peak_rss
    assert extra < MEMORY_MARGIN, (
        f"peak {attack.peak_rss / MB:.0f} MB, {extra / MB:.0f} MB over the "
        f"{baseline.peak_rss / MB:.0f} MB of a valid file"
    )


def assert_refused_cleanly(run: Run, code: int, *fragments: str) -> None:
    assert run.returncode == code, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in run.stderr, run.stderr[-2000:]


# -- questionnaires ----------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_located_within_100_mb(tmp_path):
    # Nine levels of ten aliases: a billion "lol"s once expanded, as the title the validator
    # turns into text.
    levels = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    sample = (SAMPLES / "csi_questionnaire.yaml").read_text(encoding="utf-8")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("x_lol:\n" + "\n".join(levels) + "\n"
                    + sample.replace("\ntitle:", "\nx_title:", 1)
                    + "\ntitle: {zh: *a8, en: lol}\n", encoding="utf-8")  # fmt: skip

    baseline = run_measured("questionnaire", "validate", str(SAMPLES / "csi_questionnaire.yaml"))
    attack = run_measured("questionnaire", "validate", str(bomb))
    assert_refused_cleanly(attack, 1, f"{bomb}: 1 problem(s) must be fixed",
                           "line 6, column ", "[yaml-aliases]", "fix: ")  # fmt: skip
    assert_within_margin(attack, baseline)


def test_5000_nested_parentheses_are_a_located_problem_not_a_traceback(tmp_path):
    sample = (SAMPLES / "csi_questionnaire.yaml").read_text(encoding="utf-8")
    nested = "(" * 5000 + "${sat_overall} <= 2" + ")" * 5000
    form = tmp_path / "nested.yaml"
    form.write_text(sample.replace("{name: loy_recommend,",
                                   f"{{name: loy_recommend, relevant: '{nested}',", 1),
                    encoding="utf-8")  # fmt: skip
    assert nested in form.read_text(encoding="utf-8")
    for command in ("validate", "publish"):
        env = {"MANYI_DATABASE_URL": f"sqlite:///{tmp_path / 'manyi.db'}"}
        run = run_measured("questionnaire", command, str(form), env=env)
        assert_refused_cleanly(run, 1, "[relevant-syntax]", "relevant of 'loy_recommend'",
                               "nested more than 32 levels deep (at column 33)")  # fmt: skip
        assert ".relevant (line " in run.stderr


# -- sample frames -----------------------------------------------------------------------


@pytest.fixture
def frame_env(tmp_path):
    return {"MANYI_DATABASE_URL": f"sqlite:///{tmp_path / 'manyi.db'}",
            "MANYI_SMS_TRANSPORT": "simulator", "MANYI_SECRET_KEY": "k" * 48,
            "MANYI_ENV": "test"}  # fmt: skip


def frame_import(path, env, name) -> Run:
    return run_measured("frame", "import", str(path), "--name", name, env=env)


def small_frame(tmp_path):
    return write_workbook(tmp_path / "small.xlsx", [frame_header(), *map(customer, range(2, 7))])


@pytest.mark.slow
def test_a_zip_bomb_workbook_is_refused_by_frame_import_within_100_mb(tmp_path, frame_env):
    # 200 MB of one customer row repeated, which deflate squeezes to a few hundred KB.
    values = (b"C1", b"+8613800138000", b"Hangzhou", b"Hangzhou-01", b"3", b"26", b"zh", b"1")
    block = (b"<row>" + b"".join(cell(b"", v) for v in values) + b"</row>") * 10_000
    bomb = write_workbook(tmp_path / "bomb.xlsx", [frame_header(), *[block] * 60],
                          compresslevel=9)  # fmt: skip
    assert bomb.stat().st_size < 2 * MB

    baseline = frame_import(small_frame(tmp_path), frame_env, "small")
    attack = frame_import(bomb, frame_env, "bomb")
    # 2: the file cannot be read (the command's documented code; 1 is "no row stored").
    assert_refused_cleanly(attack, 2, "error: bomb.xlsx: the part xl/worksheets/sheet1.xml",
                           "more than the 100 times of a real workbook")  # fmt: skip
    assert_within_margin(attack, baseline)


@pytest.mark.slow
def test_a_workbook_of_3_million_rows_is_refused_within_seconds(tmp_path, frame_env):
    def rows():
        for start in range(2, 3_000_002, 20_000):
            yield b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (n, n, n)
                           for n in range(start, start + 20_000))  # fmt: skip

    long = write_workbook(tmp_path / "long.xlsx", [frame_header(), *rows()], compresslevel=1)
    baseline = frame_import(small_frame(tmp_path), frame_env, "small")
    # Refused after reading a third of the sheet; importing it took minutes before. The time
    # limit is generous for a loaded machine (an idle one refuses it in a few seconds).
    attack = frame_import(long, frame_env, "long")
    assert_refused_cleanly(attack, 2, "error: long.xlsx: a sheet has more than 1,048,576 rows",
                           "split it into smaller workbooks, or save the data as CSV")  # fmt: skip
    assert_within_margin(attack, baseline)

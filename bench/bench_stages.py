"""Benchmark: a fit's cost per stage, and whole commands, at 5,000, 50,000 and 200,000 responses.

Run ``.venv/bin/python bench/bench_stages.py``. Responses are simulated from the sample
questionnaire's truth (``manyi sample generate``) and written as CSV, as a user's export
would be. For each size, in-process and with the imports already done:

- **read**: the CSV into a table (``api.cli.fit_inputs.read_table``);
- **score**: answer codes into scores (``survey.questionnaire.scores.item_scores``);
- **fit**: the PLS fit with its measurement quality (``models.fit.fit_model``);
- **resample**: 200 bootstrap resamples on top of the fit.

Then, at 200,000 responses, the whole commands a user runs, each a fresh process, against
the issue's targets: ``manyi fit`` (3 s), with ``--bootstrap 200`` (10 s), ``--engine sem``
(3 s) and ``manyi priorities --bootstrap 200`` (10 s). Ratios are against the 5,000-row
stage times measured in the same run, so that the growth shows. Asserts nothing.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONNAIRE = ROOT / "data" / "samples" / "csi_questionnaire.yaml"
SIZES = (5_000, 50_000, 200_000)
N_BOOT = 200
COMMANDS = {
    "fit": ([], 3.0),
    f"fit --bootstrap {N_BOOT}": (["--bootstrap", str(N_BOOT), "--seed", "1"], 10.0),
    "fit --engine sem": (["--engine", "sem", "--allow-improper"], 3.0),
}


def generate(n: int, folder: Path) -> Path:
    path = folder / f"responses_{n}.csv"
    subprocess.run([sys.executable, "-m", "api.cli.main", "sample", "generate", "--n", str(n),
                    "--seed", "7", "--out", str(path)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return path


def stages(path: Path) -> dict[str, float]:
    from api.cli.fit_inputs import read_model, read_table
    from models.fit import fit_model
    from models.syntax import parse_model
    from survey.questionnaire.scores import item_scores

    text, questionnaire = read_model(QUESTIONNAIRE)
    items = parse_model(text).observed
    times = {}
    start = time.perf_counter()
    table = read_table(path)
    times["read"] = time.perf_counter() - start
    start = time.perf_counter()
    scores = item_scores(table, items, questionnaire)
    times["score"] = time.perf_counter() - start
    start = time.perf_counter()
    fit_model(text, scores, engine="pls")
    times["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    fit_model(text, scores, engine="pls", n_boot=N_BOOT, random_state=1)
    times["resample"] = time.perf_counter() - start - times["fit"]
    return times


def command(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "api.cli.main", *args], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        paths = {n: generate(n, Path(folder)) for n in SIZES}
        stages(paths[SIZES[0]])  # warm-up: imports, caches
        measured = {n: stages(paths[n]) for n in SIZES}
        print(f"Stages of a PLS fit of the sample questionnaire ({N_BOOT} resamples), seconds "
              f"(and ratio to {SIZES[0]:,} responses)")  # fmt: skip
        print(f"{'responses':>10}" + "".join(f"{s:>18}" for s in ("read", "score", "fit",
                                                                    "resample")))  # fmt: skip
        base = measured[SIZES[0]]
        for n in SIZES:
            cells = "".join(
                f"{measured[n][s]:>10.3f} ({measured[n][s] / base[s]:>4.1f}x)"
                for s in ("read", "score", "fit", "resample")
            )
            print(f"{n:>10,}{cells}")
        largest = paths[SIZES[-1]]
        print(f"\nWhole processes at {SIZES[-1]:,} responses (target)")
        rows = [(f"manyi {name}", ["fit", str(QUESTIONNAIRE), str(largest), *args], target)
                for name, (args, target) in COMMANDS.items()]  # fmt: skip
        priorities = ["priorities", str(QUESTIONNAIRE), str(largest), "--target",
                      "satisfaction", "--bootstrap", str(N_BOOT), "--seed", "1"]  # fmt: skip
        rows.append((f"manyi priorities --bootstrap {N_BOOT}", priorities, 10.0))
        for label, args, target in rows:
            seconds = command(args)
            verdict = "ok" if seconds <= target else "over"
            print(f"{label:38}{seconds:>8.2f} s  (target {target:g} s: {verdict})")


if __name__ == "__main__":
    main()

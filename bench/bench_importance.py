"""Benchmark: exact LMG (Manyi) against pingouin's, plus Johnson's relative weights.

Run ``.venv/bin/python bench/bench_importance.py``. Data: 5,000 simulated respondents,
17 correlated drivers (every pair correlated 0.35, decreasing true effects), seed fixed.

Prints, in one run: Manyi's exact LMG (median of several calls), pingouin's
``linear_regression(relimp=True)`` (ONCE: it takes ~20 s), their ratio, the largest
absolute difference between the two LMG columns as a check, and the time of
``relative_weights`` with its Spearman rank correlation against LMG. BLAS is pinned to one
thread (environment, before numpy loads, and threadpoolctl): on these 2-core machines a
multi-threaded BLAS is slower and noisy. Asserts nothing.
"""

from __future__ import annotations

import os

_PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(_PINNED)

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

N, P, SEED, REPEATS = 5_000, 17, 2024, 20
ROOT = Path(__file__).resolve().parents[1]


def simulate():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    cov = 0.35 + 0.65 * np.eye(P)
    X = rng.multivariate_normal(np.zeros(P), cov, size=N)
    y = X @ np.linspace(0.4, 0.02, P) + rng.normal(size=N)
    return pd.DataFrame(X, columns=[f"d{j:02d}" for j in range(P)]), y


def timed(function, repeats: int) -> float:
    """Median wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import pingouin as pg
    from scipy.stats import spearmanr
    from threadpoolctl import threadpool_limits

    from scoring.importance import lmg, relative_weights

    with threadpool_limits(limits=1):
        X, y = simulate()
        ours, weights = lmg(X, y), relative_weights(X, y)  # warm-up
        t_ours = timed(lambda: lmg(X, y), REPEATS)
        t_rw = timed(lambda: relative_weights(X, y), REPEATS)
        print(f"pingouin linear_regression(relimp=True), {P} drivers: ONE run, ~20 s ...")
        start = time.perf_counter()
        reference = pg.linear_regression(X, y, relimp=True)
        t_pg = time.perf_counter() - start
    gap = np.abs(ours["importance"].to_numpy() - reference["relimp"].to_numpy()[1:]).max()
    rho = spearmanr(ours["importance"], weights["importance"])[0]

    print(f"Importance benchmark: {N:,} rows x {P} drivers, BLAS 1 thread, seed {SEED}")
    print(f"{'exact LMG, Manyi (median of ' + str(REPEATS) + ')':44}{t_ours * 1e3:>10.1f} ms")
    print(f"{'exact LMG, pingouin (once)':44}{t_pg * 1e3:>10.1f} ms")
    print(f"{'ratio pingouin / Manyi':44}{t_pg / t_ours:>10.0f} x")
    print(f"{'relative weights, Manyi (median of ' + str(REPEATS) + ')':44}{t_rw * 1e3:>10.2f} ms")
    print(f"largest |LMG difference| Manyi vs pingouin: {gap:.1e}")
    print(f"Spearman(relative weights, LMG): {rho:.3f}")


if __name__ == "__main__":
    main()

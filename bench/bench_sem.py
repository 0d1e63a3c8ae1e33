"""Benchmark: covariance-based SEM on 1,000 vs 1,000,000 simulated survey rows.

Run ``.venv/bin/python bench/bench_sem.py``. Each size runs in its own subprocess (so
peak memory is that size's alone) with BLAS pinned to one thread: on these 2-core
machines a multi-threaded BLAS makes semopy slower and noisy. Prints time and memory per
size and the ratios against the 1,000-row baseline measured in the same run; it asserts
nothing (targets: time ratio under 3, peak memory under 1 GB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SIZES = (1_000, 1_000_000)
REPEATS = 5
MODEL = """
quality =~ q1 + q2 + q3 + q4
value =~ v1 + v2 + v3
satisfaction =~ s1 + s2 + s3
loyalty =~ l1 + l2
value ~ quality
satisfaction ~ quality + value
loyalty ~ satisfaction
"""
_PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def simulate(n_rows: int, seed: int = 0):
    """Ten-point Likert answers generated from the model with known parameters."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n_rows)
    value = 0.6 * quality + rng.normal(scale=0.8, size=n_rows)
    satisfaction = 0.5 * quality + 0.3 * value + rng.normal(scale=0.7, size=n_rows)
    loyalty = 0.7 * satisfaction + rng.normal(scale=0.7, size=n_rows)
    factors = {"q": quality, "v": value, "s": satisfaction, "l": loyalty}
    counts = {"q": 4, "v": 3, "s": 3, "l": 2}
    columns = {}
    for prefix, count in counts.items():
        for i in range(1, count + 1):
            latent = 0.8 * factors[prefix] + rng.normal(scale=0.6, size=n_rows)
            columns[f"{prefix}{i}"] = np.clip(np.rint(6.5 + 1.5 * latent), 1, 10)
    return pd.DataFrame(columns)


def measure(n_rows: int) -> dict[str, float]:
    """Time and memory of fit_sem on n_rows (runs inside the child process)."""
    import resource
    import time
    import tracemalloc

    import numpy as np

    from models.sem import fit_sem
    from models.sem_moments import fingerprint

    data = simulate(n_rows)
    fit_sem(MODEL, data)  # warm-up: imports, caches
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fit_sem(MODEL, data)
        times.append(time.perf_counter() - start)
    # The provenance fingerprint reads every value once, inside fit_sem: time it alone
    # (best of the same number of runs) to show its share.
    rows, columns = data.to_numpy(dtype=np.float64), list(data.columns)
    hash_times = []
    for _ in range(REPEATS):
        hash_start = time.perf_counter()
        fingerprint(rows, columns)
        hash_times.append(time.perf_counter() - hash_start)
    tracemalloc.start()
    fit_sem(MODEL, data)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": n_rows,
        "seconds": min(times),
        "hash_seconds": min(hash_times),
        "fit_peak_mb": traced_peak / 2**20,
        # ru_maxrss is in KiB on Linux: the whole process, data and imports included.
        "process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "data_mb": data.memory_usage(deep=True).sum() / 2**20,
        "chisq": result.fit["chisq"],
        "converged": result.converged,
    }


def run_child(n_rows: int) -> dict[str, float]:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, **_PINNED, "PYTHONPATH": str(root)}
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(n_rows)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    results = [run_child(n) for n in SIZES]
    base = results[0]
    print(f"{'rows':>10} {'fit s':>8} {'x base':>7} {'hash s':>9} {'fit peak MB':>12}"
          f" {'process MB':>11} {'data MB':>8}  converged")  # fmt: skip
    for r in results:
        print(
            f"{r['rows']:>10,} {r['seconds']:>8.4f} {r['seconds'] / base['seconds']:>7.2f}"
            f" {r['hash_seconds']:>9.4f} {r['fit_peak_mb']:>12.1f}"
            f" {r['process_peak_mb']:>11.1f} {r['data_mb']:>8.1f}"
            f"  {r['converged']}"
        )
    big = results[-1]
    print(
        f"time ratio {big['seconds'] / base['seconds']:.2f} (target < 3); "
        f"peak process memory {big['process_peak_mb']:.0f} MB (target < 1024); "
        f"BLAS threads pinned to 1; best of {REPEATS} fits after a warm-up.\n"
        "hash s: the provenance fingerprint (sha256, integer answers hashed as one byte "
        "each), computed inside fit s."
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        main()

"""Benchmark: IPMA with a 1,000-resample bootstrap on the sample survey, batched vs naive.

Run ``.venv/bin/python bench/bench_ipma.py``. Data: ``data/samples/responses.csv``
(5,000 rows x 29 items, "cannot answer" as NaN), the questionnaire's CSI model, target
satisfaction. Measured in one run:

1. baseline: one ``fit_pls`` (median of several) and one naive IPMA replicate (draw a
   resample, ``fit_pls`` it, compute its IPMA point estimates), the naive loop timed on
   50 resamples and extrapolated to 1,000;
2. :func:`scoring.ipma.ipma` with 1,000 resamples (median of a few runs), which
   re-estimates every resample from its weighted moments on a stack of correlation
   matrices;
3. for context, ``fit_pls(n_boot=1000)`` (the model's own bootstrap, with its BCa
   jackknife).

BLAS is pinned to one thread (environment before numpy loads, and threadpoolctl): a
multi-threaded BLAS is slower and noisy on these 2-core machines. Prints times and
ratios; asserts nothing. The naive and batched draws of the first resamples are compared
as a check that both compute the same thing.
"""

from __future__ import annotations

import os

_PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(_PINNED)

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

N_BOOT = 1000
N_NAIVE = 50
SEED = 2024
FIT_REPEATS = 15
IPMA_REPEATS = 3
TARGET = "satisfaction"
BUDGET_S = 5.0
ROOT = Path(__file__).resolve().parents[1]


def load_sample():
    """Sample responses as item scores ("6" = cannot answer as NaN), questionnaire, spec."""
    import pandas as pd

    from models.syntax import parse_model
    from survey.questionnaire import load_questionnaire

    questionnaire, _ = load_questionnaire(ROOT / "data" / "samples" / "csi_questionnaire.yaml")
    spec = parse_model(questionnaire.lavaan_syntax())
    raw = pd.read_csv(ROOT / "data" / "samples" / "responses.csv", dtype=str, keep_default_na=False)
    scores = {}
    for name in spec.observed:
        item = questionnaire.item(name)
        scores[name] = raw[name].map({c: item.score(c) for c in raw[name].unique()}).astype(float)
    return pd.DataFrame(scores), questionnaire, spec


def timed(function, repeats: int) -> float:
    """Median wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def naive(frame, questionnaire, spec, n_resamples: int):
    """The loop a batched bootstrap replaces: refit every resample, take its IPMA."""
    import numpy as np

    from models.pls import fit_pls
    from scoring.ipma import ipma

    rng = np.random.default_rng(SEED)
    importance = []
    for _ in range(n_resamples):
        rows = rng.integers(0, len(frame), size=len(frame))
        resample = frame.iloc[rows].reset_index(drop=True)
        fitted = fit_pls(spec, resample)
        out = ipma(fitted, resample, questionnaire, TARGET, n_boot=0)
        importance.append(out.items["importance"].to_numpy())
    return np.array(importance)


def main() -> None:
    from threadpoolctl import threadpool_limits

    sys.path.insert(0, str(ROOT))
    from models.pls import fit_pls
    from scoring.ipma import ipma

    with threadpool_limits(limits=1):
        frame, questionnaire, spec = load_sample()
        result = fit_pls(spec, frame)  # warm-up: imports, caches

        def batched():
            return ipma(result, frame, questionnaire, TARGET, n_boot=N_BOOT, random_state=SEED)

        batched()
        fit_time = timed(lambda: fit_pls(spec, frame), FIT_REPEATS)
        start = time.perf_counter()
        naive_draws = naive(frame, questionnaire, spec, N_NAIVE)
        naive_time = (time.perf_counter() - start) * N_BOOT / N_NAIVE
        ipma_time = timed(batched, IPMA_REPEATS)
        model_boot_time = timed(lambda: fit_pls(spec, frame, n_boot=N_BOOT, random_state=SEED), 1)
        gap = abs(batched().draws.item_importance[:N_NAIVE] - naive_draws).max()

    n, p = frame.shape
    print(
        f"IPMA benchmark: sample survey {n} x {p}, target {TARGET}, {N_BOOT} resamples, "
        f"BLAS 1 thread, seed {SEED}"
    )
    rows = [
        ("one fit_pls (baseline unit)", fit_time),
        (f"{N_BOOT} x fit_pls alone (floor of any refit loop)", fit_time * N_BOOT),
        (f"naive IPMA bootstrap, {N_BOOT} refits (from {N_NAIVE})", naive_time),
        (f"fit_pls(n_boot={N_BOOT}) for context", model_boot_time),
        (f"ipma(n_boot={N_BOOT}), batched", ipma_time),
    ]
    for label, seconds in rows:
        print(f"  {label:48}{seconds:>9.3f} s{seconds / ipma_time:>9.2f}x of batched IPMA")
    print(f"  speed-up of batched IPMA over the naive loop: {naive_time / ipma_time:.1f}x")
    print(f"  batched IPMA costs {ipma_time / fit_time:.0f} single fits")
    verdict = "within" if ipma_time < BUDGET_S else "OVER"
    print(f"  target: under {BUDGET_S:.0f} s -> {ipma_time:.2f} s, {verdict} budget")
    print(
        f"  largest |item importance gap|, naive vs batched, first {N_NAIVE} resamples: {gap:.1e}"
    )


if __name__ == "__main__":
    main()

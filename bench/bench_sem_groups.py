"""Benchmark: multi-group, robust and ordinal SEM beside single-group ML, on the sample survey.

Run ``.venv/bin/python bench/bench_sem_groups.py``. Data: ``data/samples/responses.csv``
scored by the sample questionnaire (29 rating items, 8 constructs), complete rows only,
and its 7 regions. Each fit runs in-process with its imports done, the median of a few
runs, with BLAS pinned to one thread (these machines have 2 cores). Prints seconds and the
ratio to single-group ML (the same Fisher scoring engine as the others), measured in the
same run; the goal for multi-group and robust fits is within 3x of it. Asserts nothing.
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
REPEATS = 3


def timed(function) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from api.cli.fit_inputs import load_group_inputs
    from models.invariance import invariance
    from models.sem import fit_sem
    from models.sem_groups import fit_multigroup
    from models.sem_ordinal import fit_ordinal

    samples = ROOT / "data" / "samples"
    inputs = load_group_inputs(samples / "csi_questionnaire.yaml", samples / "responses.csv",
                               None, "region")  # fmt: skip
    data = inputs.data.dropna()
    model = inputs.model
    fit_sem(model, data)  # warm-up: imports and caches
    baseline = timed(lambda: fit_sem(model, data))
    rows = [
        ("single-group ML", baseline),
        ("single-group MLR", timed(lambda: fit_sem(model, data, estimator="MLR"))),
        ("single-group WLSMV (ordered)", timed(lambda: fit_ordinal(model, data, "all"))),
        ("7 regions, ML, configural", timed(lambda: fit_multigroup(model, data, "region"))),
        ("7 regions, ML, equal loadings",
         timed(lambda: fit_multigroup(model, data, "region", group_equal=["loadings"]))),
        ("7 regions, MLR, configural",
         timed(lambda: fit_multigroup(model, data, "region", estimator="MLR"))),
        ("invariance sequence (4 fits)", timed(lambda: invariance(model, data, "region"))),
    ]  # fmt: skip
    print(f"SEM on the sample survey: {len(data):,} complete rows, 29 items, 7 regions, "
          "BLAS 1 thread")  # fmt: skip
    for label, seconds in rows:
        print(f"{label:34}{seconds:>8.3f} s{seconds / baseline:>8.2f}x")


if __name__ == "__main__":
    main()

"""The sample survey as item scores, shared by the scoring tests."""

from __future__ import annotations

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from models.syntax import PathSpec, parse_model
from tests.common import SAMPLES


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # One BLAS thread: reproducible sums and no oversubscription on these 2-core machines.
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def sample_scores(sample_questionnaire) -> tuple[PathSpec, pd.DataFrame, pd.DataFrame]:
    """(the questionnaire's model, the raw responses as text, their item scores).

    Scores use the questionnaire's label-to-score maps; "cannot answer" (6) is NaN.
    """
    spec = parse_model(sample_questionnaire.lavaan_syntax())
    raw = pd.read_csv(SAMPLES / "responses.csv", dtype=str, keep_default_na=False)
    scores = {}
    for name in spec.observed:
        item = sample_questionnaire.item(name)
        scores[name] = raw[name].map({c: item.score(c) for c in raw[name].unique()}).astype(float)
    return spec, raw, pd.DataFrame(scores)

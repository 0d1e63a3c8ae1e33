import numpy as np
import pandas as pd
import phonenumbers
import pytest

from survey.frames.sample_frame import (
    FRAME_COLUMNS,
    MAX_FICTION_NUMBERS,
    fiction_phone_numbers,
    generate_frame,
    read_frame,
    tenure_coefficient,
    value_tiers,
)
from tests.common import SAMPLES


@pytest.mark.parametrize(
    ("months", "coefficient"),
    [(1, 1.0), (12, 1.0), (13, 1.1), (24, 1.1), (25, 1.5), (36, 1.5), (37, 1.7), (48, 1.7),
     (49, 1.9), (60, 1.9), (61, 2.0), (240, 2.0)],
)  # fmt: skip
def test_tenure_coefficient_follows_the_operators_table(months, coefficient):
    assert tenure_coefficient([months])[0] == coefficient


def test_value_tiers_split_at_5_10_15_40_30_percent_from_the_top():
    rng = np.random.default_rng(0)
    spend = rng.lognormal(4, 0.5, 10_000)
    tenure = rng.integers(1, 120, 10_000)
    tiers = value_tiers(spend, tenure)
    shares = pd.Series(tiers).value_counts(normalize=True).sort_index()
    assert shares.to_dict() == {1: 0.30, 2: 0.40, 3: 0.15, 4: 0.10, 5: 0.05}
    value = spend * tenure_coefficient(tenure)
    # every five-star customer is worth at least as much as every four-star one, etc.
    for upper in (5, 4, 3, 2):
        assert value[tiers == upper].min() >= value[tiers == upper - 1].max()


def test_value_tiers_weigh_spend_by_tenure():
    # Same spend: the long-standing customer (coefficient 2.0) ranks above the newcomer.
    tiers = value_tiers([100.0] * 20, [6] * 19 + [72])
    assert tiers[-1] == 5


def test_fiction_numbers_are_valid_e164_in_the_reserved_555_01xx_range():
    numbers = fiction_phone_numbers(MAX_FICTION_NUMBERS)
    assert len(set(numbers)) == MAX_FICTION_NUMBERS
    for number in numbers:
        parsed = phonenumbers.parse(number)
        assert phonenumbers.is_valid_number(parsed), number
        assert number[:2] == "+1" and number[5:10] == "55501"


def test_more_customers_than_fictional_numbers_is_refused():
    with pytest.raises(ValueError, match="fictional numbers"):
        fiction_phone_numbers(MAX_FICTION_NUMBERS + 1)


def test_generated_frame_is_reproducible_and_has_the_frame_columns():
    a, b = generate_frame(500, seed=3), generate_frame(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert tuple(a.columns) == FRAME_COLUMNS
    assert not generate_frame(500, seed=4).equals(a)


def test_committed_sample_frame_is_the_generated_one_with_20000_customers():
    committed = read_frame(SAMPLES / "frame.csv")
    assert len(committed) >= 20_000
    assert committed["phone"].is_unique and committed["customer_id"].is_unique
    generated = generate_frame(len(committed))
    pd.testing.assert_frame_equal(
        committed, generated.astype(committed.dtypes.to_dict()), check_exact=False, rtol=1e-12
    )


def test_frame_without_required_columns_names_them(tmp_path):
    path = tmp_path / "frame.csv"
    pd.DataFrame({"customer_id": ["C1"], "phone": ["+12025550100"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="region, service_hall"):
        read_frame(path)

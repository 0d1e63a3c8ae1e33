"""Sample frames: the customers a campaign draws from, and the operator's five-star tiers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from survey.questionnaire.bounded import read_excel

#: Tenure coefficient of the value score: (upper bound in months, coefficient).
TENURE_COEFFICIENTS: tuple[tuple[float, float], ...] = (
    (12, 1.0),
    (24, 1.1),
    (36, 1.5),
    (48, 1.7),
    (60, 1.9),
    (np.inf, 2.0),
)
#: Share of customers per tier, from the top: five-star 5%, four 10%, three 15%, two 40%,
#: one-star 30%.
TIER_SHARES: tuple[tuple[int, float], ...] = ((5, 0.05), (4, 0.10), (3, 0.15), (2, 0.40), (1, 0.30))

FRAME_COLUMNS = (
    "customer_id",
    "phone",
    "region",
    "service_hall",
    "tenure_months",
    "monthly_spend",
    "tier",
    "language",
    "consent",
)


def tenure_coefficient(tenure_months: np.ndarray | pd.Series) -> np.ndarray:
    """The operator's tenure coefficient: ≤12 months 1.0, 13-24 1.1, 25-36 1.5, 37-48 1.7,
    49-60 1.9, >60 2.0."""
    months = np.asarray(tenure_months, dtype=float)
    bounds = np.array([b for b, _ in TENURE_COEFFICIENTS[:-1]])
    coefficients = np.array([c for _, c in TENURE_COEFFICIENTS])
    return coefficients[np.searchsorted(bounds, months, side="left")]


def value_tiers(monthly_spend, tenure_months) -> np.ndarray:
    """Five-star tiers (5 = five-star ... 1 = one-star) by the operator's value rule.

    Customers are ranked by value score (monthly spend × tenure coefficient) and split from
    the top at 5%, 10%, 15%, 40% and 30%. Ties keep their input order, so the split is
    reproducible.
    """
    value = np.asarray(monthly_spend, dtype=float) * tenure_coefficient(tenure_months)
    n = value.size
    order = np.argsort(-value, kind="stable")
    tiers = np.empty(n, dtype=int)
    start = 0
    cumulative = 0.0
    for tier, share in TIER_SHARES:
        cumulative += share
        stop = n if tier == 1 else int(round(cumulative * n))
        tiers[order[start:stop]] = tier
        start = stop
    return tiers


# Area codes of the North American plan: in every one of them, 555-0100 to 555-0199 is
# reserved for fiction, so no real customer can ever be texted from the sample frame.
FICTION_AREA_CODES = (
    201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219,
    220, 223, 224, 225, 226, 227, 228, 229, 231, 234, 235, 236, 239, 240, 248, 249, 250, 251,
    252, 253, 254, 256, 257, 260, 262, 263, 267, 269, 270, 272, 273, 274, 276, 279, 281, 283,
    289, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318,
    319, 320, 321, 323, 324, 325, 326, 327, 329, 330, 331, 332, 334, 336, 337, 339, 340, 341,
    343, 346, 347, 350, 351, 352, 353, 354, 360, 361, 363, 364, 365, 367, 368, 369, 380, 382,
    385, 386, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 412, 413, 414, 415, 416, 417,
    418, 419, 423, 424, 425, 428, 430, 431, 432, 434, 435, 437, 438, 440, 442, 443, 445, 447,
    448, 450, 458, 463, 464, 468, 469, 470, 472, 474, 475, 478, 479, 480, 484, 601, 602, 603,
    604, 605, 606, 607, 608, 609, 610, 612, 613, 614, 615, 616, 617, 618, 619, 620, 623, 626,
    628, 629, 630, 631, 636, 639, 640, 641, 645, 646, 647, 650, 651, 656, 657, 658, 659, 660,
    661, 662, 667, 669, 670, 671, 672, 678, 680, 681, 682, 689,
)  # fmt: skip
MAX_FICTION_NUMBERS = 100 * len(FICTION_AREA_CODES)

#: Regions of the synthetic province, with how many service halls each has and its share of
#: customers.
REGIONS: tuple[tuple[str, int, float], ...] = (
    ("Hangzhou", 9, 0.28),
    ("Ningbo", 7, 0.19),
    ("Wenzhou", 7, 0.17),
    ("Jiaxing", 5, 0.10),
    ("Shaoxing", 5, 0.10),
    ("Jinhua", 5, 0.09),
    ("Taizhou", 4, 0.07),
)


def fiction_phone_numbers(n: int) -> list[str]:
    """``n`` distinct E.164 numbers of the form +1 NPA 555 01XX (reserved for fiction)."""
    if n > MAX_FICTION_NUMBERS:
        raise ValueError(
            f"only {MAX_FICTION_NUMBERS} fictional numbers exist in the reserved range; "
            f"ask for at most that many customers"
        )
    return [f"+1{FICTION_AREA_CODES[i // 100]}55501{i % 100:02d}" for i in range(n)]


def generate_frame(n: int = 20_000, seed: int = 20261123) -> pd.DataFrame:
    """A synthetic sample frame of ``n`` customers; the same seed gives the same frame.

    Tenure, spend, region and service hall are drawn from plausible distributions; tiers
    follow the operator's five-star rule (:func:`value_tiers`); phone numbers come from the
    range reserved for fiction (:func:`fiction_phone_numbers`), shuffled.
    """
    if n < 1:
        raise ValueError("a sample frame needs at least one customer")
    rng = np.random.default_rng(seed)
    names = [r for r, _, _ in REGIONS]
    shares = np.array([s for _, _, s in REGIONS])
    region_index = rng.choice(len(REGIONS), size=n, p=shares / shares.sum())
    hall_number = np.array([rng.integers(1, REGIONS[r][1] + 1) for r in region_index], dtype=int)
    # Tenure: a mix of recent joiners and long-standing customers, 1 to 240 months.
    tenure = np.where(
        rng.random(n) < 0.35,
        rng.integers(1, 25, size=n),
        np.minimum(240, 12 + rng.gamma(2.0, 24.0, size=n).astype(int)),
    )
    # Monthly spend (CNY): log-normal around 58, a little higher for long tenure.
    spend = np.round(np.exp(rng.normal(np.log(58) + 0.002 * tenure, 0.55)), 2)
    phones = np.array(fiction_phone_numbers(n))[rng.permutation(n)]
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(1, n + 1)],
            "phone": phones,
            "region": [names[r] for r in region_index],
            "service_hall": [
                f"{names[r]}-{h:02d}" for r, h in zip(region_index, hall_number, strict=True)
            ],
            "tenure_months": tenure.astype(int),
            "monthly_spend": spend,
            "tier": value_tiers(spend, tenure),
            "language": np.where(rng.random(n) < 0.9, "zh", "en"),
            "consent": rng.random(n) < 0.97,
        }
    )
    return frame[list(FRAME_COLUMNS)]


def read_frame(path) -> pd.DataFrame:
    """Read a sample frame CSV or XLSX and check it has the columns Manyi needs."""
    path = str(path)
    frame = (
        read_excel(path, dtype={"customer_id": str, "phone": str})
        if path.lower().endswith(".xlsx")
        else pd.read_csv(path, dtype={"customer_id": str, "phone": str})
    )
    missing = [c for c in FRAME_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: the sample frame lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(FRAME_COLUMNS)}"
        )
    return frame

"""Monthly or quarterly trend of a mean, with the change from one period to the next.

Managers read results per month or quarter. A change from 81.2 to 79.8 is news only if it
exceeds what sampling alone produces: each period-over-period change carries its own
confidence interval and p-value, and a period with too few responses is flagged instead of
plotted as if it were measured.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr, ndtri

from scoring.segments import STATUS_OK, STATUS_TOO_FEW, SUMMARY_COLUMNS, segment_summary

__all__ = ["CHANGE_COLUMNS", "FIRST_PERIOD", "TREND_COLUMNS", "Frequency", "trend"]

Frequency = Literal["M", "Q"]

FIRST_PERIOD = "first-period"

CHANGE_COLUMNS: tuple[str, ...] = (
    "change",
    "change_se",
    "change_ci_low",
    "change_ci_high",
    "change_p_value",
    "change_status",
)
TREND_COLUMNS: tuple[str, ...] = SUMMARY_COLUMNS + CHANGE_COLUMNS


def _periods(column: pd.Series, freq: Frequency) -> pd.Series:
    """Calendar periods of ``column`` in its own (local) time."""
    if isinstance(column.dtype, pd.PeriodDtype):
        return column.dt.asfreq(freq)
    if pd.api.types.is_datetime64_any_dtype(column):
        moments = column
    else:
        try:
            moments = pd.to_datetime(column, format="ISO8601")
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"period column {column.name!r} could not be read as dates ({error}); give "
                "datetimes, ISO 8601 strings with one UTC offset, or periods"
            ) from error
    if not pd.api.types.is_datetime64_any_dtype(moments):
        raise ValueError(
            f"period column {column.name!r} mixes UTC offsets; convert it to one time zone "
            "(e.g. Asia/Shanghai) first, so that months are cut in local time"
        )
    if getattr(moments.dt, "tz", None) is not None:
        # A survey month is a local calendar month: drop the zone, keep the wall-clock time
        # (converting to UTC would move answers given after 16:00 on the last day of a
        # month in China into the next month).
        moments = moments.dt.tz_localize(None)
    return moments.dt.to_period(freq)


def period_labels(column: pd.Series, freq: Frequency) -> pd.Series:
    """Each row's calendar month or quarter as text ("2026-04", "2026Q2"), as :func:`trend`
    cuts them; missing where the date is."""
    periods = _periods(column, freq)
    return periods.astype(str).where(periods.notna())


def trend(
    frame: pd.DataFrame,
    value: str,
    period_column: str,
    freq: Frequency = "M",
    weights: str | npt.ArrayLike | None = None,
    min_n: int = 30,
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean of ``value`` per month or quarter, and its change from the previous period.

    Parameters
    ----------
    frame, value
        The respondents and the numeric column to average, as in
        :func:`scoring.segments.segment_summary`.
    period_column : str
        When the respondent answered: datetimes (time-zone aware or not), ISO 8601 strings
        (e.g. ``submitted_at``) or periods. Periods are cut in the local time written in
        the data.
    freq : {"M", "Q"}, default "M"
        Calendar months or quarters.
    weights : str or array-like, optional
        Weight column or one weight per row. Default: unweighted.
    min_n : int, default 30
        Periods with fewer valid responses get ``status = "too-few-responses"`` and no
        mean, interval or change.
    level : float, default 0.95
        Confidence level of the mean and change intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``period`` (a PeriodIndex covering every period from the first to the
        last answer, empty ones included with ``n = 0``), columns ``TREND_COLUMNS``: those of
        :func:`scoring.segments.segment_summary`, then ``change`` (this period's mean minus
        the previous one's), ``change_se``, ``change_ci_low``, ``change_ci_high``,
        ``change_p_value`` and ``change_status`` (``"ok"``, ``"too-few-responses"``
        when either period has too few responses, ``"first-period"``).

    See Also
    --------
    scoring.segments.segment_summary : the per-period means.

    Notes
    -----
    Periods are independent samples (different respondents), so the change
    :math:`\\Delta = \\bar y_t - \\bar y_{t-1}` has
    :math:`se(\\Delta) = \\sqrt{se_t^2 + se_{t-1}^2}`; the test is the large-sample
    :math:`z = \\Delta / se(\\Delta)`, :math:`p = 2\\Phi(-|z|)`, and the interval
    :math:`\\Delta \\pm z_{(1+\\mathrm{level})/2}\\, se(\\Delta)`. A customer answering in
    two consecutive periods makes the samples slightly dependent (positively, so the
    test is then a little conservative). The p-values are not corrected for the number of
    periods looked at. Validated against a hand computation in the tests.

    References
    ----------
    Lohr, S. L. (2022). *Sampling: Design and Analysis* (3rd ed.), section 4.3.
    Boca Raton: CRC Press. https://doi.org/10.1201/9780429298899
    Kish, L. (1965). *Survey Sampling*. New York: Wiley, section 12.4 (comparisons of
    means from independent samples).

    Examples
    --------
    >>> import pandas as pd
    >>> responses = pd.read_csv("data/samples/responses.csv")
    >>> monthly = trend(responses, "hall_waiting", "submitted_at", freq="Q")
    >>> monthly["change_status"].iloc[0]
    'first-period'
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, not {type(frame)!r}")
    if freq not in ("M", "Q"):
        raise ValueError(f"freq must be 'M' (months) or 'Q' (quarters), got {freq!r}")
    if period_column not in frame.columns:
        raise ValueError(f"period column {period_column!r} is not in the frame")
    periods = _periods(frame[period_column], freq)
    if periods.isna().any():
        raise ValueError(
            f"{int(periods.isna().sum())} row(s) have no {period_column!r}; drop them or fill "
            "in when they answered"
        )
    work = frame.assign(period=periods)
    if isinstance(weights, str):
        if weights not in frame.columns:
            raise ValueError(f"weight column {weights!r} is not in the frame")
    elif weights is not None:
        work["_weight"] = np.asarray(weights, dtype="float64")
        weights = "_weight"
    summary = segment_summary(work, value, "period", weights, min_n, level)
    if len(summary):
        full = pd.period_range(summary.index.min(), summary.index.max(), freq=freq, name="period")
        summary = summary.reindex(full)
        empty = summary["n"].isna()
        summary.loc[empty, ["n", "n_missing"]] = 0
        summary.loc[empty, "status"] = STATUS_TOO_FEW
        summary = summary.astype({"n": "int64", "n_missing": "int64"})

    mean = summary["mean"].to_numpy(dtype="float64")
    se = summary["se"].to_numpy(dtype="float64")
    reliable = (summary["status"] == STATUS_OK).to_numpy()
    previous_mean = np.concatenate([[np.nan], mean[:-1]]) if len(mean) else mean
    previous_se = np.concatenate([[np.nan], se[:-1]]) if len(se) else se
    previous_ok = np.concatenate([[False], reliable[:-1]]) if len(reliable) else reliable
    both = reliable & previous_ok

    change = np.where(both, mean - previous_mean, np.nan)
    change_se = np.where(both, np.sqrt(se**2 + previous_se**2), np.nan)
    quantile = float(ndtri(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(change_se > 0, change / change_se, np.nan)
    status = np.where(both, STATUS_OK, STATUS_TOO_FEW).astype(object)
    if len(status):
        status[0] = FIRST_PERIOD
    result = summary.assign(
        change=change,
        change_se=change_se,
        change_ci_low=change - quantile * change_se,
        change_ci_high=change + quantile * change_se,
        change_p_value=2.0 * ndtr(-np.abs(z)),
        change_status=status,
    )
    result.attrs.update(summary.attrs, freq=freq)
    return result[list(TREND_COLUMNS)]

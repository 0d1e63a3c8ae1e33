"""Sample moments for covariance-based SEM: raw rows or a covariance matrix, checked once.

:func:`moments_from_rows` and :func:`moments_from_cov` turn the user's input into the
:class:`Moments` every estimator reads (the biased covariance matrix, N, and for FIML the
rows and their EM moments), refuse input that semopy would silently repair, and
fingerprint the rows for provenance (:func:`fingerprint`). No semopy here.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models import sem_fit_measures

__all__ = ["Moments", "fingerprint", "moments_from_cov", "moments_from_rows"]

# Rows per block when reducing raw data to a covariance matrix: big enough for BLAS,
# small enough that the centred block stays in cache instead of copying the whole frame.
_CHUNK_ROWS = 1 << 16
# Smallest eigenvalue of the sample correlation matrix accepted as positive definite.
_SINGULAR_COV = 1e-10
# Above this ratio of squared mean to variance, X'X/N − mm' keeps fewer than ~10 digits.
_CANCELLATION_LIMIT = 1e6
# Values tried as one-byte integers before converting a whole column: a continuous
# column fails here, at the cost of a few microseconds.
_NARROW_PROBE = 4096
_TAG_INT8, _TAG_FLOAT64 = b"\x01", b"\x08"


@dataclass(frozen=True)
class Moments:
    """What the estimators need from the data, computed once."""

    columns: list[str]
    cov: np.ndarray
    n_obs: int
    source: str  # "covariance", or the rows' fingerprint
    rows: np.ndarray | None = None  # raw rows, FIML only
    dropped: int = 0
    mean: np.ndarray | None = None  # FIML: EM means of the unrestricted model (H1)
    loglik_h1: float = math.nan  # FIML: its log-likelihood


def moments_from_rows(data: pd.DataFrame, columns: list[str], *, keep_missing: bool) -> Moments:
    """Moments of the raw rows of ``columns``.

    With ``keep_missing`` (FIML) rows keep their missing cells, only rows with no observed
    value are dropped, and the moments are the EM estimates of the unrestricted model;
    otherwise rows with any missing value are dropped and the moments are the biased
    (divisor N) sample covariance matrix.
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"variables missing from data: {', '.join(missing)}")
    non_numeric = [c for c in columns if not pd.api.types.is_numeric_dtype(data[c])]
    if non_numeric:
        raise ValueError(f"variables are not numeric: {', '.join(non_numeric)}")
    # The moments must be in the model's order (``columns``): semopy's implied matrices
    # are, and SRMR and the FIML patterns compare the two element by element. When the
    # frame already holds exactly these columns in this order, to_numpy returns a view of
    # its float64 block instead of copying every row.
    frame = data if list(data.columns) == list(columns) else data[list(columns)]
    rows = frame.to_numpy(dtype=np.float64)
    mean = rows.mean(axis=0)
    dropped = 0
    # NaN and ±inf both poison the column sums, so a finite mean proves clean data
    # without a row-by-row scan.
    if not np.all(np.isfinite(mean)):
        if np.isinf(rows).any():
            raise ValueError("data contain infinite values")
        finite = np.isfinite(rows)
        keep = finite.any(axis=1) if keep_missing else finite.all(axis=1)
        dropped = int(rows.shape[0] - keep.sum())
        rows = rows[keep]
        mean = rows.mean(axis=0)
    if rows.shape[0] < 2:
        raise ValueError("fewer than two usable rows")
    source = fingerprint(rows, columns)
    if keep_missing:
        # The EM estimates are FIML's H1 model and, being positive definite even when
        # pairwise covariances are not, its starting point.
        mean, cov, loglik_h1 = sem_fit_measures.em_saturated(rows)
        _require_positive_definite(cov, columns)
        return Moments(columns, cov, rows.shape[0], source, rows, dropped, mean, loglik_h1)
    cov = _covariance(rows, mean)
    _require_positive_definite(cov, columns)
    return Moments(columns, cov, rows.shape[0], source, dropped=dropped)


def moments_from_cov(
    cov: pd.DataFrame, means: pd.Series | None, n_obs: int, columns: list[str]
) -> Moments:
    """Moments from a labelled covariance matrix (divisor N) and its sample size."""
    if not isinstance(cov, pd.DataFrame):
        raise ValueError("cov must be a DataFrame labelled with the variable names")
    missing = [c for c in columns if c not in cov.columns or c not in cov.index]
    if missing:
        raise ValueError(f"variables missing from cov: {', '.join(missing)}")
    matrix = cov.loc[columns, columns].to_numpy(dtype=np.float64)
    if not np.allclose(matrix, matrix.T, rtol=1e-10, atol=1e-12):
        raise ValueError("cov is not symmetric")
    _require_positive_definite(matrix, columns)
    if means is not None:
        absent = [c for c in columns if c not in means.index]
        if absent:
            raise ValueError(f"variables missing from means: {', '.join(absent)}")
    return Moments(columns, (matrix + matrix.T) / 2.0, int(n_obs), "covariance")


def fingerprint(rows: np.ndarray, columns: list[str]) -> str:
    """sha256 of the column names and the values of ``rows``, for provenance.

    Parameters
    ----------
    rows : ndarray, shape (n, p)
        The rows used in the fit, in any memory layout.
    columns : list of str
        Their column names.

    Returns
    -------
    str
        64 hexadecimal digits.

    Notes
    -----
    The digest covers one canonical byte stream: the names as a JSON list, n as an
    8-byte little-endian integer, then each column in turn as a tag byte and its
    values, either ``0x01`` and one signed byte per value when every value is an
    integer in [−128, 127] (answers on a rating scale, codes), or ``0x08`` and the
    little-endian float64 bytes. The tags and n make the encoding injective, so
    it is as collision-resistant as sha256 itself; it identifies values, not their
    storage, so int and float columns, any memory layout, and −0.0 and 0.0, hash
    alike. The one-byte form is not about strength but cost: sha256 of a million
    rows of twelve float64 columns takes about 62 ms here, as long as the fit it
    documents, and about 22 ms for rating-scale data, check included. blake2b was
    measured slower than sha256 on this hardware (about 170 ms), whose CPUs hash
    sha256 in hardware.
    """
    digest = hashlib.sha256(json.dumps(list(columns)).encode())
    digest.update(rows.shape[0].to_bytes(8, "little"))
    for j in range(rows.shape[1]):
        column = np.ascontiguousarray(rows[:, j], dtype="<f8")
        narrow = _as_int8(column)
        if narrow is None:
            digest.update(_TAG_FLOAT64)
            digest.update(column)
        else:
            digest.update(_TAG_INT8)
            digest.update(narrow)
    return digest.hexdigest()


def _as_int8(column: np.ndarray) -> np.ndarray | None:
    """The column as int8 when that loses nothing, else None."""
    # Casting NaN or an out-of-range value yields some byte; the exact comparison with
    # the float values rejects it, so the cast's "invalid value" is expected here.
    with np.errstate(invalid="ignore"):
        head = column[:_NARROW_PROBE]
        if not np.array_equal(head.astype(np.int8), head):
            return None
        narrow = column.astype(np.int8)
    return narrow if np.array_equal(narrow, column) else None


def _covariance(rows: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Biased (divisor N) covariance matrix of complete rows.

    ``X'X/N − m m'`` needs one BLAS call and no copy, but loses about
    ``log10(m²/s²)`` digits to cancellation; when means dwarf the spread (e.g. amounts
    around 10⁶ varying by units) centre block by block instead.
    """
    n = rows.shape[0]
    cross = rows.T @ rows / n - np.outer(mean, mean)
    spread = np.diag(cross)
    if np.all(spread > 0) and np.max(mean**2 / spread) < _CANCELLATION_LIMIT:
        return (cross + cross.T) / 2.0
    cross = np.zeros((rows.shape[1], rows.shape[1]))
    for start in range(0, n, _CHUNK_ROWS):
        block = rows[start : start + _CHUNK_ROWS] - mean
        cross += block.T @ block
    return cross / n


def _require_positive_definite(matrix: np.ndarray, columns: list[str]) -> None:
    # semopy would silently replace a non-PD matrix by a "nearest PD" one, i.e. fit the
    # model to data that are not the user's: refuse instead. Cholesky alone accepts an
    # exactly collinear item whose last pivot is rounding noise, so test the eigenvalues
    # of the correlation matrix.
    variances = np.diag(matrix)
    singular = not np.all(variances > 0)
    if not singular:
        scale = 1.0 / np.sqrt(variances)
        singular = np.linalg.eigvalsh(matrix * np.outer(scale, scale))[0] < _SINGULAR_COV
    if singular:
        raise ValueError(
            "the sample covariance matrix of "
            f"{', '.join(columns)} is not positive definite: an item is constant or a "
            "linear combination of others, or there are fewer rows than variables"
        )

"""The contact centre's daily contact log, as CSV or Parquet, decided row by row.

Every row goes through :func:`survey.programmes.decide.decide_contacts` (source ``file``),
in batches of :data:`~survey.programmes.decide.MAX_BATCH`, so a log read twice, or a
contact also sent through the API, is decided once. The report has one line per row: its
number in the file (the header is row 1), its contact id, decision and reason.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from survey.errors import InvalidRequest
from survey.programmes.decide import FIELDS, MAX_BATCH, decide_contacts

__all__ = ["ContactImport", "ContactRow", "import_contacts", "write_report"]


@dataclass(frozen=True, slots=True)
class ContactRow:
    row: int
    contact_id: str | None
    decision: str
    reason: str


@dataclass(frozen=True, slots=True)
class ContactImport:
    rows: list[ContactRow]

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(r.decision for r in self.rows))


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise InvalidRequest(f"cannot read {path.name}: {error}") from None
    raise InvalidRequest(f"{path.name}: give a .csv (UTF-8) or .parquet file")


def _value(value):
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def import_contacts(
    engine: Engine, path: Path, programme: str, *, secret: str, timezone: str
) -> ContactImport:
    """Decide every row of the file; columns other than :data:`FIELDS` go to ``attributes``."""
    frame = _read(path)
    missing = [c for c in ("contact_id", "phone", "channel", "ended_at") if c not in frame]
    if missing:
        columns = ", ".join(FIELDS[:-1])
        raise InvalidRequest(
            f"{path.name} has no column {', '.join(missing)}: the columns are {columns}, "
            "and any others are kept as attributes"
        )
    others = [c for c in frame.columns if c not in FIELDS]
    records = []
    for raw in frame.to_dict("records"):
        record = {k: _value(raw[k]) for k in FIELDS if k in raw and k != "attributes"}
        record["attributes"] = {k: _value(raw[k]) for k in others if _value(raw[k]) not in
                                (None, "")}  # fmt: skip
        records.append(record)
    rows: list[ContactRow] = []
    for start in range(0, len(records), MAX_BATCH):
        decisions = decide_contacts(engine, programme, records[start : start + MAX_BATCH],
                                    source="file", secret=secret, timezone=timezone)  # fmt: skip
        rows += [ContactRow(start + i + 2, d.contact_id, str(d.decision), d.reason)
                 for i, d in enumerate(decisions)]  # fmt: skip
    return ContactImport(rows)


def write_report(result: ContactImport, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["row", "contact_id", "decision", "reason"])
        for r in result.rows:
            writer.writerow([r.row, r.contact_id or "", r.decision, r.reason])

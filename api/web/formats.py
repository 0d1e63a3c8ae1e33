"""How pages show codes and times: shared by every router that renders HTML."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def label(table: dict[str, tuple[str, str]], code: str | None) -> tuple[str, str]:
    """The (zh, en) label of ``code`` in ``table``; an unknown code shows as itself."""
    return table.get(code or "", (code or "", code or ""))


def local_time(moment: datetime | None, timezone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``moment`` on the wall clock of ``timezone``; empty when there is none."""
    return moment.astimezone(ZoneInfo(timezone)).strftime(fmt) if moment else ""

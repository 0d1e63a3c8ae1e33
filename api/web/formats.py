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


#: How the pages name the channels a response came by (survey.campaigns.lifecycle.CHANNELS
#: and the web form's own), never by their codes.
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "sms_link": ("短信链接", "SMS link"),
    "sms_reply": ("短信回复", "SMS reply"),
    "web_link": ("网页链接", "web link"),
    "web": ("网页", "web"),
    "intercept": ("营业厅拦访", "service-hall intercept"),
    "cati": ("电话访问", "phone interview"),
}

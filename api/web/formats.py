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

#: A campaign's state (survey.db.states), as the pages name it.
CAMPAIGN_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "draft": ("草稿", "draft"),
    "running": ("进行中", "running"),
    "paused": ("已暂停", "paused"),
    "closed": ("已结束", "closed"),
}
#: Why a segment has no matrix (scoring.priorities.SegmentBlock.status).
SEGMENT_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "too-few-responses": ("答卷太少，无法可靠估计。", "Too few responses for a reliable matrix."),
    "not-estimable": (
        "这一分组的模型无法估计。",
        "The model cannot be estimated for this segment.",
    ),
}

"""What every page of the operations console shares: its sections, who may open each, and
one way to render a console page.

The console (``/console``) is where the survey team runs fieldwork without a terminal.
Its routers (``routers/console*.py``) each hold one domain; they meet here, not in each
other. A section is listed only to a reader whose role has its permission
(:mod:`api.permissions`), and every route checks that permission again itself.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from api.permissions import Permission, allowed
from api.web.auth import csrf_token, page, require_permission
from api.web.deps import settings_of
from api.web.formats import local_time
from api.web.headers import PAGE_POLICY
from survey.db.tables import Staff


@dataclass(frozen=True, slots=True)
class Section:
    path: str
    zh: str
    en: str
    permission: Permission
    #: One line on the console's home page: what the section is for.
    purpose: tuple[str, str]


SECTIONS = (
    Section("/console/questionnaires", "问卷", "Questionnaires", Permission.OPERATE,
            ("上传、校验、预览并发布问卷。", "Upload, check, preview and publish questionnaires.")),
    Section("/console/frames", "样本框", "Sample frames", Permission.OPERATE,
            ("导入客户名单，查看逐行问题报告。",
             "Import customer lists, with a report of every row's problem.")),
    Section("/console/campaigns", "调查活动", "Campaigns", Permission.OPERATE,
            ("创建、启动、暂停、恢复、结束调查活动，实时监控回收。",
             "Create, launch, pause, resume and close campaigns; watch fieldwork live.")),
    Section("/console/programmes", "服务评价项目", "Programmes", Permission.OPERATE,
            ("接触后评价：创建、暂停、恢复项目，设置积分与抽奖。",
             "Post-contact evaluation: create, pause and resume programmes; points and lottery.")),
    Section("/console/exports", "导出", "Exports", Permission.EXPORT_RESPONSES,
            ("下载答卷：CSV、Excel、SPSS、Parquet。",
             "Download responses as CSV, Excel, SPSS or Parquet.")),
    Section("/console/analyses", "分析", "Analyses", Permission.RUN_ANALYSES,
            ("立即计算分析、查看状态、重新计算。",
             "Compute analyses now, follow their state, run them again.")),
    Section("/console/staff", "员工", "Staff", Permission.MANAGE_STAFF,
            ("添加、停用员工，设定角色与范围，管理 API 密钥。",
             "Add and disable staff, set roles and scopes, give and revoke API keys.")),
    Section("/console/audit", "审计日志", "Audit log", Permission.VIEW_AUDIT_LOG,
            ("谁在何时做了什么。", "Who did what, and when.")),
)  # fmt: skip


def sections_of(staff: Staff) -> list[Section]:
    """The console's sections ``staff`` may open, in the navigation's order."""
    return [section for section in SECTIONS if allowed(staff.role, section.permission)]


def may_use_console(staff: Staff) -> bool:
    return bool(sections_of(staff))


#: The live monitor counts itself again with this one script, inline and allowed by its hash
#: alone; it asks the page's own URL again (connect-src 'self') and nothing else.
LIVE_SCRIPT = Markup(  # noqa: S704 - a file shipped with the code, never anybody's input
    Path(__file__).with_name("templates").joinpath("console", "live.js").read_text("utf-8")
)
LIVE_POLICY = PAGE_POLICY.replace(
    "default-src 'none';",
    "default-src 'none'; connect-src 'self'; script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(str(LIVE_SCRIPT).encode("utf-8")).digest()).decode()
    + "';",
)

#: A member of the survey team who runs fieldwork (``operate``).
Operator = Annotated[Staff, Depends(require_permission(Permission.OPERATE))]


def console_page(
    request: Request,
    staff: Staff,
    name: str,
    status_code: int = 200,
    *,
    live: bool = False,
    **context,
) -> HTMLResponse:
    """Render ``console/NAME`` with the navigation, the CSRF field's value and the time zone.

    ``current`` (a section's path) marks where the reader is in the navigation. ``live``
    gives the page :data:`LIVE_SCRIPT` (as ``live_script``) and the policy that lets it run.
    """
    settings = settings_of(request)
    zone = settings.timezone
    response = page(
        request, name, status_code,
        staff=staff,
        sections=sections_of(staff),
        dashboard_nav=allowed(staff.role, Permission.VIEW_ANALYSES),
        csrf=csrf_token(request, settings),
        timezone=zone,
        when=lambda moment: local_time(moment, zone) or "–",
        live_script=LIVE_SCRIPT if live else "",
        **context,
    )  # fmt: skip
    if live:
        response.headers["Content-Security-Policy"] = LIVE_POLICY
    return response

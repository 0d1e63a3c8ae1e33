"""Who may do what: the permission matrix, in one place, as data.

Routes ask for a permission (``require_permission(Permission.EXPORT_RESPONSES)``), not for
a list of roles, so changing what a role may do is an edit of :data:`MATRIX` alone. The
README's table is this one; ``tests/integration/test_auth.py`` checks every cell.

Customer phone numbers reach only the people who dial them (issue 7: "phone numbers must
reach nobody who does not need them"); admins manage accounts but make no calls. A team
leader reads their teams' contact results only.
"""

from __future__ import annotations

from enum import StrEnum

from survey.staff.accounts import Role


class Permission(StrEnum):
    #: Run fieldwork from the operations console: questionnaires (upload, preview, publish),
    #: sample frames, campaigns (create, launch, pause, resume, close) and their live monitor.
    OPERATE = "operate"
    #: Analyses, indexes and priority matrices (a limited manager: their regions/halls only).
    VIEW_ANALYSES = "view_analyses"
    #: Agents, teams, queues and channels measured from contact evaluations
    #: (``/dashboard/agents``); a limited manager: their regions/halls; a team leader: their
    #: teams' contacts, their agents ranked among the whole programme's.
    VIEW_CONTACT_RESULTS = "view_contact_results"
    #: Start analysis jobs (fits), as opposed to reading stored results.
    RUN_ANALYSES = "run_analyses"
    #: Export responses (CSV, XLSX, SPSS, Parquet); phone numbers only with VIEW_PHONE_NUMBERS.
    EXPORT_RESPONSES = "export_responses"
    #: See a customer's full phone number (to dial it, or in an export).
    VIEW_PHONE_NUMBERS = "view_phone_numbers"
    #: Take cases from the outbound-call (CATI) queue and record interviews and outcomes.
    CALL_CUSTOMERS = "call_customers"
    #: Interview walk-in customers in service halls (a limited account: its halls only).
    INTERCEPT = "intercept"
    #: The live queue, reassigning cases, interviewer productivity and its export.
    SUPERVISE = "supervise"
    #: Service-remedy follow-ups: open cases, SLA breaches, the weekly report.
    VIEW_FOLLOW_UPS = "view_follow_ups"
    #: Act on follow-ups of one's scope: assign the call-back, escalate, close.
    MANAGE_FOLLOW_UPS = "manage_follow_ups"
    #: Add and disable staff, give and revoke API keys.
    MANAGE_STAFF = "manage_staff"
    VIEW_AUDIT_LOG = "view_audit_log"
    #: Submit contact events to a programme (``POST /api/v1/contacts``): the contact
    #: centre's system, with an API key of an ``integration`` account.
    SUBMIT_CONTACTS = "submit_contacts"


P = Permission
MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            P.OPERATE,
            P.VIEW_ANALYSES,
            P.VIEW_CONTACT_RESULTS,
            P.RUN_ANALYSES,
            P.EXPORT_RESPONSES,
            P.VIEW_FOLLOW_UPS,
            P.MANAGE_STAFF,
            P.VIEW_AUDIT_LOG,
        }
    ),
    Role.RESEARCHER: frozenset(
        {
            P.OPERATE,
            P.VIEW_ANALYSES,
            P.VIEW_CONTACT_RESULTS,
            P.RUN_ANALYSES,
            P.EXPORT_RESPONSES,
            P.VIEW_FOLLOW_UPS,
        }
    ),
    Role.MANAGER: frozenset(
        {
            P.VIEW_ANALYSES,
            P.VIEW_CONTACT_RESULTS,
            P.EXPORT_RESPONSES,
            P.VIEW_FOLLOW_UPS,
            P.MANAGE_FOLLOW_UPS,
        }
    ),
    # Their teams' results and nothing else: no CSI analyses (a customer's answers are not
    # their team's), no exports, no phone numbers, no follow-ups.
    Role.TEAM_LEADER: frozenset({P.VIEW_CONTACT_RESULTS}),
    Role.SUPERVISOR: frozenset(
        {
            P.VIEW_PHONE_NUMBERS,
            P.CALL_CUSTOMERS,
            P.SUPERVISE,
            P.VIEW_FOLLOW_UPS,
            P.MANAGE_FOLLOW_UPS,
        }
    ),
    Role.INTERVIEWER: frozenset({P.VIEW_PHONE_NUMBERS, P.CALL_CUSTOMERS, P.INTERCEPT}),
    # A system's account: it submits events and nothing else (no pages, no data out).
    Role.INTEGRATION: frozenset({P.SUBMIT_CONTACTS}),
}


def allowed(role: str, permission: Permission) -> bool:
    """Whether ``role`` has ``permission`` (an unknown role has none)."""
    try:
        return permission in MATRIX[Role(role)]
    except ValueError:
        return False


def permissions_of(role: str) -> list[Permission]:
    """The role's permissions, in the order of :class:`Permission`."""
    return [permission for permission in Permission if allowed(role, permission)]


def as_markdown() -> str:
    """The matrix as a Markdown table, for the README."""
    roles = list(Role)
    lines = [
        "| permission | " + " | ".join(role.value for role in roles) + " |",
        "| --- |" + " :-: |" * len(roles),
    ]
    for permission in Permission:
        marks = ("✓" if permission in MATRIX[role] else "–" for role in roles)
        lines.append(f"| `{permission.value}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)

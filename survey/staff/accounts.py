"""Staff accounts: roles, passwords, sign-in sessions, API keys and what a manager or a team
leader may see.

Passwords are hashed with Argon2id (argon2-cffi, RFC 9106 low-memory profile) and rehashed
at the next login when the parameters change; a new one must pass the policy of
:mod:`survey.staff.passwords`. Session tokens and API keys are 32 random bytes; only their
SHA-256 is stored, so a copy of the database signs nobody in. Failed logins are throttled by
:mod:`survey.staff.throttle`; one-time codes are :mod:`survey.staff.totp`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, false, func, or_, true
from sqlmodel import Session, col, select

from survey.db.tables import (
    ApiKey,
    ContactEvent,
    Customer,
    Response,
    Staff,
    StaffSession,
    utcnow,
)
from survey.errors import InvalidRequest
from survey.signing import same
from survey.staff.passwords import MAX_LENGTH, MIN_LENGTH, weakness

# The login throttle's limits, named here too for the callers that know accounts only.
from survey.staff.throttle import LOCKOUT as LOCKOUT
from survey.staff.throttle import MAX_FAILURES as MAX_FAILURES


class Role(StrEnum):
    ADMIN = "admin"
    RESEARCHER = "researcher"
    MANAGER = "manager"
    #: A contact-centre team leader: their teams' agents, teams and queues, nothing else.
    TEAM_LEADER = "team_leader"
    INTERVIEWER = "interviewer"
    SUPERVISOR = "supervisor"
    #: Another system (the contact centre's) submitting contact events with an API key.
    INTEGRATION = "integration"


ROLES = tuple(role.value for role in Role)
#: What each role is called on the pages, (zh, en).
ROLE_LABELS: dict[str, tuple[str, str]] = {
    Role.ADMIN: ("管理员", "administrator"),
    Role.RESEARCHER: ("研究员", "researcher"),
    Role.MANAGER: ("经理", "manager"),
    Role.TEAM_LEADER: ("班组长", "team leader"),
    Role.INTERVIEWER: ("访员", "interviewer"),
    Role.SUPERVISOR: ("督导", "supervisor"),
    Role.INTEGRATION: ("系统对接", "integration"),
}

#: Replaced by tests with cheaper parameters; production keeps argon2-cffi's defaults.
PASSWORD_HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = MIN_LENGTH
MAX_PASSWORD_LENGTH = MAX_LENGTH
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")

#: A session ends this long after login, whatever happens; or after this long unused.
SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=2)
# last_seen_at is written at most this often: not one write per page view.
_TOUCH_EVERY = timedelta(minutes=1)

API_KEY_PREFIX = "manyi_"
# What is kept to recognise a key in lists ("manyi_" and 8 of its 43 random characters).
_SHOWN_PREFIX = len(API_KEY_PREFIX) + 8


class StaffError(InvalidRequest):
    """A staff operation refused, with a message that says how to fix it.

    ``field`` names the form field at fault (``"teams"``, ``"regions"``, ...), for a page
    that shows the message beside it; None: the request as a whole.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# -- accounts ------------------------------------------------------------------------------


def normalise_username(username: str) -> str:
    return username.strip().lower()


def create_staff(
    session: Session,
    username: str,
    role: str,
    password: str,
    *,
    display_name: str | None = None,
    regions: Sequence[str] = (),
    service_halls: Sequence[str] = (),
    teams: Sequence[str] = (),
) -> Staff:
    """Add a staff member who can sign in with ``password``.

    ``regions`` and ``service_halls`` limit a manager to what happens there; ``service_halls``
    limit an interviewer's intercept interviews to those halls; ``teams`` are a team
    leader's, who must have one at least. No other role has such a limit, so giving one is
    refused rather than silently ignored (:func:`check_role_and_scope`).
    """
    username = normalise_username(username)
    if not _USERNAME.fullmatch(username):
        raise StaffError(
            f"username {username!r}: use 2-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    check_role_and_scope(role, regions, service_halls, teams)
    if find_staff(session, username) is not None:
        raise StaffError(f"username {username!r} is taken")
    check_password(password, username)
    staff = Staff(
        username=username,
        display_name=(display_name or username).strip()[:100],
        role=role,
        password_hash=hash_password(password),
        regions=sorted(set(regions)),
        service_halls=sorted(set(service_halls)),
        teams=sorted(set(teams)),
    )
    session.add(staff)
    session.commit()
    session.refresh(staff)
    return staff


def check_role_and_scope(
    role: str, regions: Sequence[str], service_halls: Sequence[str], teams: Sequence[str] = ()
) -> None:
    """Refuse an unknown role, a limit the role does not have, or a team leader without a
    team (see :func:`create_staff`)."""
    if role not in ROLES:
        raise StaffError(f"role {role!r} is unknown; choose one of {', '.join(ROLES)}",
                         field="role")  # fmt: skip
    if role == Role.TEAM_LEADER and not teams:
        raise StaffError(
            "a team leader sees their teams' contacts only: name at least one team", field="teams"
        )
    if teams and role != Role.TEAM_LEADER:
        instead = " (a manager is limited to regions or service halls)" * (role == Role.MANAGER)
        raise StaffError(f"only team leaders are limited to teams; a {role} is not{instead}",
                         field="teams")  # fmt: skip
    if (regions and role != Role.MANAGER) or (
        service_halls and role not in (Role.MANAGER, Role.INTERVIEWER)
    ):
        raise StaffError(
            f"only managers are limited to regions, and only managers and interviewers to "
            f"service halls; a {role} is not",
            field="regions" if regions and role != Role.MANAGER else "service_halls",
        )


def find_staff(session: Session, username: str) -> Staff | None:
    return session.exec(select(Staff).where(Staff.username == normalise_username(username))).first()


def disable_staff(session: Session, staff: Staff, *, by: Staff | None = None) -> None:
    """Stop ``staff`` signing in; their open sessions end now and their API keys stop working.

    The row stays: interviews, attempts and audit entries keep pointing at it. ``by`` (who
    is disabling) may not disable themself (:func:`refuse_own_account`).
    """
    refuse_own_account(by, staff, "disable")
    staff.active = False
    session.add(staff)
    session.exec(delete(StaffSession).where(col(StaffSession.staff_id) == staff.id))
    session.commit()


def refuse_own_account(actor: Staff | None, staff: Staff, what: str) -> None:
    """Refuse an administrator ``what`` on their own account (disabling it, or taking its
    administrator role away): done by mistake, it could leave the service with nobody who
    manages accounts, and only the command line could mend it. Another administrator may."""
    if actor is not None and actor.id == staff.id:
        raise StaffError(
            f"you cannot {what} your own account: ask another administrator, so that the "
            "service always keeps one who can manage accounts"
        )


def change_role(
    session: Session,
    staff: Staff,
    role: str,
    *,
    regions: Sequence[str] = (),
    service_halls: Sequence[str] = (),
    teams: Sequence[str] = (),
    by: Staff | None = None,
) -> None:
    """Give ``staff`` another role or scope, with the rules of :func:`create_staff`.

    Roles are read at every request, so the change holds from their next page on; ``by``
    (who is changing it) may not take their own administrator role away.
    """
    check_role_and_scope(role, regions, service_halls, teams)
    if staff.role == Role.ADMIN and role != Role.ADMIN:
        refuse_own_account(by, staff, "remove the administrator role of")
    staff.role = role
    staff.regions = sorted(set(regions))
    staff.service_halls = sorted(set(service_halls))
    staff.teams = sorted(set(teams))
    session.add(staff)
    session.commit()


def enable_staff(session: Session, staff: Staff, now: datetime | None = None) -> int:
    """Let a disabled ``staff`` sign in again with their password; returns how many API keys
    were revoked.

    Their keys made before are revoked rather than brought back with the account: an
    account is disabled when it may be misused, and its keys may be what was misused. New
    keys can be given; a new password too, if the old one may be known.
    """
    now = now or utcnow()
    revoked = 0
    for key in api_keys_of(session, staff):
        if key.revoked_at is None:
            key.revoked_at = now
            session.add(key)
            revoked += 1
    staff.active = True
    session.add(staff)
    session.commit()
    return revoked


def generate_password(username: str = "") -> str:
    """A random password that passes the policy (20 URL-safe characters, ~120 bits), for an
    administrator to hand over once."""
    while True:
        password = secrets.token_urlsafe(15)
        if weakness(password, username) is None:
            return password


def known_places(session: Session) -> tuple[list[str], list[str]]:
    """The regions and service halls of the customer records, and the halls where intercept
    interviews were taken: what a manager or an interviewer may be limited to."""
    regions = session.exec(select(Customer.region).where(Customer.region != "").distinct()).all()
    halls = set(
        session.exec(
            select(Customer.service_hall).where(Customer.service_hall != "").distinct()
        ).all()
    )
    halls |= {hall for hall in session.exec(select(Response.service_hall).distinct()).all() if hall}
    return sorted(r for r in regions if r), sorted(halls)


def known_teams(session: Session) -> list[str]:
    """The teams that contact events name: what a team leader may be limited to."""
    teams = session.exec(
        select(ContactEvent.team).where(col(ContactEvent.team).is_not(None)).distinct()
    ).all()
    return sorted(team for team in teams if team)


def check_places(
    session: Session,
    regions: Sequence[str],
    service_halls: Sequence[str],
    teams: Sequence[str] = (),
) -> None:
    """Refuse a region or hall that no customer record or interview names, or a team that no
    contact event names: a misspelt limit would show its holder nothing, without saying why."""
    if regions or service_halls:
        known_regions, known_halls = known_places(session)
        for kind, field, names, known in (
            ("region", "regions", regions, known_regions),
            ("service hall", "service_halls", service_halls, known_halls),
        ):
            _refuse_unknown(kind, field, names, known, "write it as the customer lists do",
                            "no customer list names one): import a sample frame first")  # fmt: skip
    if teams:
        _refuse_unknown("team", "teams", teams, known_teams(session),
                        "write it as the contact centre's events do",
                        "no contact event names one): submit the contact centre's events "
                        "first")  # fmt: skip


def _refuse_unknown(
    kind: str, field: str, names: Sequence[str], known: list[str], how: str, first: str
) -> None:
    unknown = [name for name in names if name not in known]
    if not unknown:
        return
    if not known:
        raise StaffError(
            f"no {kind} is known yet ({first}, then limit this account to its {kind}s",
            field=field,
        )
    shown = ", ".join(known[:30]) + (" …" if len(known) > 30 else "")
    raise StaffError(
        f"unknown {kind} {', '.join(repr(n) for n in unknown)}: {how}; known: {shown}",
        field=field,
    )


def set_password(session: Session, staff: Staff, password: str) -> None:
    """Give ``staff`` a new password, if it passes the policy (:func:`check_password`).

    Their open sessions end: a password is changed when it may be known to someone else.
    """
    check_password(password, staff.username)
    session.exec(delete(StaffSession).where(col(StaffSession.staff_id) == staff.id))
    _store_hash(session, staff, password)


def _store_hash(session: Session, staff: Staff, password: str) -> None:
    staff.password_hash = hash_password(password)
    session.add(staff)
    session.commit()


def signs_in_with_code(staff: Staff, require_admin_totp: bool) -> bool:
    """Whether ``staff`` needs a one-time code besides the password: enrolled accounts always,
    admins too when ``require_admin_totp`` (MANYI_REQUIRE_ADMIN_TOTP) says so."""
    return staff.totp_secret is not None or (require_admin_totp and staff.role == Role.ADMIN)


# -- passwords -----------------------------------------------------------------------------


def check_password(password: str, username: str = "") -> None:
    """Refuse a new password for ``username`` that :mod:`survey.staff.passwords` finds weak,
    saying what is wrong with it and how to choose one."""
    problem = weakness(password, username)
    if problem is not None:
        raise StaffError(problem)


def hash_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise StaffError(
            f"a password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    return PASSWORD_HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; Argon2 compares the digests in constant time."""
    if password_hash is None or len(password) > MAX_PASSWORD_LENGTH:
        # Still spend the time of a real check: the answer's delay must not tell an attacker
        # which usernames exist or have a password.
        _spend_a_verification()
        return False
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return PASSWORD_HASHER.hash(secrets.token_urlsafe(16))


def _spend_a_verification() -> None:
    try:
        PASSWORD_HASHER.verify(_dummy_hash(), "not the password")
    except VerificationError:
        pass


def authenticate(session: Session, username: str, password: str) -> Staff | None:
    """The active staff member with this username and password, or None.

    Unknown usernames, disabled accounts and wrong passwords take the same time and give
    the same None. A hash made with older Argon2 parameters is replaced on success.
    """
    staff = find_staff(session, username)
    if staff is None or not staff.active:
        verify_password(None, password)
        return None
    if not verify_password(staff.password_hash, password):
        return None
    if PASSWORD_HASHER.check_needs_rehash(staff.password_hash or ""):
        # Not set_password: a password that was accepted stays accepted when the policy
        # grows stricter; only its hash is renewed.
        _store_hash(session, staff, password)
    return staff


# -- sessions ------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(
    session: Session, staff: Staff, ip: str | None = None, now: datetime | None = None
) -> str:
    """A new session for ``staff``; returns its token, for the cookie (never stored)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_digest(token),
            staff_id=staff.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
            ip=ip,
        )
    )
    session.commit()
    return token


def session_staff(session: Session, token: str, now: datetime | None = None) -> Staff | None:
    """The active staff member signed in with ``token``, or None (unknown, expired, idle)."""
    now = now or utcnow()
    found = session.exec(
        select(StaffSession, Staff)
        .join(Staff, col(Staff.id) == StaffSession.staff_id)
        .where(StaffSession.token_hash == _digest(token))
    ).first()
    if found is None:
        return None
    row, staff = found
    if not staff.active or now >= row.expires_at or now - row.last_seen_at >= SESSION_IDLE:
        session.delete(row)
        session.commit()
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
        session.commit()
    return staff


def end_session(session: Session, token: str) -> None:
    session.exec(delete(StaffSession).where(col(StaffSession.token_hash) == _digest(token)))
    session.commit()


def session_token_digest(token: str) -> str:
    """What a session is known by outside this module (e.g. to tie CSRF tokens to it)."""
    return _digest(token)


# -- API keys ------------------------------------------------------------------------------


def create_api_key(session: Session, staff: Staff, name: str) -> tuple[ApiKey, str]:
    """A new API key for ``staff``: the row, and the key itself, to be shown once."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise StaffError("an API key needs a name of 1 to 100 characters (what it is for)")
    if not staff.active:
        raise StaffError(f"{staff.username} is disabled; enable them before giving a key")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(staff_id=staff.id, name=name, prefix=key[:_SHOWN_PREFIX], key_hash=_digest(key))
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, key


def api_key_staff(session: Session, key: str, now: datetime | None = None) -> Staff | None:
    """The active staff member whose unrevoked key ``key`` is, or None."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 100:
        return None
    digest = _digest(key)
    # The lookup by digest is an index search; comparing again in constant time costs
    # nothing and does not rely on how the database compares strings.
    found = session.exec(
        select(ApiKey, Staff)
        .join(Staff, col(Staff.id) == ApiKey.staff_id)
        .where(ApiKey.key_hash == digest)
    ).first()
    if found is None or not same(found[0].key_hash, digest):
        return None
    row, staff = found
    if row.revoked_at is not None or not staff.active:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
        row.last_used_at = now
        session.add(row)
        session.commit()
    return staff


def revoke_api_key(session: Session, prefix: str, now: datetime | None = None) -> ApiKey:
    """Revoke the one unrevoked key whose shown prefix is ``prefix``."""
    rows = session.exec(
        select(ApiKey).where(ApiKey.prefix == prefix, col(ApiKey.revoked_at).is_(None))
    ).all()
    if len(rows) != 1:
        raise StaffError(
            f"no unrevoked API key starts with {prefix!r}"
            if not rows
            else f"{len(rows)} keys start with {prefix!r}; give the whole prefix"
        )
    row = rows[0]
    row.revoked_at = now or utcnow()
    session.add(row)
    session.commit()
    return row


def revoke_key_of(
    session: Session, staff: Staff, key_id: int, now: datetime | None = None
) -> ApiKey:
    """Revoke ``staff``'s key ``key_id`` (the console names keys by row, not by prefix)."""
    row = session.get(ApiKey, key_id)
    if row is None or row.staff_id != staff.id:
        raise StaffError(f"{staff.username} has no API key {key_id}")
    if row.revoked_at is not None:
        raise StaffError(f"the API key {row.prefix}… is revoked already")
    row.revoked_at = now or utcnow()
    session.add(row)
    session.commit()
    return row


def unrevoked_key_counts(session: Session) -> dict[int, int]:
    """How many unrevoked API keys each staff member has, by staff id."""
    rows = session.exec(
        select(ApiKey.staff_id, func.count(col(ApiKey.id)))
        .where(col(ApiKey.revoked_at).is_(None))
        .group_by(ApiKey.staff_id)
    ).all()
    return {staff_id: count for staff_id, count in rows}


def api_keys_of(session: Session, staff: Staff) -> list[ApiKey]:
    return list(
        session.exec(select(ApiKey).where(ApiKey.staff_id == staff.id).order_by(col(ApiKey.id)))
    )


# -- what a manager or a team leader may see ------------------------------------------------


def sees_everywhere(staff: Staff) -> bool:
    """Whether no region, service hall or team limits ``staff``.

    A team leader never sees everywhere, even without a team (which :func:`create_staff`
    and :func:`change_role` refuse, but a row edited by hand could have): they see nothing.
    """
    if staff.role == Role.TEAM_LEADER:
        return False
    return not (staff.regions or staff.service_halls or staff.teams)


def in_scope(staff: Staff, region: str | None, service_hall: str | None) -> bool:
    """Whether ``staff`` may see what happened in ``region`` / ``service_hall``.

    A limited manager sees their regions (every hall in them) and their halls (wherever
    they are): the union of the two lists. A team leader sees what their teams did, which
    is no place: here, nothing (see :func:`scope_clause` for rows that name a team).
    """
    if sees_everywhere(staff):
        return True
    return region in staff.regions or service_hall in staff.service_halls


def scope_clause(staff: Staff, region_column, hall_column, team_column=None) -> ColumnElement[bool]:
    """The same rule as :func:`in_scope`, as a WHERE clause over two columns; a team leader
    sees the rows whose ``team_column`` is one of their teams, and none where there is no
    such column (a customer or a response belongs to no team)."""
    if sees_everywhere(staff):
        return true()
    parts: list[ColumnElement[bool]] = []
    if staff.regions:
        parts.append(col(region_column).in_(staff.regions))
    if staff.service_halls:
        parts.append(col(hall_column).in_(staff.service_halls))
    if staff.teams and team_column is not None:
        parts.append(col(team_column).in_(staff.teams))
    return or_(*parts) if parts else false()


def describe_scope(staff: Staff) -> Iterable[str]:
    """Human-readable limits, e.g. ``["region: 华东", "service hall: 徐家汇"]``."""
    yield from (f"region: {name}" for name in staff.regions)
    yield from (f"service hall: {name}" for name in staff.service_halls)
    yield from (f"team: {name}" for name in staff.teams)

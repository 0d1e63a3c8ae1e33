"""Staff accounts from the command line:
``manyi staff add|set-password|totp|disable|list|key|revoke-key``.

Passwords never come from an argument (it would sit in the shell history and in ``ps``):
they are read from ``MANYI_STAFF_PASSWORD`` (for scripts) or asked for twice, hidden, and
must pass the password policy (survey.staff.passwords), which says what to change.
Every change is written to the audit log, with no staff member as its author (the CLI's
user is whoever can reach the database).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from api.cli.support import fail, settings_and_engine

staff_app = typer.Typer(
    help="Staff accounts: add, set a password, one-time codes, disable, list; API keys: give, "
    "revoke.",
    no_args_is_help=True,
)

PASSWORD_VARIABLE = "MANYI_STAFF_PASSWORD"  # noqa: S105 (the name of a variable, no secret)
_VIA = {"via": "manyi staff"}


def _password() -> str:
    password = os.environ.get(PASSWORD_VARIABLE)
    if password:
        return password
    if not os.isatty(0):
        raise fail(f"no password: set {PASSWORD_VARIABLE} or run in a terminal to be asked")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _limits(staff) -> str:
    """A member's regions, halls and teams, or "everywhere"."""
    return ", ".join(staff.regions + staff.service_halls + staff.teams) or "everywhere"


@staff_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name: lowercase, e.g. li.na")],
    role: Annotated[
        str,
        typer.Option(
            help="admin, researcher, manager, team_leader, interviewer, supervisor or integration"
        ),
    ],
    name: Annotated[str | None, typer.Option(help="Display name (default: username)")] = None,
    region: Annotated[
        list[str] | None, typer.Option(help="Limit a manager to this region (repeatable)")
    ] = None,
    hall: Annotated[
        list[str] | None, typer.Option(help="Limit a manager to this service hall (repeatable)")
    ] = None,
    team: Annotated[
        list[str] | None,
        typer.Option(
            help="A team leader's team, as contact events name it (repeatable; "
            "at least one for a team leader)"
        ),
    ] = None,
) -> None:
    """Add a staff member; the password comes from MANYI_STAFF_PASSWORD or a prompt.

    A team leader sees their teams' agents, teams and queues only
    (``--role team_leader --team T [--team T2]``)."""
    from sqlmodel import Session

    from survey.staff import audit
    from survey.staff.accounts import (
        StaffError,
        check_places,
        check_role_and_scope,
        create_staff,
    )

    limits = region or (), hall or (), team or ()
    # Refused before the password is asked for: typing it twice for nothing is a nuisance.
    try:
        check_role_and_scope(role, *limits)
    except StaffError as error:
        raise fail(str(error)) from None
    password = _password()
    settings, engine = settings_and_engine()
    with Session(engine) as session:
        try:
            # The console's rules too: a misspelt region, hall or team would show its holder
            # nothing.
            check_places(session, *limits)
            staff = create_staff(
                session, username, role, password, display_name=name,
                regions=limits[0], service_halls=limits[1], teams=limits[2],
            )  # fmt: skip
        except StaffError as error:
            raise fail(str(error)) from None
        detail = {**_VIA, "role": role, **({"teams": staff.teams} if staff.teams else {})}
        audit.audit(session, None, audit.STAFF_ADDED, staff.username, detail)
        typer.echo(f"added {staff.username} ({staff.role}, {_limits(staff)})")
        if staff.role == "admin" and settings.require_admin_totp:
            typer.echo(
                f"MANYI_REQUIRE_ADMIN_TOTP is on: {staff.username} signs in only after "
                f"`manyi staff totp {staff.username}`",
                err=True,
            )


@staff_app.command("set-password")
def set_password(username: str) -> None:
    """Give a staff member a new password (from MANYI_STAFF_PASSWORD or a prompt); their
    open sessions end."""
    from sqlmodel import Session

    from survey.staff import accounts, audit

    password = _password()
    _, engine = settings_and_engine()
    with Session(engine) as session:
        staff = accounts.find_staff(session, username)
        if staff is None:
            raise fail(f"no staff member {username!r}")
        try:
            accounts.set_password(session, staff, password)
        except accounts.StaffError as error:
            raise fail(str(error)) from None
        audit.audit(session, None, audit.PASSWORD_CHANGED, staff.username, dict(_VIA))
        typer.echo(f"new password for {staff.username}; their sessions have ended")


@staff_app.command("totp")
def totp_command(
    username: str,
    remove: Annotated[
        bool, typer.Option("--remove", help="Sign in without a one-time code again.")
    ] = False,
) -> None:
    """Set up one-time codes (TOTP) for a staff member: prints the otpauth:// URI and the
    secret once, for an authenticator app. Again: a new secret replaces the old one."""
    from sqlmodel import Session

    from survey.staff import audit, totp
    from survey.staff.accounts import find_staff

    settings, engine = settings_and_engine()
    with Session(engine) as session:
        staff = find_staff(session, username)
        if staff is None:
            raise fail(f"no staff member {username!r}")
        if remove:
            totp.remove(session, staff)
            audit.audit(session, None, audit.TOTP_REMOVED, staff.username, dict(_VIA))
            typer.echo(f"{staff.username} signs in without a one-time code")
            if staff.role == "admin" and settings.require_admin_totp:
                typer.echo(
                    "MANYI_REQUIRE_ADMIN_TOTP is on: this admin cannot sign in until set up again",
                    err=True,
                )
            return
        secret = totp.enrol(session, staff, settings.secret_key.get_secret_value())
        # The secret is in neither the audit log nor any log: only here, once.
        audit.audit(session, None, audit.TOTP_ENROLLED, staff.username, dict(_VIA))
        typer.echo(totp.provisioning_uri(staff, secret))
        typer.echo(f"secret: {secret}")
        typer.echo(
            f"one-time codes for {staff.username}: add the otpauth:// URI (or the secret) to "
            "an authenticator app now, it is not shown again. The next sign-in asks for a code.",
            err=True,
        )


@staff_app.command("disable")
def disable(username: str) -> None:
    """Stop a staff member signing in; their sessions end and their API keys stop working."""
    from sqlmodel import Session

    from survey.staff import audit
    from survey.staff.accounts import disable_staff, find_staff

    _, engine = settings_and_engine()
    with Session(engine) as session:
        staff = find_staff(session, username)
        if staff is None:
            raise fail(f"no staff member {username!r}")
        disable_staff(session, staff)
        audit.audit(session, None, audit.STAFF_DISABLED, staff.username, dict(_VIA))
        typer.echo(f"disabled {staff.username}")


@staff_app.command("list")
def list_staff() -> None:
    """Staff members, their roles and limits, and their API keys (prefixes only)."""
    from sqlmodel import Session, select

    from survey.db.tables import Staff
    from survey.staff.accounts import api_keys_of

    _, engine = settings_and_engine()
    with Session(engine) as session:
        for staff in session.exec(select(Staff).order_by(Staff.username)):
            state = "" if staff.active else "  DISABLED"
            typer.echo(f"{staff.username}\t{staff.role}\t{_limits(staff)}{state}")
            for key in api_keys_of(session, staff):
                revoked = f"  revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else ""
                typer.echo(f"  key {key.prefix}…\t{key.name}{revoked}")


@staff_app.command("key")
def key(
    username: str,
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'notebook of li.na'")],
) -> None:
    """Give a staff member a new API key; it is printed once, and only its hash is kept."""
    from sqlmodel import Session

    from survey.staff import audit
    from survey.staff.accounts import StaffError, create_api_key, find_staff

    _, engine = settings_and_engine()
    with Session(engine) as session:
        staff = find_staff(session, username)
        if staff is None:
            raise fail(f"no staff member {username!r}")
        try:
            row, secret = create_api_key(session, staff, name)
        except StaffError as error:
            raise fail(str(error)) from None
        audit.audit(session, None, audit.API_KEY_CREATED, row.prefix, {**_VIA, "name": name})
        typer.echo(secret)
        typer.echo(
            f"API key {row.prefix}… for {staff.username}: copy it now, it is not shown again. "
            "Send it as 'Authorization: Bearer <key>'.",
            err=True,
        )


@staff_app.command("revoke-key")
def revoke_key(
    prefix: Annotated[str, typer.Argument(help="The key's prefix, as `manyi staff list` shows")],
) -> None:
    """Revoke an API key at once."""
    from sqlmodel import Session

    from survey.staff import audit
    from survey.staff.accounts import StaffError, revoke_api_key

    _, engine = settings_and_engine()
    with Session(engine) as session:
        try:
            row = revoke_api_key(session, prefix.rstrip("…"))
        except StaffError as error:
            raise fail(str(error)) from None
        audit.audit(session, None, audit.API_KEY_REVOKED, row.prefix, dict(_VIA))
        typer.echo(f"revoked {row.prefix}… ({row.name})")

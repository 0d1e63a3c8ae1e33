"""What every `manyi` command shares: failing with a message, settings and an engine."""

from __future__ import annotations

import typer


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` to stderr; raise the returned Exit to stop with ``code``."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def settings_and_engine():
    """The settings (an invalid one stops the command, saying why) and a database engine."""
    from api.settings import get_settings
    from survey.db.engine import make_engine

    try:
        settings = get_settings()
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise fail(f"invalid settings: {error}") from None
    return settings, make_engine(settings.database_url)


def ensure_current_schema(engine, *, announce: bool = False) -> None:
    """Migrate a fresh database; refuse one that is behind, saying how to migrate it.

    A database at an older revision is never migrated silently: its owner backs it up first.
    """
    from survey.db.engine import current_revision, head_revision, upgrade

    revision, head = current_revision(engine), head_revision()
    if revision is None:
        if announce:
            typer.echo("fresh database: creating the schema (manyi db upgrade)")
        upgrade(engine)
    elif revision != head:
        raise fail(
            f"the database schema is at {revision}, this version of Manyi needs {head}: "
            "back up the database, then run `manyi db upgrade`"
        )


def no_schema(engine, hint: str = "") -> typer.Exit:
    """The failure of a command that found no tables: the database was never migrated."""
    where = engine.url.render_as_string()
    return fail(f"the database {where} has no schema: run `manyi db upgrade`{hint}")

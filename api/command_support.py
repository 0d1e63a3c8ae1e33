"""What every `manyi` command shares: failing with a message, settings and an engine."""

from __future__ import annotations

import typer


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` to stderr; raise the returned Exit to stop with ``code``."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def settings_and_engine():
    """The settings (an invalid one stops the command, saying why) and a database engine."""
    from survey.db import make_engine

    from .settings import get_settings

    try:
        settings = get_settings()
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise fail(f"invalid settings: {error}") from None
    return settings, make_engine(settings.database_url)

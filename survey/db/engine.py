"""Database engines and migrations: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

MIGRATIONS = Path(__file__).with_name("migrations")

#: A PostgreSQL engine's pool, per process: the connections it keeps, and how many more it
#: opens at a peak. A web worker's group commit holds up to four while posts arrive
#: (survey.db.group_commit.PARALLEL_WRITERS), its request threads the others. Several workers
#: (``manyi serve --workers N``) need N x (POOL_SIZE + MAX_OVERFLOW) connections at most, within
#: the server's max_connections beside dispatchers and analysis workers: ``manyi serve`` says
#: when they would not fit.
POOL_SIZE = 5
MAX_OVERFLOW = 10


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs given without a driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web server read while a dispatcher writes; foreign keys are off by
    # default in SQLite; a busy timeout turns short lock waits into waits, not errors.
    # synchronous=FULL syncs the WAL at every commit: an answer acknowledged to a customer
    # survives a power cut too, not only a crash of the server (NORMAL would not promise it).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine for ``url``; a SQLite file's folder is created if missing."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options = {"pool_pre_ping": True, "pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}
    return create_engine(url, **(options | kwargs))


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


@functools.cache
def head_revision() -> str:
    """The newest migration of this code (read once: the scripts do not change while it runs;
    reading them took ~14 ms of every /health)."""
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default)."""
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step, revision: str) -> None:
    config = _alembic_config(engine)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table's constraints by copying it to a new table and dropping
            # the old one, which foreign keys from other tables' rows forbid. SQLite's own
            # procedure for it: enforcement off (outside any transaction, where the pragma
            # takes effect), the change and a foreign_key_check in one transaction, then on.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # ends SQLAlchemy's autobegun transaction; SQLite had none
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                step(config, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(
                            f"the migration left rows whose foreign keys point nowhere: "
                            f"{broken[:5]}; nothing was changed"
                        )
        finally:
            if sqlite:
                connection.rollback()  # whatever a failed step left open
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()

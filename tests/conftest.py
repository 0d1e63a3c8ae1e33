"""Fixtures the whole suite shares (constants and helpers are in tests/common.py).

Databases for the integration and security tests: a SQLite file and a fresh PostgreSQL database.

Every test that takes ``engine`` runs twice, once per database. The PostgreSQL run creates
its own database on the server (so tests never see each other's rows) and drops it after.

A test that takes ``engine`` gets its database already at the newest schema, copied from one
migrated once per session (a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for
PostgreSQL): running every migration for each of some 700 databases was a fifth of the
suite's time. Other tests get an empty database, as a fresh installation has.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from survey.db.engine import make_engine, upgrade
from tests.common import SAMPLES, require


@pytest.fixture
def cheap_hashing(monkeypatch):
    """Staff passwords hashed at the lowest Argon2 cost: production's costs ~0.2 s a hash here
    (its parameters are checked once, in tests/unit/survey/staff/test_staff.py)."""
    from argon2 import PasswordHasher

    from survey.staff import accounts

    monkeypatch.setattr(accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture(scope="session")
def sample_questionnaire():
    from survey.questionnaire import load_questionnaire

    questionnaire, _ = load_questionnaire(SAMPLES / "csi_questionnaire.yaml")
    return questionnaire


# -- databases ---------------------------------------------------------------------------

POSTGRES_URL = os.environ.get(
    "MANYI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_admin():
    import psycopg

    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        return error


def _migrated(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            # Everything into the database file itself: the copy takes the file alone.
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """A SQLite database file at the newest schema, to be copied."""
    path = tmp_path_factory.mktemp("template") / "manyi.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres():
    """The name of a PostgreSQL database at the newest schema, a template to create from."""
    admin = _postgres_admin()
    require(not isinstance(admin, Exception), f"PostgreSQL unreachable at {POSTGRES_URL}: {admin}")
    name = f"manyi_template_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _migrated(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    # Decided here, before any other fixture opens the database: a test with ``engine`` gets
    # it migrated, every other test an empty one.
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "manyi.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    admin = _postgres_admin()
    require(not isinstance(admin, Exception), f"PostgreSQL unreachable at {POSTGRES_URL}: {admin}")
    name = f"manyi_test_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{request.getfixturevalue("migrated_postgres")}"' if migrated else ""
    admin.execute(f'CREATE DATABASE "{name}"{template}')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()

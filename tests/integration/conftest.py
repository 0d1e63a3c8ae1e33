"""Databases for integration tests: a SQLite file and a fresh PostgreSQL database.

Every test that takes ``engine`` runs twice, once per database. The PostgreSQL run creates
its own database on the server (so tests never see each other's rows) and drops it after.
"""

from __future__ import annotations

import os
import uuid

import pytest

from survey.db.engine import make_engine, upgrade
from tests.common import require

POSTGRES_URL = os.environ.get(
    "MANYI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_admin():
    import psycopg

    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        return error


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'manyi.db'}"
        return
    admin = _postgres_admin()
    require(not isinstance(admin, Exception), f"PostgreSQL unreachable at {POSTGRES_URL}: {admin}")
    name = f"manyi_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()

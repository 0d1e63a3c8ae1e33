"""The states of each status column: the enums, the tables' CHECK constraints and the newest
migration that wrote them agree."""

from __future__ import annotations

import importlib.util

from sqlmodel import SQLModel

import survey.db.tables  # noqa: F401 (registers the tables)
from survey.db.engine import MIGRATIONS
from survey.db.states import STATUS_COLUMNS, status_check


def _migration(name: str):
    path = MIGRATIONS / "versions" / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_status_column_of_the_tables_is_checked_against_its_enum():
    for table, states in STATUS_COLUMNS.items():
        checks = {
            c.name: str(c.sqltext)
            for c in SQLModel.metadata.tables[table].constraints
            if c.name and c.name.startswith("ck_")
        }
        assert checks == {f"ck_{table}_status": status_check(states)}
    others = {
        name for name, t in SQLModel.metadata.tables.items()
        if "status" in t.columns and name not in STATUS_COLUMNS
    }  # fmt: skip
    assert others == set(), f"status columns without states: {others}"


def test_the_migrations_check_the_same_states_as_the_enums():
    # A state added to an enum needs a migration that widens the check: this fails until then.
    # 0007 wrote every check; 0014 widened the invitation's (frequency_capped).
    states = dict(_migration("0007_states_and_analysis_lookup.py").STATES)
    states["invitation"] = _migration("0014_frequency_capped_invitations.py").AFTER
    assert {t: tuple(s) for t, s in STATUS_COLUMNS.items()} == {
        t: tuple(states[t]) for t in STATUS_COLUMNS
    }

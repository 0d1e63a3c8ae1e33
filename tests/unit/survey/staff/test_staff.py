"""Staff accounts: passwords, throttling, sessions, API keys and a manager's scope."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlmodel import Session, SQLModel

from survey.db.engine import make_engine
from survey.db.tables import ApiKey, AuditLog, LoginThrottle, Staff, StaffSession, utcnow
from survey.staff import accounts as staff
from survey.staff import audit, throttle
from survey.staff.accounts import (
    LOCKOUT,
    MAX_FAILURES,
    SESSION_IDLE,
    SESSION_LIFETIME,
    StaffError,
    api_key_staff,
    authenticate,
    create_api_key,
    create_staff,
    disable_staff,
    end_session,
    in_scope,
    revoke_api_key,
    scope_clause,
    session_staff,
    start_session,
)

PASSWORD = "correct horse battery"
PRODUCTION_HASHER = staff.PASSWORD_HASHER  # taken before any test replaces it


pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'staff.db'}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_production_hasher_is_argon2id_with_at_least_rfc9106_low_memory_cost():
    hasher = PRODUCTION_HASHER
    assert hasher.type is Type.ID
    assert hasher.memory_cost >= 64 * 1024 and hasher.time_cost >= 3


def test_a_password_is_stored_as_an_argon2id_hash_and_verified(session):
    member = create_staff(session, "Li.Na", "manager", PASSWORD, display_name="李娜")
    assert member.username == "li.na"
    assert member.password_hash.startswith("$argon2id$")
    assert PASSWORD not in member.password_hash
    assert authenticate(session, "LI.NA ", PASSWORD).id == member.id
    assert authenticate(session, "li.na", PASSWORD + "x") is None
    assert authenticate(session, "nobody", PASSWORD) is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("x", "manager", PASSWORD), "username"),
        (("has space", "manager", PASSWORD), "username"),
        (("wang", "boss", PASSWORD), "role 'boss' is unknown"),
        (("wang", "manager", "short"), "12 to 256 characters"),
        (("wang", "manager", "x" * 257), "12 to 256 characters"),
    ],
)
def test_create_staff_refuses_bad_input_saying_why(session, arguments, message):
    with pytest.raises(StaffError, match=message):
        create_staff(session, *arguments)


def test_only_managers_may_be_limited_to_regions(session):
    with pytest.raises(StaffError, match="only managers"):
        create_staff(session, "zhou", "interviewer", PASSWORD, regions=["华东"])
    manager = create_staff(session, "zhou", "manager", PASSWORD, regions=["华东", "华东"])
    assert manager.regions == ["华东"]


def test_interviewers_may_be_limited_to_halls_for_intercept_interviews(session):
    interviewer = create_staff(session, "li", "interviewer", PASSWORD, service_halls=["东区"])
    assert interviewer.service_halls == ["东区"]
    with pytest.raises(StaffError, match="a supervisor is not"):
        create_staff(session, "wu", "supervisor", PASSWORD, service_halls=["东区"])


def test_a_taken_username_is_refused_whatever_its_case(session):
    create_staff(session, "wang", "researcher", PASSWORD)
    with pytest.raises(StaffError, match="taken"):
        create_staff(session, "WANG", "admin", PASSWORD)


def test_a_disabled_member_cannot_authenticate_even_with_the_right_password(session):
    member = create_staff(session, "chen", "interviewer", PASSWORD)
    disable_staff(session, member)
    assert authenticate(session, "chen", PASSWORD) is None


def test_unknown_and_disabled_usernames_still_spend_one_verification(session, monkeypatch):
    create_staff(session, "chen", "interviewer", PASSWORD)
    disable_staff(session, staff.find_staff(session, "chen"))
    calls = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            calls.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(staff, "PASSWORD_HASHER", CountingHasher(time_cost=1, memory_cost=1024))
    for username in ("nobody", "chen"):
        calls.clear()
        assert authenticate(session, username, PASSWORD) is None
        assert len(calls) == 1, username


def test_a_hash_with_old_parameters_is_replaced_at_the_next_login(session, monkeypatch):
    member = create_staff(session, "wu", "researcher", PASSWORD)
    old_hash = member.password_hash
    monkeypatch.setattr(staff, "PASSWORD_HASHER", PasswordHasher(time_cost=2, memory_cost=2048))
    assert authenticate(session, "wu", PASSWORD) is not None
    session.refresh(member)
    assert member.password_hash != old_hash and "t=2" in member.password_hash


# -- throttling ----------------------------------------------------------------------------


def _fail(session, username, ip, at):
    """A failed attempt: its slot taken, and kept."""
    return throttle.reserve(session, username, ip, now=at)


def test_five_failures_lock_the_username_and_address_for_fifteen_minutes(session):
    start = utcnow() - timedelta(minutes=5)
    for minute in range(MAX_FAILURES):
        assert not _fail(session, "li", "10.0.0.1", start + timedelta(minutes=minute)).refused
    locked = throttle.reserve(session, "li", "10.0.0.1")
    assert locked.refused and locked.locked_by == "pair"
    assert locked.locked_until == start + LOCKOUT
    # Another address, or another username, is not locked.
    assert not throttle.reserve(session, "li", "10.0.0.2").refused
    assert not throttle.reserve(session, "wang", "10.0.0.1").refused
    # The lock ends when the window of the first failure is fifteen minutes old.
    assert not throttle.reserve(session, "li", "10.0.0.1", now=start + LOCKOUT).refused


def test_a_successful_login_clears_the_failures_of_its_pair(session):
    start = utcnow() - timedelta(minutes=5)
    for minute in range(3):
        _fail(session, "li", "10.0.0.1", start + timedelta(minutes=minute))
    throttle.succeeded(session, throttle.reserve(session, "li", "10.0.0.1"))
    for _ in range(MAX_FAILURES):
        assert not _fail(session, "li", "10.0.0.1", utcnow()).refused
    assert throttle.reserve(session, "li", "10.0.0.1").refused


def test_throttled_attempts_take_no_slot_and_do_not_extend_the_lock(session):
    start = utcnow() - timedelta(minutes=10)
    for _ in range(MAX_FAILURES):
        _fail(session, "li", None, start)
    for minute in range(1, 9):
        refused = throttle.reserve(session, "li", None, now=start + timedelta(minutes=minute))
        assert refused.locked_until == start + LOCKOUT
    # Refused attempts were no guesses: the account's and the address's counts did not grow.
    counts = {row.key: row.failures for row in session.exec(select(LoginThrottle)).scalars()}
    assert counts == {"account:li": MAX_FAILURES, "address:-": MAX_FAILURES,
                      "pair:li -": MAX_FAILURES}  # fmt: skip


def test_an_account_is_locked_from_everywhere_after_its_own_higher_threshold(session):
    now = utcnow()
    for n in range(throttle.ACCOUNT_MAX_FAILURES):
        ip = f"10.0.{n // MAX_FAILURES}.1"  # never MAX_FAILURES from one address
        assert not _fail(session, "admin", ip, now).refused
    locked = throttle.reserve(session, "admin", "192.0.2.7", now=now)
    assert locked.refused and locked.locked_by == "account"
    assert not throttle.reserve(session, "li", "192.0.2.7", now=now).refused


def test_one_address_trying_many_usernames_runs_out_of_its_budget(session):
    now = utcnow()
    for n in range(throttle.ADDRESS_MAX_FAILURES):
        assert not _fail(session, f"user{n}", "203.0.113.9", now).refused
    locked = throttle.reserve(session, "someone.else", "203.0.113.9", now=now)
    assert locked.refused and locked.locked_by == "address"
    assert not throttle.reserve(session, "someone.else", "203.0.113.10", now=now).refused


def test_a_success_deletes_the_windows_that_have_ended(session):
    _fail(session, "wang", "10.0.0.9", utcnow() - LOCKOUT - timedelta(minutes=1))
    throttle.succeeded(session, throttle.reserve(session, "li", "10.0.0.1"))
    rows = {row.key: row.failures for row in session.exec(select(LoginThrottle)).scalars()}
    assert rows == {"account:li": 0, "address:10.0.0.1": 0}


def test_a_right_password_gives_its_slots_back(session):
    now = utcnow()
    for _ in range(MAX_FAILURES + 3):
        throttle.give_back(session, throttle.reserve(session, "li", "10.0.0.1", now=now))
    assert not throttle.reserve(session, "li", "10.0.0.1", now=now).refused


# -- sessions ------------------------------------------------------------------------------


def test_a_session_token_is_stored_only_as_its_hash(session):
    member = create_staff(session, "zhao", "supervisor", PASSWORD)
    token = start_session(session, member, "10.0.0.1")
    row = session.exec(select(StaffSession)).one()[0]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash
    assert session_staff(session, token).id == member.id
    assert session_staff(session, token + "x") is None


def test_a_session_ends_at_its_lifetime_when_idle_at_logout_and_when_disabled(session):
    member = create_staff(session, "zhao", "supervisor", PASSWORD)
    now = utcnow()
    token = start_session(session, member, now=now)
    # Used every hour, it still ends after its lifetime.
    for hours in range(1, int(SESSION_LIFETIME / timedelta(hours=1))):
        assert session_staff(session, token, now=now + timedelta(hours=hours)) is not None
    assert session_staff(session, token, now=now + SESSION_LIFETIME) is None

    idle = start_session(session, member, now=now)
    assert session_staff(session, idle, now=now + SESSION_IDLE) is None

    ended = start_session(session, member)
    end_session(session, ended)
    assert session_staff(session, ended) is None

    live = start_session(session, member)
    disable_staff(session, member)
    assert session_staff(session, live) is None
    assert session.exec(select(StaffSession)).all() == []


# -- API keys ------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_and_stored_as_its_sha256(session):
    member = create_staff(session, "sun", "researcher", PASSWORD)
    row, key = create_api_key(session, member, "notebook")
    assert key.startswith("manyi_") and len(key) >= 40
    assert row.prefix == key[: len(row.prefix)] and len(row.prefix) < len(key) // 2
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = session.exec(select(ApiKey)).one()[0]
    assert key not in {stored.prefix, stored.key_hash, stored.name}
    assert api_key_staff(session, key).id == member.id
    assert stored.last_used_at is not None


def test_unknown_revoked_and_disabled_members_keys_are_refused(session):
    member = create_staff(session, "sun", "researcher", PASSWORD)
    row, key = create_api_key(session, member, "notebook")
    _, other = create_api_key(session, member, "laptop")
    assert api_key_staff(session, "manyi_" + "A" * 43) is None
    assert api_key_staff(session, "not-a-key") is None
    revoke_api_key(session, row.prefix)
    assert api_key_staff(session, key) is None
    assert api_key_staff(session, other) is not None
    disable_staff(session, member)
    assert api_key_staff(session, other) is None
    with pytest.raises(StaffError, match="no unrevoked API key"):
        revoke_api_key(session, row.prefix)


# -- scope ---------------------------------------------------------------------------------


def _manager(**limits) -> Staff:
    return Staff(username="m", display_name="m", role="manager", **limits)


@pytest.mark.parametrize(
    ("limits", "visible"),
    [
        ({}, {"a", "b", "c"}),
        ({"regions": ["华东"]}, {"a", "b"}),
        ({"service_halls": ["徐家汇"]}, {"a"}),
        ({"regions": ["华南"], "service_halls": ["徐家汇"]}, {"a", "c"}),
    ],
)
def test_a_manager_sees_their_regions_and_halls_in_python_and_in_sql(session, limits, visible):
    rows = {"a": ("华东", "徐家汇"), "b": ("华东", "陆家嘴"), "c": ("华南", "天河")}
    manager = _manager(**limits)
    assert {name for name, (r, h) in rows.items() if in_scope(manager, r, h)} == visible

    places = Table("places", MetaData(), Column("name", String), Column("region", String),
                   Column("hall", String))  # fmt: skip
    connection = session.connection()
    places.create(connection)
    connection.execute(insert(places), [{"name": n, "region": r, "hall": h}
                                        for n, (r, h) in rows.items()])  # fmt: skip
    clause = scope_clause(manager, places.c.region, places.c.hall)
    assert set(connection.execute(select(places.c.name).where(clause)).scalars()) == visible


# -- audit ---------------------------------------------------------------------------------


def test_audit_writes_a_row_with_who_what_where_and_refuses_odd_action_names(session):
    member = create_staff(session, "qian", "manager", PASSWORD)
    row = audit.audit(session, member, audit.EXPORT, "responses.csv", {"rows": 3}, "10.0.0.9")
    stored = session.get(AuditLog, row.id)
    assert (stored.staff_id, stored.action, stored.target, stored.detail, stored.ip) == (
        member.id, "export", "responses.csv", {"rows": 3}, "10.0.0.9",
    )  # fmt: skip
    with pytest.raises(ValueError, match="snake_case"):
        audit.audit(session, member, "Drop Table", None)

"""Login throttling that holds under concurrent guesses, across processes, in the database.

An attempt takes a slot before its password is checked: one atomic upsert per key
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on SQLite and PostgreSQL), in one
transaction committed before the slow Argon2 check. N concurrent guesses take N slots, so
no more than the limit are ever checked; an attempt that finds a key full is refused
without a check and takes nothing (its transaction is rolled back). A failure keeps its
slot; a success gives its slots back (a success is not a failure) and clears its pair.

Three keys, each counted over a window of :data:`LOCKOUT` that starts at its first failure
(an address is an IPv4 address or an IPv6 /64 network: see :func:`keys_of`):

- ``pair`` (an account from one address): :data:`MAX_FAILURES`. The lock a person mistyping
  meets; an attacker at one address gets no more.
- ``account`` (from anywhere): :data:`ACCOUNT_MAX_FAILURES`, ten times higher. A
  per-account lock lets anyone lock an account out; the high threshold makes that take
  ten addresses for one window, while guessing from many addresses stays far too slow to
  find a password that the policy (:mod:`survey.staff.passwords`) accepts.
- ``address`` (any accounts from one address): :data:`ADDRESS_MAX_FAILURES`, against one
  address trying many usernames. An office behind one NAT address shares it: only failures
  count, and a whole office rarely mistypes fifty times in fifteen minutes.

The keys are taken in sorted order, so that two transactions on PostgreSQL never wait for
each other's rows in a cycle. On SQLite the first upsert takes the database's write lock
(the busy timeout waits for it), which serialises the reservations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address, ip_network

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from survey.db.tables import LoginThrottle, UTCDateTime, utcnow

#: Failures of one account from one address that lock that pair.
MAX_FAILURES = 5
#: Failures of one account from anywhere that lock the account.
ACCOUNT_MAX_FAILURES = 50
#: Failures from one address, whatever the accounts, that lock the address.
ADDRESS_MAX_FAILURES = 50
LOCKOUT = timedelta(minutes=15)

# Usernames come from a form: unknown ones may be long, and a key must fit its column.
_PART = 64
_LIMITS = {"pair": MAX_FAILURES, "account": ACCOUNT_MAX_FAILURES, "address": ADDRESS_MAX_FAILURES}


@dataclass(frozen=True)
class Attempt:
    """The slots one login attempt holds (``windows``: key -> window start), or, when it was
    refused, until when and which key refused it."""

    windows: dict[str, datetime]
    locked_until: datetime | None = None
    locked_by: str | None = None

    @property
    def refused(self) -> bool:
        return self.locked_until is not None


def keys_of(username: str, ip: str | None) -> dict[str, str]:
    """The throttle keys of an attempt on ``username`` (normalised) from ``ip``."""
    address = _network(ip)[:_PART]
    name = username[:_PART]
    return {"account": f"account:{name}", "pair": f"pair:{name} {address}",
            "address": f"address:{address}"}  # fmt: skip


def _network(ip: str | None) -> str:
    """What one client is, as far as counting goes: an IPv4 address, or an IPv6 /64.

    One subscriber is routinely given a whole IPv6 /64 (RFC 6177; SLAAC needs it), and can
    pick any of its 2**64 addresses for each request: counted per /128, every guess would
    come from a fresh address and the pair and address limits would never be reached. An
    IPv4-mapped IPv6 address (``::ffff:a.b.c.d``, a dual-stack socket's IPv4 client) is the
    IPv4 address it maps. A scope id (``%eth0``) names a local interface, not a client.
    """
    if ip is None:
        return "-"
    try:
        address = ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        return str(mapped)
    if address.version == 6:
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


def reserve(
    session: Session, username: str, ip: str | None, now: datetime | None = None
) -> Attempt:
    """Take a slot of every key of this attempt, or none if one of them is full.

    Commits (whatever ``session`` held too) before returning: the slots must be visible to
    other processes before the password is checked.
    """
    now = now or utcnow()
    if session.in_transaction():
        # A transaction that has read before it writes can be refused the write lock on
        # SQLite at once, without waiting: start the reservation in a fresh one.
        session.commit()
    windows: dict[str, datetime] = {}
    full: list[tuple[datetime, str]] = []
    kinds = {key: kind for kind, key in keys_of(username, ip).items()}
    for key in sorted(kinds):
        failures, window_start = session.execute(_take_slot(session, key, now)).one()
        windows[key] = window_start
        if failures > _LIMITS[kinds[key]]:
            full.append((window_start + LOCKOUT, kinds[key]))
    if full:
        session.rollback()
        until, kind = max(full)
        return Attempt({}, locked_until=until, locked_by=kind)
    session.commit()
    return Attempt(windows)


def _take_slot(session: Session, key: str, now: datetime):
    table = LoginThrottle.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    when = literal(now, UTCDateTime())
    expired = table.c.window_start <= literal(now - LOCKOUT, UTCDateTime())
    return (
        insert(table)
        .values(key=key, window_start=now, failures=1)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "window_start": case((expired, when), else_=table.c.window_start),
                "failures": case((expired, 1), else_=table.c.failures + 1),
            },
        )
        .returning(table.c.failures, table.c.window_start)
    )


def give_back(session: Session, attempt: Attempt) -> None:
    """Return the slots of an attempt that was no failure (e.g. a right password that still
    needs its one-time code). A window that has started again since keeps its count."""
    _settle(session, attempt, clear_pair=False)


def succeeded(session: Session, attempt: Attempt, now: datetime | None = None) -> None:
    """A login succeeded: its slots are given back, its pair's failures cleared, and expired
    windows of every key deleted (they count nothing any more)."""
    _settle(session, attempt, clear_pair=True)
    expired = (
        select(LoginThrottle.key)
        .where(col(LoginThrottle.window_start) <= (now or utcnow()) - LOCKOUT)
        # Rows a reservation holds are left for next time: waiting for them here, while
        # holding others, could wait in a cycle with it.
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.key).in_(expired)))
    session.commit()


def _settle(session: Session, attempt: Attempt, *, clear_pair: bool) -> None:
    # In the keys' sorted order, as reserve() takes them: never a cycle of waits with it.
    for key, window_start in sorted(attempt.windows.items()):
        if clear_pair and key.startswith("pair:"):
            session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == key))
            continue
        session.execute(
            update(LoginThrottle)
            .where(
                col(LoginThrottle.key) == key,
                col(LoginThrottle.window_start) == window_start,
                col(LoginThrottle.failures) > 0,
            )
            .values(failures=col(LoginThrottle.failures) - 1)
        )
    session.commit()

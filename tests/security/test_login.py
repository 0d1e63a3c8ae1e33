"""Signing in under attack (security issue 18, items 6 and 8), on SQLite and PostgreSQL.

What an attacker showed: concurrent guesses let 18 passwords through a lock of 5; a forged
X-Forwarded-For from a loopback client dodged the lock and wrote its fake address into the
audit log; ``Password1234``, twelve spaces and the user name were accepted as an admin's
password. And admins may be made to sign in with a one-time code (MANYI_REQUIRE_ADMIN_TOTP).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections import Counter
from contextlib import ExitStack
from datetime import timedelta

import httpx2
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from api.settings import Settings
from api.web.app import create_app
from survey.db.engine import current_revision, downgrade, head_revision, upgrade
from survey.db.tables import AuditLog, Staff, utcnow
from survey.staff import totp
from survey.staff.accounts import (
    MAX_FAILURES,
    StaffError,
    create_staff,
    find_staff,
    session_staff,
    set_password,
    start_session,
)
from tests.integration.staff_login import PASSWORD, SECRET, field, log_in
from tests.service_process import free_port, manyi, running

#: An address of no proxy of ours (TEST-NET-2), as the socket's peer of the test client.
PEER = "198.51.100.7"


def make_client(database_url, peer=PEER, **settings) -> TestClient:
    settings = Settings(database_url=database_url, public_base_url="https://manyi.example.org",
                        env="test", secret_key=SECRET, **settings)  # fmt: skip
    return TestClient(create_app(settings), base_url="https://testserver", client=(peer, 50000))


def add(engine, username, role="manager", password=PASSWORD) -> Staff:
    with Session(engine) as session:
        return create_staff(session, username, role, password)


def audit_rows(engine, action=None) -> list[AuditLog]:
    with Session(engine) as session:
        query = select(AuditLog).order_by(AuditLog.id)
        if action is not None:
            query = query.where(AuditLog.action == action)
        return list(session.exec(query))


def post_login(client, page_text, **form):
    form = {"csrf": field(page_text, "csrf"), "next": "/me", **form}
    return client.post("/login", data=form, follow_redirects=False)


# -- concurrent guesses, on real servers -----------------------------------------------------


def serve(stack: ExitStack, database_url: str, folder, name: str) -> str:
    base = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "MANYI_DATABASE_URL": database_url, "MANYI_PUBLIC_BASE_URL": base,
           "MANYI_SECRET_KEY": SECRET, "MANYI_ENV": "test"}  # fmt: skip
    for variable in ("MANYI_TRUSTED_PROXIES", "MANYI_REQUIRE_ADMIN_TOTP", "FORWARDED_ALLOW_IPS"):
        env.pop(variable, None)
    command = manyi("serve", "--port", base.rsplit(":", 1)[1])
    stack.enter_context(running(command, base_url=base, env=env, log_path=folder / f"{name}.log"))
    return base


def guesses_at_once(bases: list[str], username: str, passwords: list[str]) -> list[int]:
    """Every password posted at the same moment, each from its own browser, spread over the
    servers; the statuses, in the order of ``passwords``."""
    barrier = threading.Barrier(len(passwords))
    statuses: list[int | None] = [None] * len(passwords)

    def guess(n: int) -> None:
        with httpx2.Client(base_url=bases[n % len(bases)], timeout=120) as client:
            page = client.get("/login")
            form = {"username": username, "password": passwords[n],
                    "csrf": field(page.text, "csrf"), "next": "/me"}  # fmt: skip
            barrier.wait(timeout=120)
            statuses[n] = client.post("/login", data=form).status_code

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(len(passwords))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return statuses


def test_twenty_concurrent_wrong_passwords_on_two_servers_check_only_max_failures(
    engine, database_url, tmp_path
):
    # Production's Argon2 cost (no cheap_hashing): each check takes long enough that all
    # twenty requests are in flight together, as an attacker's are.
    add(engine, "li.na")
    with ExitStack() as stack:
        bases = [serve(stack, database_url, tmp_path, name) for name in ("one", "two")]
        wrong = [f"wrong guess number {n}" for n in range(20)]
        statuses = guesses_at_once(bases, "li.na", wrong)
        assert Counter(statuses) == {401: MAX_FAILURES, 429: 20 - MAX_FAILURES}
        assert len(audit_rows(engine, "login_failed")) == MAX_FAILURES
        assert len(audit_rows(engine, "login_throttled")) == 20 - MAX_FAILURES
        # The pair stays locked for the right password too, on either server.
        with httpx2.Client(base_url=bases[1]) as client:
            page = client.get("/login")
            right = {"username": "li.na", "password": PASSWORD, "csrf": field(page.text, "csrf")}
            assert client.post("/login", data=right).status_code == 429


def test_manyi_serve_believes_no_x_forwarded_for_from_a_loopback_client(
    engine, database_url, tmp_path
):
    # uvicorn by itself rewrites the client from X-Forwarded-For when the peer is 127.0.0.1.
    add(engine, "li.na")
    with ExitStack() as stack:
        base = serve(stack, database_url, tmp_path, "server")
        for n in range(MAX_FAILURES + 2):
            with httpx2.Client(base_url=base) as client:
                page = client.get("/login")
                form = {"username": "li.na", "password": "not the password",
                        "csrf": field(page.text, "csrf")}  # fmt: skip
                forged = {"X-Forwarded-For": f"203.0.113.{n}"}
                status = client.post("/login", data=form, headers=forged).status_code
            assert status == (401 if n < MAX_FAILURES else 429), n
    rows = audit_rows(engine)
    assert {row.ip for row in rows} == {"127.0.0.1"}
    assert [row.forwarded_for for row in rows] == [f"203.0.113.{n}" for n in range(len(rows))]


# -- X-Forwarded-For -------------------------------------------------------------------------


@pytest.mark.usefixtures("cheap_hashing")
def test_a_rotating_x_forwarded_for_from_an_untrusted_peer_is_ignored_and_recorded_apart(
    engine, database_url
):
    add(engine, "li.na")
    statuses = []
    with make_client(database_url) as client:
        for n in range(12):
            page = client.get("/login")
            forged = {"X-Forwarded-For": f"203.0.113.{n}, 10.0.0.1"}
            response = client.post("/login", headers=forged, follow_redirects=False, data={
                "username": "li.na", "password": "not the password", "csrf":
                field(page.text, "csrf")})  # fmt: skip
            statuses.append(response.status_code)
    assert statuses == [401] * MAX_FAILURES + [429] * (12 - MAX_FAILURES)
    rows = audit_rows(engine)
    assert {row.ip for row in rows} == {PEER}
    assert [row.forwarded_for for row in rows] == [f"203.0.113.{n}, 10.0.0.1" for n in range(12)]


@pytest.mark.usefixtures("cheap_hashing")
def test_behind_a_trusted_proxy_the_client_it_names_is_used_and_nothing_left_of_it(
    engine, database_url
):
    add(engine, "li.na")
    proxies = ("198.51.100.0/24", "10.0.0.0/8")

    def attempt(client, password, chain=None):
        page = client.get("/login")
        headers = {"X-Forwarded-For": chain} if chain else {}
        form = {"username": "li.na", "password": password, "csrf": field(page.text, "csrf")}
        return client.post("/login", headers=headers, data=form, follow_redirects=False)

    with make_client(database_url, trusted_proxies=proxies) as client:
        # The client wrote the first address; our proxies appended the others.
        chains = [f"192.0.2.66, 203.0.113.{n}, 10.1.2.3" for n in range(MAX_FAILURES + 3)]
        assert {attempt(client, "not the password", chain).status_code for chain in chains} == {401}
        for _ in range(MAX_FAILURES - 1):
            assert attempt(client, "not the password", "203.0.113.0").status_code == 401
        assert attempt(client, PASSWORD, "203.0.113.0").status_code == 429
        # Without the header, the trusted proxy itself is the client.
        assert attempt(client, "not the password").status_code == 401
        assert attempt(client, PASSWORD, "203.0.113.1").status_code == 303
    failed = audit_rows(engine, "login_failed")
    assert [row.ip for row in failed] == [f"203.0.113.{n}" for n in range(MAX_FAILURES + 3)] + [
        "203.0.113.0"
    ] * (MAX_FAILURES - 1) + [PEER]
    assert [row.forwarded_for for row in failed[: len(chains)]] == chains
    assert failed[-1].forwarded_for is None


@pytest.mark.parametrize(
    ("peer", "chain", "expected"),
    [
        (PEER, None, PEER),
        (PEER, "203.0.113.5", "203.0.113.5"),
        (PEER, "203.0.113.5, 10.0.0.9", "203.0.113.5"),
        (PEER, "not-an-address, 10.0.0.9", "10.0.0.9"),
        (PEER, "10.0.0.8, 10.0.0.9", "10.0.0.8"),
        (PEER, "[2001:db8::1]", "2001:db8::1"),
        ("203.0.113.1", "10.0.0.9", "203.0.113.1"),
        ("::ffff:198.51.100.7", "203.0.113.5", "203.0.113.5"),
    ],
)
def test_client_ip_walks_the_chain_from_the_right_past_trusted_proxies(peer, chain, expected):
    from starlette.requests import Request

    from api.web.auth import client_ip

    settings = Settings(trusted_proxies=("198.51.100.0/24", "10.0.0.0/8"))
    headers = [(b"x-forwarded-for", chain.encode())] if chain else []
    request = Request({"type": "http", "client": (peer, 1), "headers": headers})
    assert client_ip(request, settings) == expected
    # Untrusted: the peer itself, as an address (an IPv4 client of a dual-stack socket as IPv4).
    assert client_ip(request, Settings(trusted_proxies=())) == peer.removeprefix("::ffff:")


@pytest.mark.usefixtures("cheap_hashing")
def test_guesses_from_many_addresses_of_one_ipv6_64_share_one_pair_lock(engine, database_url):
    # Whoever has a /64 can use a fresh address for every guess: the /64 is the client.
    add(engine, "li.na")
    statuses = []
    for n in range(MAX_FAILURES + 1):
        with make_client(database_url, peer=f"2001:db8:5:6::{n + 1:x}") as client:
            page = client.get("/login")
            statuses.append(post_login(client, page.text, username="li.na",
                                       password="not the password").status_code)  # fmt: skip
    assert statuses == [401] * MAX_FAILURES + [429]
    # Another /64 is another client; the audit log keeps each full address.
    with make_client(database_url, peer="2001:db8:5:7::1") as client:
        page = client.get("/login")
        assert post_login(client, page.text, username="li.na", password=PASSWORD).status_code == 303
    failed = audit_rows(engine, "login_failed")
    assert [row.ip for row in failed] == [f"2001:db8:5:6::{n + 1:x}" for n in range(MAX_FAILURES)]


@pytest.mark.usefixtures("cheap_hashing")
def test_a_forwarded_scope_id_is_dropped_and_the_audit_address_fits_its_column(
    engine, database_url
):
    add(engine, "li.na")
    chain = "fe80::1%" + "x" * 80 + ", 10.0.0.9"
    with make_client(database_url, trusted_proxies=("198.51.100.0/24", "10.0.0.0/8")) as client:
        page = client.get("/login")
        form = {"username": "li.na", "password": PASSWORD, "csrf": field(page.text, "csrf")}
        response = client.post("/login", headers={"X-Forwarded-For": chain}, data=form,
                               follow_redirects=False)  # fmt: skip
        assert response.status_code == 303
    [row] = audit_rows(engine, "login")
    assert row.ip == "fe80::1" and len(row.ip) <= 45


@pytest.mark.parametrize(
    "hop",
    ["fe80::1%eth0", "[fe80::1%" + "9" * 200 + "]", "fe80::1%", "ffff:" * 7 + "ffff%zz"],
)
def test_client_ip_never_returns_a_scope_id_nor_more_than_45_characters(hop):
    from starlette.requests import Request

    from api.web.auth import client_ip

    settings = Settings(trusted_proxies=("198.51.100.0/24",))
    request = Request({"type": "http", "client": (PEER, 1),
                       "headers": [(b"x-forwarded-for", hop.encode())]})  # fmt: skip
    ip = client_ip(request, settings)
    assert "%" not in ip and len(ip) <= 45
    assert ip == hop.strip("[]").split("%")[0]


# -- the password policy ---------------------------------------------------------------------


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        yield session


@pytest.mark.usefixtures("cheap_hashing")
@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("boss", "Password1234", "common password 'password1234'"),
        ("boss", "P@ssw0rd!!!!", "common password"),
        ("boss", "monkeymonkey12", "common password 'monkey'"),
        ("boss", " " * 12, "spaces only"),
        ("boss", "x" * 12, "repeats the character 'x'"),
        ("boss", "abcabcabcabc", "repeats 'abc'"),
        ("boss", "123456789012", "consecutive digits or letters"),
        ("wang.admin.li", "Wang.Admin.Li", "user name ('wang.admin.li')"),
        ("wang.admin", "WangAdmin!2024", "user name ('wangadmin')"),
        ("wang.admin", "my name is Wang, hi", "user name ('wang')"),
        ("boss", "short", "12 to 256 characters"),
    ],
)
def test_a_weak_password_is_refused_saying_what_is_wrong_and_what_to_do(
    session, username, password, message
):
    with pytest.raises(StaffError, match=re.escape(message)) as refused:
        create_staff(session, username, "admin", password)
    assert "a few unrelated words" in str(refused.value)
    assert find_staff(session, username) is None


@pytest.mark.usefixtures("cheap_hashing")
@pytest.mark.parametrize("password", [PASSWORD, "choose a long one", "Tr0ub4dor&3xyz!"])
def test_a_password_of_unrelated_words_is_accepted(session, password):
    assert create_staff(session, "boss", "admin", password).password_hash


@pytest.mark.usefixtures("cheap_hashing")
def test_setting_a_password_applies_the_policy_and_ends_the_members_sessions(session):
    member = create_staff(session, "li.na", "manager", PASSWORD)
    token = start_session(session, member)
    with pytest.raises(StaffError, match="common password"):
        set_password(session, member, "Iloveyou2024!")
    assert session_staff(session, token) is not None
    set_password(session, member, "a different phrase entirely")
    assert session_staff(session, token) is None


def run_manyi(database_url, *args, password=None):
    env = {**os.environ, "MANYI_DATABASE_URL": database_url, "MANYI_SECRET_KEY": SECRET,
           "MANYI_ENV": "test"}  # fmt: skip
    env.pop("MANYI_STAFF_PASSWORD", None)
    if password is not None:
        env["MANYI_STAFF_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "api.cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
                          check=False)  # fmt: skip


def test_the_staff_commands_refuse_a_weak_password_with_the_reason(engine, database_url):
    weak = run_manyi(database_url, "staff", "add", "boss", "--role", "admin",
                     password="Password1234")  # fmt: skip
    assert weak.returncode == 1
    assert "common password 'password1234'" in weak.stderr and "unrelated words" in weak.stderr
    assert run_manyi(database_url, "staff", "add", "boss", "--role", "admin",
                     password=PASSWORD).returncode == 0  # fmt: skip
    same_as_name = run_manyi(database_url, "staff", "set-password", "boss", password="Boss" * 4)
    assert same_as_name.returncode == 1 and "repeats 'boss'" in same_as_name.stderr
    changed = run_manyi(database_url, "staff", "set-password", "boss",
                        password="another long phrase")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert [row.action for row in audit_rows(engine)] == ["staff_added", "password_changed"]


# -- one-time codes --------------------------------------------------------------------------


def enrolled(engine, username, role="admin") -> str:
    """Add ``username`` with one-time codes; their secret, as an authenticator app holds it."""
    add(engine, username, role)
    with Session(engine) as session:
        return totp.enrol(session, find_staff(session, username), SECRET)


def code_form(client, username, password=PASSWORD):
    """The login answer to a right password: the code form."""
    response = log_in(client, username, password)
    assert response.status_code == 200 and 'name="code"' in response.text, response.text
    assert 'name="password"' not in response.text
    return response


def send_code(client, form, code):
    return post_login(client, form.text, proof=field(form.text, "proof"), code=code)


@pytest.mark.usefixtures("cheap_hashing")
def test_with_the_setting_off_an_admin_signs_in_with_the_password_alone(engine, database_url):
    add(engine, "boss", "admin")
    with make_client(database_url) as client:
        assert log_in(client, "boss").status_code == 303


@pytest.mark.usefixtures("cheap_hashing")
def test_with_the_setting_on_an_admin_without_codes_is_told_to_run_the_enrolment(
    engine, database_url
):
    add(engine, "boss", "admin")
    add(engine, "li.na", "manager")
    with make_client(database_url, require_admin_totp=True) as client:
        refused = log_in(client, "boss")
        assert refused.status_code == 403
        assert "manyi staff totp boss" in refused.text
        assert client.get("/me", follow_redirects=False).status_code == 303
        # The message comes only after the right password: a guess learns nothing.
        assert log_in(client, "boss", "not the password").status_code == 401
        assert log_in(client, "li.na").status_code == 303


@pytest.mark.usefixtures("cheap_hashing")
@pytest.mark.parametrize("required", [True, False])
def test_an_enrolled_account_signs_in_with_its_code_once_and_a_used_code_is_refused(
    engine, database_url, required
):
    secret = enrolled(engine, "boss", "admin" if required else "manager")
    with make_client(database_url, require_admin_totp=required) as client:
        form = code_form(client, "boss")
        assert client.get("/me", follow_redirects=False).status_code == 303
        long_ago = pyotp.TOTP(secret).at(utcnow() - timedelta(minutes=10))
        wrong = send_code(client, form, long_ago)
        assert wrong.status_code == 401 and "Wrong code" in wrong.text
        code = pyotp.TOTP(secret).now()
        assert send_code(client, wrong, code).status_code == 303
        assert "boss" in client.get("/me").text

    with make_client(database_url, require_admin_totp=required) as client:
        replayed = send_code(client, code_form(client, "boss"), code)
        assert replayed.status_code == 401 and "used already" in replayed.text
        assert client.get("/me", follow_redirects=False).status_code == 303
    reasons = [row.detail.get("reason") for row in audit_rows(engine, "login_failed")]
    assert reasons == ["one-time code wrong", "one-time code replayed"]


@pytest.mark.usefixtures("cheap_hashing")
def test_the_code_form_needs_its_own_browser_and_its_guesses_are_throttled(engine, database_url):
    secret = enrolled(engine, "boss")
    with make_client(database_url) as client, make_client(database_url) as other:
        form = code_form(client, "boss")
        # The proof of the right password is tied to the login cookie of its browser.
        page = other.get("/login")
        stolen = post_login(other, page.text, proof=field(form.text, "proof"),
                            code=pyotp.TOTP(secret).now())  # fmt: skip
        assert stolen.status_code == 403
        for _ in range(MAX_FAILURES):
            form = send_code(client, form, "999999x")
            assert form.status_code == 401
        assert send_code(client, form, pyotp.TOTP(secret).now()).status_code == 429


@pytest.mark.usefixtures("cheap_hashing")
def test_a_secret_sealed_under_another_key_is_refused_saying_how_to_enrol_again(
    engine, database_url
):
    add(engine, "boss", "admin")
    with Session(engine) as session:
        totp.enrol(session, find_staff(session, "boss"), "the key before it was rotated, long")
    with make_client(database_url) as client:
        refused = log_in(client, "boss")
        assert refused.status_code == 403 and 'name="code"' not in refused.text
        assert "MANYI_SECRET_KEY" in refused.text and "manyi staff totp boss" in refused.text
        assert client.get("/me", follow_redirects=False).status_code == 303


@pytest.mark.usefixtures("cheap_hashing")
def test_codes_are_accepted_one_step_either_side_and_never_for_an_earlier_step(session):
    member = create_staff(session, "boss", "admin", PASSWORD)
    secret = totp.enrol(session, member, SECRET)
    clock = pyotp.TOTP(secret)
    now = utcnow()
    step = timedelta(seconds=30)

    def check(at):
        return totp.check_code(session, member, SECRET, clock.at(at), now=now)

    assert check(now - 2 * step) is totp.CodeCheck.WRONG
    assert check(now + 2 * step) is totp.CodeCheck.WRONG
    assert check(now + step) is totp.CodeCheck.ACCEPTED
    assert check(now) is totp.CodeCheck.REPLAYED  # older than the one used
    assert check(now + step) is totp.CodeCheck.REPLAYED


@pytest.mark.usefixtures("cheap_hashing")
def test_the_secret_is_stored_sealed_and_opens_only_for_its_account_and_key(session):
    member = create_staff(session, "boss", "admin", PASSWORD)
    other = create_staff(session, "li.na", "manager", PASSWORD)
    secret = totp.enrol(session, member, SECRET)
    assert secret not in member.totp_secret
    assert totp.unseal(SECRET, member, member.totp_secret) == secret
    assert totp.unseal(SECRET + "x", member, member.totp_secret) is None
    assert totp.unseal(SECRET, other, member.totp_secret) is None
    code = pyotp.TOTP(secret).now()
    assert totp.check_code(session, member, SECRET + "x", code) is totp.CodeCheck.UNREADABLE


@pytest.mark.usefixtures("cheap_hashing")
def test_manyi_staff_totp_prints_the_uri_and_secret_once_and_logs_neither(engine, database_url):
    add(engine, "boss", "admin")
    run = run_manyi(database_url, "staff", "totp", "boss")
    assert run.returncode == 0, run.stderr
    secret = re.search(r"^secret: ([A-Z2-7]+)$", run.stdout, re.M).group(1)
    uri = run.stdout.splitlines()[0]
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri and "boss" in uri
    assert "not shown again" in run.stderr
    with Session(engine) as session:
        stored = find_staff(session, "boss").totp_secret
        logged = [str(row.detail) + str(row.target) for row in audit_rows(engine)]
    assert secret not in stored and not any(secret in entry for entry in logged)
    assert [row.action for row in audit_rows(engine)] == ["totp_enrolled"]
    with make_client(database_url, require_admin_totp=True) as client:
        form = code_form(client, "boss")
        assert send_code(client, form, pyotp.TOTP(secret).now()).status_code == 303

    assert run_manyi(database_url, "staff", "totp", "boss", "--remove").returncode == 0
    with make_client(database_url) as client:
        assert log_in(client, "boss").status_code == 303


# -- the schema ------------------------------------------------------------------------------


def test_migration_0008_goes_down_and_up_keeping_the_audit_logs_update_trigger(engine):
    downgrade(engine, "0007")
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with Session(engine) as session:
        session.add(AuditLog(action="login", target="x", ip=PEER, forwarded_for="203.0.113.1"))
        session.commit()
        with pytest.raises(DBAPIError, match="never updated"):
            session.execute(text("UPDATE audit_log SET ip = '203.0.113.1'"))
            session.commit()

"""Signing in, roles, CSRF and API keys, through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from api import permissions
from api.permissions import Permission
from api.settings import Settings
from api.web.app import create_app
from api.web.auth import CsrfChecked, CurrentStaff, require_permission, require_role
from survey.db.tables import AuditLog, Staff
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.staff import accounts as staff
from survey.staff import audit
from survey.staff.accounts import (
    MAX_FAILURES,
    create_api_key,
    create_staff,
    disable_staff,
    find_staff,
)
from tests.common import ROOT
from tests.integration.staff_login import PASSWORD, SECRET, field, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

# The permission matrix as the README documents it, written out here a second time on
# purpose: a change of api.permissions.MATRIX must be a change of this table too.
EXPECTED = {
    #                        admin researcher manager team_leader supervisor interviewer integration
    "operate":              (1,    1,         0,      0,          0,         0,          0),
    "view_analyses":        (1,    1,         1,      0,          0,         0,          0),
    "view_contact_results": (1,    1,         1,      1,          0,         0,          0),
    "run_analyses":         (1,    1,         0,      0,          0,         0,          0),
    "export_responses":     (1,    1,         1,      0,          0,         0,          0),
    "view_phone_numbers":   (0,    0,         0,      0,          1,         1,          0),
    "call_customers":       (0,    0,         0,      0,          1,         1,          0),
    "intercept":            (0,    0,         0,      0,          0,         1,          0),
    "supervise":            (0,    0,         0,      0,          1,         0,          0),
    "view_follow_ups":      (1,    1,         1,      0,          1,         0,          0),
    "manage_follow_ups":    (0,    0,         1,      0,          1,         0,          0),
    "manage_staff":         (1,    0,         0,      0,          0,         0,          0),
    "view_audit_log":       (1,    0,         0,      0,          0,         0,          0),
    "submit_contacts":      (0,    0,         0,      0,          0,         0,          1),
}  # fmt: skip
ROLES = ("admin", "researcher", "manager", "team_leader", "supervisor", "interviewer",
         "integration")  # fmt: skip
#: A team leader has one team at least (the probes below need no contact event naming it).
LIMITS = {"team_leader": {"teams": ["T1"]}}


def probe_router() -> APIRouter:
    """Routes that exist only in these tests: one per permission, a role check, a form."""
    router = APIRouter()

    for permission in Permission:
        router.add_api_route(
            f"/api/probe/{permission.value}",
            lambda: {},
            dependencies=[Depends(require_permission(permission))],
        )

    @router.get("/probe/queue", response_class=HTMLResponse)
    def queue(member: Annotated[Staff, Depends(require_role("supervisor", "manager"))]):
        return f"<p>queue of {member.username}</p>"

    @router.post("/probe/form")
    def form(member: CurrentStaff, _: CsrfChecked):
        return {"by": member.username}

    return router


def make_client(database_url, base="https://manyi.example.org") -> TestClient:
    settings = Settings(database_url=database_url, public_base_url=base, env="test",
                        secret_key=SECRET)  # fmt: skip
    app = create_app(settings)
    app.include_router(probe_router())
    # https, so that the browser-like client sends the Secure cookies back.
    return TestClient(app, base_url=base.replace("manyi.example.org", "testserver"))


@pytest.fixture
def client(engine, database_url):
    with make_client(database_url) as client:
        yield client


def add(engine, username, role, **limits) -> Staff:
    with Session(engine) as session:
        return create_staff(session, username, role, PASSWORD, **limits)


SESSION = "__Host-manyi_session"


def set_session(client, value: str) -> None:
    """Put ``value`` in the client's session cookie, as a browser holding it would send it."""
    client.cookies.delete(SESSION)
    client.cookies.set(SESSION, value, domain="testserver.local", path="/")


def actions(engine) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
        return [(row.action, row.target) for row in rows]


# -- login ---------------------------------------------------------------------------------


def test_login_sets_a_secure_httponly_lax_host_cookie_and_goes_to_next(engine, client):
    add(engine, "li.na", "manager")
    response = log_in(client, "Li.Na", next_="/me%3Fx%3D1")
    assert response.status_code == 303
    assert response.headers["location"] == "/me?x=1"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "manyi_session=" in c)
    assert cookie.startswith("__Host-manyi_session=")
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= {
        part.strip().lower() for part in cookie.split(";")
    }
    me = client.get("/me")
    assert me.status_code == 200 and "li.na" in me.text and "view_analyses" in me.text
    assert me.headers["cache-control"] == "no-store"
    assert ("login", "li.na") in actions(engine)


def test_over_plain_http_the_cookie_is_not_secure(engine, database_url):
    add(engine, "li.na", "manager")
    with make_client(database_url, base="http://127.0.0.1:8000") as client:
        response = log_in(client, "li.na")
    cookie = next(c for c in response.headers.get_list("set-cookie") if "manyi_session=" in c)
    assert cookie.startswith("manyi_session=") and "secure" not in cookie.lower()


def test_a_wrong_password_or_unknown_user_gets_the_same_401_and_is_audited(engine, client):
    member = add(engine, "li.na", "manager")
    wrong = log_in(client, "li.na", "wrong password!")
    unknown = log_in(client, "nobody", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong username or password" in response.text
        assert "manyi_session" not in response.headers.get("set-cookie", "")
    with Session(engine) as session:
        failed = session.exec(select(AuditLog).where(AuditLog.action == "login_failed")).all()
    assert [(row.staff_id, row.target) for row in failed] == [(member.id, "li.na"),
                                                              (None, "nobody")]  # fmt: skip
    assert all(row.ip == "testclient" for row in failed)


def test_five_failures_lock_the_account_from_that_address_even_for_the_right_password(
    engine, client
):
    add(engine, "li.na", "manager")
    for _ in range(MAX_FAILURES):
        assert log_in(client, "li.na", "wrong password!").status_code == 401
    locked = log_in(client, "li.na", PASSWORD)
    assert locked.status_code == 429
    assert 14 * 60 <= int(locked.headers["retry-after"]) <= 15 * 60
    assert client.get("/me", follow_redirects=False).status_code == 303
    assert actions(engine)[-1] == ("login_throttled", "li.na")


def test_a_login_without_the_forms_csrf_field_or_cookie_is_refused(engine, client):
    add(engine, "li.na", "manager")
    page = client.get("/login")
    form = {"username": "li.na", "password": PASSWORD, "next": "/me"}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 403
    forged = {**form, "csrf": field(page.text, "csrf") + "x"}
    assert client.post("/login", data=forged, follow_redirects=False).status_code == 403
    client.cookies.clear()
    good_token = {**form, "csrf": field(page.text, "csrf")}
    assert client.post("/login", data=good_token, follow_redirects=False).status_code == 403
    assert actions(engine) == []


def test_next_never_leads_to_another_site(engine, client):
    add(engine, "li.na", "manager")
    for target in ("//evil.example", "https://evil.example", "/\\evil.example"):
        client.cookies.clear()
        page = client.get("/login", params={"next": target})
        assert field(page.text, "next") == "/me"
        # No page to return to: a manager lands on their work, the dashboard.
        assert log_in(client, "li.na").headers["location"] == "/dashboard"


@pytest.mark.parametrize(
    ("role", "page"),
    [("interviewer", "/calls"), ("supervisor", "/supervision"), ("manager", "/dashboard"),
     ("team_leader", "/dashboard/agents"), ("researcher", "/console"), ("admin", "/console")],
)  # fmt: skip
def test_sign_in_lands_on_the_roles_work_page(engine, client, role, page):
    add(engine, "li.na", role, **LIMITS.get(role, {}))
    client.get("/login")
    landed = log_in(client, "li.na")
    assert landed.headers["location"] == page
    assert client.get(page).status_code == 200


def test_login_starts_a_new_session_and_ends_the_one_the_browser_had(engine, client):
    add(engine, "li.na", "manager")
    add(engine, "wang", "researcher")
    log_in(client, "wang")
    wang_cookie = client.cookies[SESSION]
    # The login form, seen without the session, then posted with it.
    client.cookies.clear()
    page = client.get("/login")
    set_session(client, wang_cookie)
    form = {"username": "li.na", "password": PASSWORD, "csrf": field(page.text, "csrf")}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    assert client.cookies[SESSION] != wang_cookie
    assert "li.na" in client.get("/me").text
    set_session(client, wang_cookie)
    assert client.get("/me", follow_redirects=False).status_code == 303


def test_logout_needs_csrf_and_ends_the_session_on_the_server(engine, client):
    add(engine, "li.na", "manager")
    log_in(client, "li.na")
    cookie = client.cookies[SESSION]
    me = client.get("/me")
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert client.get("/me").status_code == 200
    response = client.post("/logout", data={"csrf": field(me.text, "csrf")},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == "/login"
    # A copy of the old cookie no longer signs anyone in.
    set_session(client, cookie)
    assert client.get("/me", follow_redirects=False).status_code == 303
    assert [a for a, _ in actions(engine)] == ["login", "logout"]


def test_a_disabled_member_is_signed_out_at_once_and_cannot_log_in(engine, client):
    add(engine, "li.na", "manager")
    log_in(client, "li.na")
    with Session(engine) as session:
        disable_staff(session, find_staff(session, "li.na"))
    assert client.get("/me", follow_redirects=False).headers["location"] == "/login?next=%2Fme"
    assert log_in(client, "li.na").status_code == 401


def test_a_forged_session_cookie_is_refused(engine, client):
    add(engine, "li.na", "manager")
    log_in(client, "li.na")
    cookie = client.cookies[SESSION]
    token, mac = cookie.rsplit(".", 1)
    client.cookies.clear()
    for forged in (token, f"{token}.{mac[:-2]}xx", "ünïcode.mäc", ""):
        # Raw latin-1 bytes: a client may send anything, not only what a cookie jar would.
        header = f"{SESSION}={forged}".encode("latin-1")
        response = client.get("/me", headers={"cookie": header}, follow_redirects=False)
        assert response.status_code == 303, forged


# -- roles and permissions -----------------------------------------------------------------


def test_the_matrix_in_code_is_the_documented_one():
    for permission, marks in EXPECTED.items():
        for role, mark in zip(ROLES, marks, strict=True):
            assert permissions.allowed(role, Permission(permission)) == bool(mark), (
                role,
                permission,
            )
    assert set(EXPECTED) == {p.value for p in Permission}
    # The README's table, in the order of the Role enum (interviewer before supervisor).
    assert "| `supervise` | – | – | – | – | – | ✓ |" in permissions.as_markdown()
    # ... and the README shows it as generated.
    assert permissions.as_markdown() in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("role", ROLES)
def test_every_cell_of_the_permission_matrix_over_http(engine, client, role):
    member = add(engine, f"{role}.one", role, **LIMITS.get(role, {}))
    with Session(engine) as session:
        _, key = create_api_key(session, session.get(Staff, member.id), "probe")
    headers = {"Authorization": f"Bearer {key}"}
    wrong = []
    for permission, marks in EXPECTED.items():
        status = client.get(f"/api/probe/{permission}", headers=headers).status_code
        if status != (200 if marks[ROLES.index(role)] else 403):
            wrong.append((permission, status))
    assert wrong == []


@pytest.mark.parametrize(("role", "status"), [("interviewer", 403), ("supervisor", 200),
                                              ("manager", 200), ("researcher", 403)])  # fmt: skip
def test_require_role_refuses_an_interviewer_a_page_supervisors_and_managers_see(
    engine, client, role, status
):
    add(engine, "someone", role)
    log_in(client, "someone")
    response = client.get("/probe/queue")
    assert response.status_code == status
    if status == 403:
        assert "Not allowed" in response.text and response.headers["x-frame-options"] == "DENY"


def test_pages_redirect_to_login_and_the_api_answers_401_json(client):
    page = client.get("/probe/queue?day=1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fprobe%2Fqueue%3Fday%3D1"
    api = client.get("/api/v1/me")
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
    assert api.json() == {"error": {"status": 401, "code": "unauthorized",
                                    "message": "sign in first", "details": []}}  # fmt: skip


def test_a_signed_in_form_needs_the_csrf_field_of_its_own_session(engine, database_url):
    add(engine, "li.na", "manager")
    add(engine, "wang", "researcher")
    with make_client(database_url) as li, make_client(database_url) as wang:
        log_in(li, "li.na")
        log_in(wang, "wang")
        li_token = field(li.get("/me").text, "csrf")
        wang_token = field(wang.get("/me").text, "csrf")
        assert li.post("/probe/form", data={}).status_code == 403
        assert li.post("/probe/form", data={"csrf": wang_token}).status_code == 403
        assert li.post("/probe/form", data={"csrf": li_token}).json() == {"by": "li.na"}


# -- API keys ------------------------------------------------------------------------------


def test_api_keys_work_until_revoked_and_unknown_or_malformed_ones_are_refused(engine, client):
    member = add(engine, "sun", "researcher", display_name="孙")
    with Session(engine) as session:
        row, key = create_api_key(session, session.get(Staff, member.id), "notebook")
    ok = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200
    assert ok.json()["username"] == "sun" and "run_analyses" in ok.json()["permissions"]
    assert "password_hash" not in ok.json()

    for header in (f"Bearer {key[:-1]}", f"Basic {key}", "Bearer ", f"Bearer manyi_{'A' * 43}"):
        refused = client.get("/api/v1/me", headers={"Authorization": header})
        assert refused.status_code == 401, header
        assert refused.headers["www-authenticate"] == "Bearer"

    with Session(engine) as session:
        staff.revoke_api_key(session, row.prefix)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_a_wrong_api_key_is_refused_even_with_a_valid_session_cookie(engine, client):
    add(engine, "li.na", "manager")
    log_in(client, "li.na")
    assert client.get("/api/v1/me").status_code == 200
    refused = client.get("/api/v1/me", headers={"Authorization": "Bearer manyi_nope"})
    assert refused.status_code == 401


# -- audit log -----------------------------------------------------------------------------


def test_audit_rows_cannot_be_updated(engine):
    with Session(engine) as session:
        row = audit.audit(session, None, audit.PERSONAL_DATA_ACCESS, "customer:1", ip="1.2.3.4")
        with pytest.raises(DBAPIError, match="never updated"):
            session.execute(text("UPDATE audit_log SET action = 'x' WHERE id = :id"),
                            {"id": row.id})  # fmt: skip
            session.commit()


# -- the command line ----------------------------------------------------------------------


def manyi(database_url, *args, password=None):
    env = {**os.environ, "MANYI_DATABASE_URL": database_url}
    env.pop("MANYI_STAFF_PASSWORD", None)
    if password:
        env["MANYI_STAFF_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "api.cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
                          check=False)  # fmt: skip


def test_staff_commands_add_give_a_key_once_and_revoke_it(engine, database_url, client):
    unknown = manyi(database_url, "staff", "add", "Zhou", "--role", "manager", "--region",
                    "华东", password=PASSWORD)  # fmt: skip
    assert unknown.returncode == 1 and "import a sample frame first" in unknown.stderr
    with Session(engine) as session:
        frame = generate_frame(3, seed=1).assign(region="华东")
        store_frame(session, frame, "east", "east.csv")
    run = manyi(database_url, "staff", "add", "Zhou", "--role", "manager", "--name", "周",
                "--region", "华东", password=PASSWORD)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "added zhou (manager, 华东)" in run.stdout

    no_password = manyi(database_url, "staff", "add", "qian", "--role", "admin")
    assert no_password.returncode == 1 and "MANYI_STAFF_PASSWORD" in no_password.stderr
    bad = manyi(database_url, "staff", "add", "qian", "--role", "supervisor", "--hall", "x",
                password=PASSWORD)  # fmt: skip
    assert bad.returncode == 1 and "only managers" in bad.stderr

    run = manyi(database_url, "staff", "key", "zhou", "--name", "notebook")
    assert run.returncode == 0, run.stderr
    key = run.stdout.strip()
    assert "not shown again" in run.stderr and key.startswith("manyi_")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert (me["display_name"], me["regions"]) == ("周", ["华东"])

    listing = manyi(database_url, "staff", "list").stdout
    prefix = re.search(r"key (manyi_\S+)…", listing).group(1)
    assert key not in listing
    assert manyi(database_url, "staff", "revoke-key", prefix).returncode == 0
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert manyi(database_url, "staff", "disable", "zhou").returncode == 0
    assert [a for a, _ in actions(engine)] == [
        "staff_added", "api_key_created", "api_key_revoked", "staff_disabled",
    ]  # fmt: skip

"""The console's staff pages and audit log (/console/staff, /console/audit), through real
logins on SQLite and PostgreSQL: every action, every refusal, and what the audit log keeps.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.settings import Settings
from api.web.app import create_app
from survey.db.tables import ApiKey, AuditLog, Customer, SampleFrame, Staff
from survey.staff import audit
from survey.staff.accounts import create_staff, find_staff
from tests.integration.staff_login import PASSWORD, SECRET, field, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

BASE = "https://manyi.example.org"
ROLES = ("admin", "researcher", "manager", "supervisor", "interviewer")
NEW_PASSWORD = "plum tractor violet 42"


def make_client(database_url, **settings) -> TestClient:
    config = Settings(database_url=database_url, public_base_url=BASE, env="test",
                      secret_key=SECRET, **settings)  # fmt: skip
    return TestClient(create_app(config), base_url="https://testserver", follow_redirects=False)


@pytest.fixture
def site(engine, database_url):
    """Everyone of each role (``<role>1``) and customers in two regions."""
    with Session(engine) as session:
        frame = SampleFrame(name="April", source="april.csv")
        session.add(frame)
        session.commit()
        for n, (region, hall) in enumerate([("Hangzhou", "West Lake"), ("Ningbo", "Harbour")]):
            session.add(Customer(frame_id=frame.id, external_id=f"c{n}",
                                 phone_e164=f"+8610000000{n}", region=region,
                                 service_hall=hall, tenure_months=1, monthly_spend=1.0,
                                 tier=1))  # fmt: skip
        session.commit()
        for role in ROLES:
            create_staff(session, f"{role}1", role, PASSWORD)
    return database_url


@pytest.fixture
def open_as(site):
    clients = []

    def signed_in(username: str, password: str = PASSWORD, **settings) -> TestClient:
        client = make_client(site, **settings)
        client.__enter__()
        clients.append(client)
        assert log_in(client, username, password).status_code == 303
        return client

    yield signed_in
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def admin(open_as):
    return open_as("admin1")


def csrf_of(client, path="/console/staff") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return field(page.text, "csrf")


def post(client, path, data, page="/console/staff"):
    return client.post(path, data={"csrf": csrf_of(client, page), **data})


def staff_row(engine, username) -> Staff | None:
    with Session(engine) as session:
        return find_staff(session, username)


def audit_rows(engine, action=None) -> list[AuditLog]:
    with Session(engine) as session:
        query = select(AuditLog).order_by(col(AuditLog.id))
        if action:
            query = query.where(AuditLog.action == action)
        return list(session.exec(query))


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def member_id(engine, username) -> int:
    return staff_row(engine, username).id


ADD = {"username": "li.na", "display_name": "李娜", "role": "manager", "regions": "Hangzhou",
       "service_halls": "", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}  # fmt: skip


# -- who may --------------------------------------------------------------------------------

GETS = ["/console/staff", "/console/staff/{id}", "/console/audit", "/console/audit.csv"]
POSTS = ["/console/staff", "/console/staff/{id}/role", "/console/staff/{id}/disable",
         "/console/staff/{id}/enable", "/console/staff/{id}/password", "/console/staff/{id}/totp",
         "/console/staff/{id}/keys", "/console/staff/{id}/keys/1/revoke"]  # fmt: skip


@pytest.mark.parametrize("role", ROLES[1:])
def test_every_staff_and_audit_route_is_refused_to_every_role_but_admin(engine, open_as, role):
    client = open_as(f"{role}1")
    target = member_id(engine, "interviewer1")
    csrf = field(client.get("/me").text, "csrf")
    for path in GETS:
        answer = client.get(path.format(id=target))
        assert answer.status_code == 403, path
        assert "Not allowed" in answer.text
    for path in POSTS:
        answer = client.post(
            path.format(id=target),
            data={"csrf": csrf, "username": "x.y", "role": "admin", "name": "k"},
        )
        assert answer.status_code == 403, path
    assert staff_row(engine, "x.y") is None
    assert staff_row(engine, "interviewer1").role == "interviewer"
    assert staff_row(engine, "interviewer1").active


def test_a_form_without_its_csrf_field_is_refused_and_changes_nothing(engine, admin):
    target = member_id(engine, "researcher1")
    for path in POSTS:
        answer = admin.post(path.format(id=target), data={**ADD, "name": "k"})
        assert answer.status_code == 403, path
        assert "expired" in answer.text
    assert staff_row(engine, "li.na") is None
    assert staff_row(engine, "researcher1").active
    assert audit_rows(engine, audit.STAFF_ADDED) == []


def test_a_signed_out_visitor_is_sent_to_the_login_page(site):
    with make_client(site) as client:
        answer = client.get("/console/staff")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")


# -- the list and adding --------------------------------------------------------------------


def test_the_list_shows_everyone_with_role_in_words_scope_state_last_sign_in_and_keys(
    engine, open_as, admin
):
    open_as("manager1")  # signs in: a last sign-in to show
    page = admin.get("/console/staff")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    rows = re.findall(r"<tr[^>]*>\s*<td><a href=\"/console/staff/\d+\">(.*?)</tr>", page.text, re.S)
    assert len(rows) == len(ROLES)
    manager = text(next(r for r in rows if r.startswith("manager1")))
    assert "经理 manager" in manager and "everywhere" in manager and "active" in manager
    assert "never" not in manager
    assert "never" in text(next(r for r in rows if r.startswith("supervisor1")))
    assert 'for="username"' in page.text and 'for="generate"' in page.text


def test_adding_someone_with_a_typed_password_is_audited_and_they_can_sign_in(
    engine, admin, open_as
):
    answer = post(admin, "/console/staff", ADD)
    assert answer.status_code == 303
    added = staff_row(engine, "li.na")
    assert answer.headers["location"] == f"/console/staff/{added.id}?m=added"
    assert (added.role, added.regions, added.display_name) == ("manager", ["Hangzhou"], "李娜")
    page = admin.get(answer.headers["location"])
    assert "Added." in page.text and "Hangzhou" in page.text
    (row,) = audit_rows(engine, audit.STAFF_ADDED)
    admin_id = member_id(engine, "admin1")
    assert (row.staff_id, row.target, row.detail["via"], row.detail["role"]) == (
        admin_id,
        "li.na",
        "console",
        "manager",
    )
    assert NEW_PASSWORD not in str(row.detail)
    assert open_as("li.na", NEW_PASSWORD).get("/dashboard").status_code == 200


def test_a_generated_password_is_shown_once_works_and_is_in_no_log(engine, admin, open_as):
    answer = post(admin, "/console/staff", {**ADD, "password": "", "password_again": "",
                                            "generate": "true"})  # fmt: skip
    assert answer.status_code == 201
    password = re.search(r'<code id="generated">([^<]+)</code>', answer.text).group(1)
    assert len(password) >= 12
    assert password not in admin.get(f"/console/staff/{member_id(engine, 'li.na')}").text
    assert all(password not in str(r.detail) for r in audit_rows(engine))
    assert open_as("li.na", password).get("/me").status_code == 200


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"password": "password1234", "password_again": "password1234"}, "common password"),
        ({"password": "short", "password_again": "short"}, "12 to 256 characters"),
        ({"password_again": "something else entirely"}, "the two passwords differ"),
        ({"password": "", "password_again": ""}, "generate one"),
        ({"role": "boss"}, "role &#39;boss&#39; is unknown"),
        ({"username": "admin1"}, "is taken"),
        ({"username": "Li Na!"}, "lowercase letters"),
        ({"regions": "Hangzhuo"}, "unknown region &#39;Hangzhuo&#39;"),
        ({"service_halls": "Nowhere"}, "unknown service hall"),
        ({"role": "researcher"}, "only managers are limited to regions"),
    ],
)
def test_adding_with_a_bad_input_says_what_is_wrong_and_adds_nobody(engine, admin, change, words):
    before = len(audit_rows(engine))
    answer = post(admin, "/console/staff", {**ADD, **change})
    assert answer.status_code == 422
    assert words in answer.text, text(answer.text)[:2000]
    assert 'role="alert"' in answer.text
    assert staff_row(engine, "li.na") is None
    assert len(audit_rows(engine)) == before
    # What was typed comes back (but never a password).
    assert 'value="李娜"' in answer.text and NEW_PASSWORD not in answer.text


def test_regions_given_before_any_customer_is_imported_say_to_import_a_frame_first(engine, admin):
    with Session(engine) as session:
        for customer in session.exec(select(Customer)).all():
            session.delete(customer)
        session.commit()
    answer = post(admin, "/console/staff", ADD)
    assert answer.status_code == 422 and "import a sample frame first" in answer.text


# -- one member -----------------------------------------------------------------------------


def test_a_members_role_and_scope_change_with_before_and_after_in_the_audit_log(engine, admin):
    target = member_id(engine, "researcher1")
    page = f"/console/staff/{target}"
    answer = post(admin, f"{page}/role", {"role": "manager", "regions": "Ningbo, Hangzhou",
                                          "service_halls": ""}, page)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == f"{page}?m=role"
    changed = staff_row(engine, "researcher1")
    assert (changed.role, changed.regions) == ("manager", ["Hangzhou", "Ningbo"])
    (row,) = audit_rows(engine, audit.STAFF_CHANGED)
    assert row.detail["before"]["role"] == "researcher"
    assert row.detail["after"] == {"role": "manager", "regions": ["Hangzhou", "Ningbo"],
                                   "service_halls": []}  # fmt: skip
    refused = post(admin, f"{page}/role", {"role": "manager", "regions": "Atlantis"}, page)
    assert refused.status_code == 422 and "unknown region" in refused.text
    assert staff_row(engine, "researcher1").regions == ["Hangzhou", "Ningbo"]


def test_an_admin_cannot_remove_their_own_admin_role_or_disable_themself(engine, admin):
    me = member_id(engine, "admin1")
    page = f"/console/staff/{me}"
    shown = admin.get(page).text
    assert "This is your own account" in shown
    assert f'action="{page}/disable"' in shown and ">停用 <span" not in shown
    refused = post(admin, f"{page}/role", {"role": "researcher"}, page)
    assert refused.status_code == 422
    assert "you cannot remove the administrator role of your own account" in refused.text
    refused = post(admin, f"{page}/disable", {}, page)
    assert refused.status_code == 422 and "you cannot disable your own account" in refused.text
    mine = staff_row(engine, "admin1")
    assert mine.role == "admin" and mine.active
    assert audit_rows(engine, audit.STAFF_DISABLED) == []
    assert audit_rows(engine, audit.STAFF_CHANGED) == []


def test_disabling_ends_their_sessions_and_enabling_lets_them_in_with_old_keys_revoked(
    engine, admin, open_as
):
    victim = open_as("researcher1")
    target = member_id(engine, "researcher1")
    page = f"/console/staff/{target}"
    made = post(admin, f"{page}/keys", {"name": "notebook"}, page)
    key = re.search(r'id="key" value="([^"]+)"', made.text).group(1)
    answer = post(admin, f"{page}/disable", {}, page)
    assert answer.status_code == 303 and answer.headers["location"] == f"{page}?m=disabled"
    assert not staff_row(engine, "researcher1").active
    assert victim.get("/console").status_code == 303  # back to the login page
    with make_client(_url(engine)) as client:
        assert log_in(client, "researcher1").status_code != 303
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
        )
    answer = post(admin, f"{page}/enable", {}, page)
    assert answer.status_code == 303
    assert "keys from before are revoked" in admin.get(answer.headers["location"]).text
    assert staff_row(engine, "researcher1").active
    with make_client(_url(engine)) as client:
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
        )
    assert open_as("researcher1").get("/console").status_code == 200
    (row,) = audit_rows(engine, audit.STAFF_ENABLED)
    assert row.detail["keys_revoked"] == 1


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_a_new_password_typed_twice_or_generated_ends_their_sessions(engine, admin, open_as):
    victim = open_as("manager1")
    page = f"/console/staff/{member_id(engine, 'manager1')}"
    weak = post(admin, f"{page}/password", {"password": "aaaaaaaaaaaaaa",
                                             "password_again": "aaaaaaaaaaaaaa"}, page)  # fmt: skip
    assert weak.status_code == 422 and "only repeats" in weak.text
    assert victim.get("/dashboard").status_code == 200  # nothing changed
    answer = post(admin, f"{page}/password", {"password": NEW_PASSWORD,
                                               "password_again": NEW_PASSWORD}, page)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == f"{page}?m=password"
    assert victim.get("/dashboard").status_code == 303
    open_as("manager1", NEW_PASSWORD)
    generated = post(admin, f"{page}/password", {"generate": "true"}, page)
    assert generated.status_code == 201
    password = re.search(r'<code id="generated">([^<]+)</code>', generated.text).group(1)
    open_as("manager1", password)
    rows = audit_rows(engine, audit.PASSWORD_CHANGED)
    assert [r.detail["generated"] for r in rows] == [False, True]
    assert all(password not in str(r.detail) for r in audit_rows(engine))


def test_a_key_is_shown_once_works_as_a_bearer_and_fails_after_revoking(engine, admin):
    target = member_id(engine, "researcher1")
    page = f"/console/staff/{target}"
    refused = post(admin, f"{page}/keys", {"name": " "}, page)
    assert refused.status_code == 422 and "needs a name" in refused.text
    made = post(admin, f"{page}/keys", {"name": "notebook of researcher1"}, page)
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    key = re.search(r'id="key" value="([^"]+)"', made.text).group(1)
    assert key.startswith("manyi_")
    with make_client(_url(engine)) as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200 and me.json()["username"] == "researcher1"
    listed = admin.get(page).text
    assert key not in listed and key[:14] in listed and "notebook of researcher1" in listed
    (created,) = audit_rows(engine, audit.API_KEY_CREATED)
    assert created.target == key[:14] and created.detail["staff"] == "researcher1"
    assert all(key not in f"{r.target} {r.detail}" for r in audit_rows(engine))
    with Session(engine) as session:
        row = session.exec(select(ApiKey)).one()
    answer = post(admin, f"{page}/keys/{row.id}/revoke", {}, page)
    assert answer.status_code == 303 and answer.headers["location"] == f"{page}?m=revoked"
    with make_client(_url(engine)) as client:
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
        )
    again = post(admin, f"{page}/keys/{row.id}/revoke", {}, page)
    assert again.status_code == 422 and "revoked already" in again.text
    other = member_id(engine, "manager1")
    wrong = post(admin, f"/console/staff/{other}/keys/{row.id}/revoke", {}, page)
    assert wrong.status_code == 422 and "has no API key" in wrong.text
    assert len(audit_rows(engine, audit.API_KEY_REVOKED)) == 1


def test_one_time_codes_are_set_up_with_the_secret_shown_once_and_can_be_removed(engine, open_as):
    admin = open_as("admin1", require_admin_totp=False)
    page = f"/console/staff/{member_id(engine, 'researcher1')}"
    made = post(admin, f"{page}/totp", {}, page)
    assert made.status_code == 201
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', made.text).group(1)
    assert "otpauth://totp/" in made.text
    assert staff_row(engine, "researcher1").totp_secret is not None
    assert secret not in admin.get(page).text
    assert all(secret not in str(r.detail) for r in audit_rows(engine))
    removed = post(admin, f"{page}/totp", {"remove": "true"}, page)
    assert removed.status_code == 303
    assert staff_row(engine, "researcher1").totp_secret is None
    assert [r.action for r in audit_rows(engine) if r.action.startswith("totp")] == [
        audit.TOTP_ENROLLED,
        audit.TOTP_REMOVED,
    ]


def test_when_admins_need_codes_an_admin_without_them_is_marked_and_none_removes_their_own(
    engine, open_as
):
    from survey.staff import totp

    with Session(engine) as session:
        create_staff(session, "admin2", "admin", PASSWORD)
    # Signed in before having codes, where they are not asked (a code is not what is under
    # test), then the same session used on a service that requires them of admins.
    relaxed = open_as("admin1")
    with Session(engine) as session:
        totp.enrol(session, find_staff(session, "admin1"), SECRET)
    with make_client(_url(engine), require_admin_totp=True) as strict:
        strict.cookies.update(relaxed.cookies)
        page = strict.get(f"/console/staff/{member_id(engine, 'admin2')}")
        assert "cannot sign in until set up" in page.text
        mine = f"/console/staff/{member_id(engine, 'admin1')}"
        refused = post(strict, f"{mine}/totp", {"remove": "true"}, mine)
        assert refused.status_code == 422
        assert "you cannot remove the one-time codes of your own account" in refused.text
        assert staff_row(engine, "admin1").totp_secret is not None
        added = post(strict, "/console/staff", {**ADD, "username": "admin3", "role": "admin",
                                                "regions": "", "generate": "true"})  # fmt: skip
        assert added.status_code == 201
        assert "signs in only after one-time codes are set up" in added.text


def test_an_unknown_member_is_a_404(admin):
    assert admin.get("/console/staff/999999").status_code == 404


# -- the audit log --------------------------------------------------------------------------


def _log(engine, count, action="export", target="responses:csi@1", at=None, staff=None):
    with Session(engine) as session:
        who = find_staff(session, staff) if staff else None
        for n in range(count):
            audit.audit(session, who, action, target, {"n": n}, "10.0.0.1",
                        at=at or datetime.now(UTC))  # fmt: skip


def test_the_audit_log_pages_newest_first_by_100_with_an_older_link(engine, admin):
    _log(engine, 230)
    first = admin.get("/console/audit?action=export")
    assert first.status_code == 200
    ids = [int(n) for n in re.findall(r"\{&#34;n&#34;:(\d+)\}", first.text)]
    assert ids == list(range(229, 129, -1))
    older = re.search(r'href="([^"]+)" id="older"', first.text).group(1).replace("&amp;", "&")
    assert "action=export" in older and "before=" in older
    second = admin.get(older)
    assert [int(n) for n in re.findall(r"\{&#34;n&#34;:(\d+)\}", second.text)] == list(
        range(129, 29, -1)
    )
    third = admin.get(re.search(r'href="([^"]+)" id="older"', second.text).group(1)
                      .replace("&amp;", "&"))  # fmt: skip
    assert len(re.findall(r"\{&#34;n&#34;:(\d+)\}", third.text)) == 30
    assert 'id="older"' not in third.text


def test_the_audit_log_filters_by_action_staff_target_and_local_dates(engine, admin):
    _log(engine, 2, action="personal_data_access", target="customer:7", staff="supervisor1")
    _log(engine, 1, action="personal_data_access", target="customer:8", staff="manager1")
    # 07:30 on 1 April in Shanghai is still 31 March in UTC.
    _log(engine, 1, action="export", target="old", at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
    page = admin.get("/console/audit?staff=supervisor1&action=personal_data_access").text
    assert page.count("customer:7") == 2 and "customer:8" not in page
    page = admin.get("/console/audit?target=customer:8").text
    assert "customer:8" in page and "customer:7" not in page
    page = admin.get("/console/audit?since=2026-04-01&until=2026-04-01").text
    assert ">old<" in page and "customer:7" not in page
    page = admin.get("/console/audit?until=2026-03-31").text
    assert ">old<" not in page and 'id="none"' in page
    bad = admin.get("/console/audit?since=2026-04-31")
    assert bad.status_code == 422 and "give a date as 2026-04-30" in bad.text
    bad = admin.get("/console/audit?since=2026-04-02&until=2026-04-01")
    assert bad.status_code == 422 and "swap the two dates" in bad.text


def test_the_audit_log_target_search_is_literal(engine, admin):
    _log(engine, 1, target="a_b")
    _log(engine, 1, target="axb")
    page = admin.get("/console/audit?target=a_b").text
    assert ">a_b<" in page and ">axb<" not in page


def test_the_csv_download_holds_the_filtered_rows_formula_safe_and_is_audited(engine, admin):
    _log(engine, 1, action="export", target="=HYPERLINK(1)", staff="manager1")
    _log(engine, 3, action="login_failed", target="x")
    answer = admin.get("/console/audit.csv?action=export")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert rows[0][3:6] == ["staff", "action", "target"]
    assert [(r[3], r[4], r[5]) for r in rows[1:]] == [("manager1", "export", "'=HYPERLINK(1)")]
    (row,) = audit_rows(engine, "export")[-1:]
    assert (row.target, row.detail["rows"], row.detail["filters"]) == (
        "audit_log",
        1,
        {"action": "export"},
    )
    page = admin.get("/console/audit?action=export")
    assert 'href="/console/audit.csv?action=export"' in page.text


def test_the_audit_log_shows_who_did_what_as_the_console_wrote_it(engine, admin):
    post(admin, "/console/staff", ADD)
    page = admin.get("/console/audit?action=staff_added").text
    row = text(re.search(r'<table id="log"[^>]*>(.*?)</table>', page, re.S).group(1))
    assert "admin1" in row and "staff_added" in row and "li.na" in row
    assert '"via":"console"' in row.replace("&#34;", '"')
    when = datetime.now(UTC) + timedelta(hours=8)  # Asia/Shanghai, the settings' default
    assert f"{when:%Y-%m-%d}" in row

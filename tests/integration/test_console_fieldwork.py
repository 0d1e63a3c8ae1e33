"""The console's fieldwork pages, used as a browser uses them: frames, campaigns, the monitor.

A researcher (``operate``) signs in through the login page; a manager and an interviewer
are refused everywhere. The monitor test is the issue's "done when": after a campaign with
quotas is launched, dispatched through the SMS simulator and answered through the web
form's own routes, the page's funnel, quota progress and AAPOR rates equal the database's
counts and ``manyi rates --campaign ID --json`` at the same moment.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from api.web.routers import console_fieldwork
from survey.answering.links import invitation_token
from survey.db.tables import (
    AuditLog,
    Campaign,
    Customer,
    FollowUp,
    FrameImportReport,
    Invitation,
    OutboundSms,
    Response,
    SampleFrame,
)
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.sms.dispatch import Dispatcher
from survey.sms.simulator_transport import SimulatorTransport
from survey.sms.transport import PermanentReason, PermanentSendError
from survey.staff.accounts import create_staff
from tests.integration.answering.web_pages import CONTENT, FULL, answer_all
from tests.integration.staff_login import PASSWORD, SECRET, field, log_in
from tests.service_process import run_manyi

pytestmark = [
    pytest.mark.usefixtures("cheap_hashing"),
]

BASE = "https://manyi.example.org"
FORM = "csi_mobile@2026.1"


@pytest.fixture
def world(engine, sample_questionnaire):
    """A published questionnaire, a frame of 80 consenting customers, and three staff."""
    with Session(engine) as session:
        publish(session, sample_questionnaire)
        frame = generate_frame(80, seed=3)
        frame["consent"] = True
        store_frame(session, frame, "april", "april.csv")
        for username, role in (("rita", "researcher"), ("max", "manager"),
                               ("ivy", "interviewer")):  # fmt: skip
            create_staff(session, username, role, PASSWORD)
        tiers = Counter(session.execute(select(Customer.tier)).scalars())
    return {"tiers": tiers}


@pytest.fixture
def open_client(engine, database_url, world):
    clients = []

    def open_as(username: str) -> TestClient:
        settings = Settings(database_url=database_url, public_base_url=BASE, env="test",
                            secret_key=SECRET)  # fmt: skip
        app = create_app(settings)
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        client.__enter__()
        clients.append(client)
        assert log_in(client, username).status_code == 303
        return client

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def rita(open_client):
    return open_client("rita")


def csrf_of(client, path="/console/campaigns/new"):
    return field(client.get(path).text, "csrf")


def audit_rows(engine, action):
    with Session(engine) as session:
        return session.execute(select(AuditLog).where(AuditLog.action == action)).scalars().all()


# -- frames --------------------------------------------------------------------------------

GOOD = (
    "customer_id,phone,region,service_hall,tier,tenure_months,language,consent\n"
    "C1,13800138001,Hangzhou,HZ-01,5,12,zh,true\n"
    "C2,+8613800138002,Ningbo,NB-01,3,40,en,yes\n"
)
# Row 3 an invalid phone, row 4 a duplicate id, row 5 a formula in a cell the report quotes.
BAD_ROWS = (
    "C3,12345,Hangzhou,HZ-01,5,12,zh,true\n"
    "C1,13800138009,Hangzhou,HZ-01,5,12,zh,true\n"
    'C5,=HYPERLINK("http://x"),Hangzhou,HZ-01,4,3,zh,true\n'
)


def upload(client, name, content, filename="customers.csv", **extra):
    data = {"csrf": csrf_of(client, "/console/frames"), "name": name, **extra}
    files = {"file": (filename, content, "text/csv")} if content is not None else None
    return client.post("/console/frames", data=data, files=files)


def test_a_clean_upload_is_stored_listed_and_audited(engine, open_client):
    client = open_client("rita")
    reply = upload(client, "may", GOOD.encode())
    assert reply.status_code == 303, reply.text
    report_page = client.get(reply.headers["location"])
    assert report_page.status_code == 200
    assert 'id="count-stored" data-count="2"' in report_page.text
    assert "没有问题" in report_page.text
    listing = client.get("/console/frames").text
    row = re.search(r'<tr data-frame="may">(.*?)</tr>', listing, re.S).group(1)
    assert re.findall(r'data-count="\w+">(\d+)<', row) == ["2", "2", "0"]
    assert "customers.csv" in row  # the upload's name, not the temporary file's
    assert [r.target for r in audit_rows(engine, "frame_imported")] == [
        reply.headers["location"].replace("/console/frames/imports/", "frame_import:")
    ]


def test_an_upload_with_problems_reports_every_row_on_the_page_and_in_a_safe_csv(
    engine, open_client, monkeypatch
):
    monkeypatch.setattr(console_fieldwork, "SHOWN_PROBLEMS", 2)
    client = open_client("rita")
    reply = upload(client, "june", (GOOD + BAD_ROWS).encode())
    assert reply.status_code == 303
    page = client.get(reply.headers["location"]).text
    for key, n in {"rows_read": 5, "stored": 2, "invalid": 2, "duplicates": 1}.items():
        assert f'id="count-{key}" data-count="{n}"' in page
    assert "Showing the first 2 of 3 problems" in page
    assert page.count('<tr><td class="n">') == 2
    download = client.get(reply.headers["location"] + "/report.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert [(r["row"], r["code"]) for r in rows] == [
        ("4", "invalid-phone"),
        ("6", "invalid-phone"),
        ("5", "duplicate-id"),
    ] or sorted(r["row"] for r in rows) == ["4", "5", "6"]
    formula = next(r for r in rows if r["row"] == "6")
    assert formula["value"].startswith("'="), formula  # a spreadsheet shows it, never runs it
    with Session(engine) as session:
        stored = session.execute(select(FrameImportReport)).scalars().one()
        assert len(stored.problems) == 3 and stored.counts["stored"] == 2


def test_uploads_that_cannot_be_imports_are_refused_on_the_form(engine, open_client, monkeypatch):
    client = open_client("rita")
    cases = [
        (("april", GOOD.encode()), {}, "already stored: pick another name"),
        (("x", None), {}, "choose the customer list to import"),
        (("x", b"hello"), {"filename": "list.txt"}, "is not a .csv or .xlsx file"),
    ]
    for (name, content), extra, words in cases:
        reply = upload(client, name, content, **extra)
        assert reply.status_code == 422, (name, reply.text)
        assert words in reply.text and 'aria-invalid="true"' in reply.text
    monkeypatch.setattr(console_fieldwork, "MAX_UPLOAD_BYTES", 100)
    reply = upload(client, "big", (GOOD * 5).encode())
    assert reply.status_code == 422 and "split it into smaller files" in reply.text
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(FrameImportReport)).scalar() == 0


def test_an_unreadable_file_is_a_report_that_says_so_and_stores_nothing(engine, open_client):
    client = open_client("rita")
    reply = upload(client, "broken", b"PK\x03\x04 not a workbook", filename="list.xlsx")
    assert reply.status_code == 303
    page = client.get(reply.headers["location"]).text
    assert "Nothing was stored" in page and "list.xlsx: this is not an .xlsx workbook" in page
    with Session(engine) as session:
        assert session.execute(select(SampleFrame).where(SampleFrame.name == "broken")).first() \
            is None  # fmt: skip


def test_an_upload_passes_the_request_limits(open_client):
    reply = upload(open_client("rita"), "limits", GOOD.encode())
    assert reply.status_code == 303, reply.text


# -- campaigns -----------------------------------------------------------------------------


def form(client, **fields):
    base = {"csrf": csrf_of(client), "questionnaire": FORM, "frame": "april", "name": "April",
            "channels": ["sms_link"], "sample": "", "quotas": "", "seed": "7", "rate": "1000",
            "quiet": "none", "reminders": "0", "reminder_delay": "48", "starts": "",
            "expires": "7d", "layout": "grouped", "message_zh": "", "message_en": ""}  # fmt: skip
    return {**base, **fields}


def create(client, **fields):
    return client.post("/console/campaigns", data=form(client, **fields))


def test_a_valid_form_creates_a_draft_with_its_sample_drawn_and_audited(engine, rita):
    reply = create(rita, sample="25")
    assert reply.status_code == 303, reply.text
    campaign_id = int(reply.headers["location"].split("/")[-1].split("?")[0])
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert (campaign.status, campaign.quiet_start, campaign.quiet_end) == ("draft", "00:00",
                                                                               "00:00")  # fmt: skip
        drawn = session.execute(select(func.count()).select_from(Invitation)).scalar()
        assert drawn == 25
        assert session.execute(select(func.count()).select_from(OutboundSms)).scalar() == 0
    (row,) = audit_rows(engine, "campaign_created")
    assert row.target == f"campaign:{campaign_id}" and row.detail["seed"] == 7
    page = rita.get(reply.headers["location"]).text
    assert "Campaign created and its sample drawn" in page
    assert 'id="stage-drawn" data-count="25"' in page
    listing = rita.get("/console/campaigns").text
    assert (
        f'<tr data-campaign="{campaign_id}">' in listing and 'data-count="invited">25<' in listing
    )


def test_an_invalid_form_is_shown_again_with_each_problem_beside_its_field(engine, rita):
    reply = create(rita, name="", sample="lots", quiet="9pm", rate="0", expires="soon",
                   channels=["sms_link", "fax"], quotas="5=3", message_zh="没有链接")  # fmt: skip
    assert reply.status_code == 422
    page = reply.text
    expected = {
        "name": "give the campaign a name",
        "sample": "sample size &#39;lots&#39;: write a whole number",
        "quiet": "quiet hours &#39;9pm&#39;: write START-END",
        "rate": "rate 0: send at least some messages a second",
        "expires": "expires &#39;soon&#39;: write a date and time",
        "channels": "unknown channel(s) [&#39;fax&#39;]",
        "quotas": "quotas need stratify by",
        "message_zh": "the zh message has no {link} placeholder",
    }
    for key, words in expected.items():
        shown = re.search(rf'<span class="err" id="{key}-error">([^<]*)</span>', page)
        assert shown is not None and words in shown.group(1), (key, shown and shown.group(1))
    assert 'value="soon"' in page and "没有链接</textarea>" in page  # what was typed is kept
    assert 'id="channel-sms_link" name="channels" value="sms_link" checked' in page
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Campaign)).scalar() == 0


def test_quotas_draw_each_stratum_and_a_wrong_one_says_what_strata_exist(engine, rita, world):
    reply = create(rita, stratify=["tier"], quotas="5=4\n1=6\n", sample="")
    assert reply.status_code == 303, reply.text
    with Session(engine) as session:
        drawn = Counter(session.execute(select(Customer.tier).join(Invitation)).scalars())
    assert drawn == {5: 4, 1: 6}
    refused = create(rita, stratify=["tier"], quotas="9=3", sample="")
    assert refused.status_code == 422
    assert "no eligible customer in stratum 9; strata look like: 1, 2, 3" in refused.text
    disagree = create(rita, stratify=["tier"], quotas="5=4", sample="9")
    assert "sample size 9 disagrees with the quotas, which add up to 4" in disagree.text


def act(client, campaign_id, action):
    token = csrf_of(client)  # a closed campaign's monitor has no form
    return client.post(f"/console/campaigns/{campaign_id}/{action}", data={"csrf": token})


def test_each_action_moves_the_state_is_audited_and_a_wrong_state_is_refused_in_words(engine, rita):
    reply = create(rita, sample="5")
    campaign_id = int(reply.headers["location"].split("/")[-1].split("?")[0])
    refused = act(rita, campaign_id, "pause")
    assert refused.status_code == 409 and "cannot pause a draft campaign" in refused.text
    for action, state in (("launch", "running"), ("pause", "paused"), ("resume", "running"),
                          ("close", "closed")):  # fmt: skip
        reply = act(rita, campaign_id, action)
        assert reply.status_code == 303, (action, reply.text)
        assert reply.headers["location"] == f"/console/campaigns/{campaign_id}?m={action}"
        page = rita.get(reply.headers["location"]).text
        assert f'data-state="{state}"' in page
    assert [len(audit_rows(engine, a)) for a in ("campaign_launched", "campaign_paused",
            "campaign_resumed", "campaign_closed")] == [1, 1, 1, 1]  # fmt: skip
    launched = audit_rows(engine, "campaign_launched")[0]
    assert launched.detail["queued"] == 5 and launched.detail["to"] == "running"
    again = act(rita, campaign_id, "launch")
    assert again.status_code == 409 and "only a draft is launched" in again.text
    assert act(rita, campaign_id, "resume").status_code == 409
    assert act(rita, campaign_id, "explode").status_code == 404
    assert act(rita, 999, "pause").status_code == 404


ROUTES = [
    ("get", "/console/frames"), ("post", "/console/frames"),
    ("get", "/console/frames/imports/1"), ("get", "/console/frames/imports/1/report.csv"),
    ("get", "/console/campaigns"), ("get", "/console/campaigns/new"),
    ("post", "/console/campaigns"), ("get", "/console/campaigns/1"),
    ("post", "/console/campaigns/1/launch"), ("post", "/console/campaigns/1/pause"),
    ("post", "/console/campaigns/1/resume"), ("post", "/console/campaigns/1/close"),
]  # fmt: skip


@pytest.mark.parametrize("username", ["max", "ivy"])
def test_managers_and_interviewers_are_refused_on_every_route(open_client, username):
    client = open_client(username)
    token = field(client.get("/me").text, "csrf")
    for method, path in ROUTES:
        reply = client.get(path) if method == "get" else client.post(path, data={"csrf": token})
        assert reply.status_code == 403, (username, method, path, reply.status_code)


def test_a_post_without_its_csrf_field_is_refused(engine, rita):
    reply = create(rita, sample="5")
    campaign_id = reply.headers["location"].split("/")[-1].split("?")[0]
    data = form(rita, sample="5")
    del data["csrf"]
    assert rita.post("/console/campaigns", data=data).status_code == 403
    assert rita.post(f"/console/campaigns/{campaign_id}/launch", data={}).status_code == 403
    assert rita.post("/console/frames", data={"name": "x"}).status_code == 403
    with Session(engine) as session:
        assert session.get(Campaign, int(campaign_id)).status == "draft"


# -- the live monitor ------------------------------------------------------------------------


class Refusing(SimulatorTransport):
    """The simulator, except that the provider refuses one number for good."""

    def __init__(self, engine, refused: str) -> None:
        super().__init__(engine)
        self.refused = refused

    def send(self, message):
        if message.to == self.refused:
            raise PermanentSendError(21211, "the 'To' number is not a valid phone number",
                                     reason=PermanentReason.INVALID_RECIPIENT)  # fmt: skip
        return super().send(message)


def numbers(page: str, pattern: str) -> dict[str, str]:
    return dict(re.findall(pattern, page))


def test_the_monitor_equals_the_database_and_manyi_rates_after_simulated_fieldwork(
    engine, database_url, rita, world
):
    reply = create(rita, stratify=["tier"], quotas="5=4\n1=6\n3=6", sample="")
    assert reply.status_code == 303, reply.text
    campaign_id = int(reply.headers["location"].split("/")[-1].split("?")[0])
    assert act(rita, campaign_id, "launch").status_code == 303
    with Session(engine) as session:
        invitations = session.execute(
            select(Invitation.id, Customer.phone_e164).join(Customer)
            .where(Invitation.campaign_id == campaign_id).order_by(Invitation.id)
        ).all()  # fmt: skip
    # The provider refuses the last customer's number for good; the rest are delivered.
    dispatcher = Dispatcher(engine=engine, transport=Refusing(engine, invitations[-1][1]),
                            worker_id="w1", secret=SECRET, public_base_url=BASE)  # fmt: skip
    stats = dispatcher.run(until_idle=True)
    assert (stats.sent, stats.failed) == (15, 1)
    tokens = [invitation_token(SECRET, i) for i, _ in invitations]
    # Through the web form's own routes: 4 complete (low answers open follow-ups), 1 stops
    # after a page, 1 only opens its link.
    for n, token in enumerate(tokens[:4]):
        answer_all(rita, token, FULL if n % 2 == 0 else CONTENT)
    answer_all(rita, tokens[4], CONTENT, stop_after=1)
    assert rita.get(f"/s/{tokens[5]}").status_code == 200

    page = rita.get(f"/console/campaigns/{campaign_id}").text
    cli = run_manyi("rates", "--campaign", str(campaign_id), "--json",
                    env={"MANYI_DATABASE_URL": database_url, "MANYI_SECRET_KEY": SECRET,
                         "MANYI_ENV": "test"})  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    document = json.loads(cli.stdout)

    with Session(engine) as session:

        def count(query):
            return session.execute(query).scalar()

        mine = Invitation.campaign_id == campaign_id
        first = (OutboundSms.invitation_id == Invitation.id) & (OutboundSms.kind == "invitation")
        responses = select(func.count()).select_from(Response).where(
            Response.campaign_id == campaign_id)  # fmt: skip
        expected = {
            "drawn": count(select(func.count()).select_from(Invitation).where(mine)),
            "sent": count(select(func.count()).select_from(Invitation).join(OutboundSms, first)
                          .where(mine, OutboundSms.status == "sent")),
            "delivered": count(select(func.count()).select_from(Invitation)
                               .join(OutboundSms, first).where(
                                   mine, OutboundSms.status == "sent",
                                   OutboundSms.delivery_status.in_(("delivered", "read")))),
            "opened": count(select(func.count()).select_from(Invitation).where(
                mine, Invitation.status.in_(("opened", "started", "completed")))),
            "started": count(responses),
            "completed": count(responses.where(Response.status == "completed")),
            "follow_ups": count(select(func.count()).select_from(FollowUp).join(Response)
                                .where(Response.campaign_id == campaign_id)),
        }  # fmt: skip
        completes_by_tier = Counter(session.execute(
            select(Customer.tier).join(Response, Response.customer_id == Customer.id)
            .where(Response.campaign_id == campaign_id, Response.status == "completed")
        ).scalars())  # fmt: skip
        drawn_by_tier = Counter(session.execute(
            select(Customer.tier).join(Invitation).where(mine)).scalars())  # fmt: skip
    follow_ups = expected.pop("follow_ups")
    assert expected == {"drawn": 16, "sent": 15, "delivered": 15, "opened": 6, "started": 5,
                        "completed": 4}  # fmt: skip
    assert follow_ups >= 2  # the two dissatisfied customers at least
    expected["follow_ups"] = follow_ups

    funnel = {k: int(v) for k, v in numbers(page, r'id="stage-(\w+)" data-count="(\d+)"').items()}
    assert funnel == expected
    rates = numbers(page, r'id="rate-(\w+)" data-value="([^"]*)"')
    e = rates.pop("e")
    assert e == ("" if document["e"] is None else repr(document["e"]))
    assert {k: (float(v) if v else None) for k, v in rates.items()} == document["rates"]
    counts = {k: int(v) for k, v in numbers(page, r'id="count-(\w+)" data-count="(\d+)"').items()}
    assert {k: v for k, v in counts.items() if v} == {k: v for k, v in document["counts"].items()
                                                      if v}  # fmt: skip
    assert document["counts"]["I"] == 4
    strata = re.findall(r'data-stratum="(\d+)" data-drawn="(\d+)" data-completed="(\d+)" '
                        r'data-quota="(\d+)"', page)  # fmt: skip
    assert {int(t): (int(d), int(c), int(q)) for t, d, c, q in strata} == {
        tier: (drawn_by_tier[tier], completes_by_tier[tier], quota)
        for tier, quota in ((5, 4), (1, 6), (3, 6))
    }
    assert re.search(r'data-failure="outbox:failed:21211">.*?data-count="1"', page, re.S)
    assert 'id="opted-out" data-count="0"' in page


def test_the_monitors_policy_lets_only_its_own_script_run_and_ask_only_the_site(rita):
    reply = create(rita, sample="5")
    page = rita.get(reply.headers["location"])
    script = re.search(r"<script>(.*?)</script>", page.text, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    policy = page.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in policy and "connect-src 'self'" in policy
    assert "unsafe" not in policy.replace("style-src 'unsafe-inline'", "")
    # The numbers it swaps in are in one element, as is the time they were counted.
    assert page.text.count('id="live"') == 1 and 'id="counted-at"' in page.text
    # Every other console page runs no script.
    other = rita.get("/console/campaigns")
    assert "<script" not in other.text and "script-src" not in other.headers[
        "content-security-policy"]  # fmt: skip


def test_the_monitor_of_an_unknown_campaign_is_404(rita):
    assert rita.get("/console/campaigns/4242").status_code == 404
    assert rita.get("/console/frames/imports/4242").status_code == 404


def test_frame_list_and_campaign_list_on_the_command_line_show_the_console_numbers(
    engine, database_url, rita
):
    create(rita, sample="5")
    with Session(engine) as session:
        session.execute(update(Customer).where(Customer.id <= 3).values(consent=False))
        session.commit()
    env = {"MANYI_DATABASE_URL": database_url, "MANYI_SECRET_KEY": SECRET, "MANYI_ENV": "test",
           "PATH": os.environ.get("PATH", "")}  # fmt: skip
    frames = run_manyi("frame", "list", env=env)
    assert frames.returncode == 0, frames.stderr
    assert re.search(r"\s80\s+77\s+0\s+\S+ \S+\s+april \(april.csv\)", frames.stdout), frames.stdout
    campaigns = run_manyi("campaign", "list", env=env)
    assert "completes" in campaigns.stdout
    assert re.search(r"draft\s+5\s+0\s+0\s+0\s+0\s+0\s+April", campaigns.stdout), campaigns.stdout

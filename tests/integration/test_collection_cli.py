"""`manyi frame`, `manyi campaign` and `manyi dispatch` run as an operator runs them."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from survey.db.tables import (
    Campaign,
    Customer,
    DispatcherLease,
    Invitation,
    OptOut,
    OutboundSms,
    SimulatedSms,
)
from survey.frames.sample_frame import generate_frame
from tests.common import SAMPLES


def manyi(env, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "api.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)  # fmt: skip


@pytest.fixture
def env(database_url):
    return {**os.environ, "MANYI_DATABASE_URL": database_url, "MANYI_SMS_TRANSPORT": "simulator",
            "MANYI_SECRET_KEY": "k" * 48, "MANYI_ENV": "test"}  # fmt: skip


def write_frame(path, n=40, extra_rows=""):
    frame = generate_frame(n, seed=3)
    frame["consent"] = [i != 0 for i in range(n)]  # the first customer declined
    frame.to_csv(path, index=False)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(extra_rows)
    return frame


@pytest.mark.parametrize(
    "command",
    [["frame"], ["frame", "import"], ["frame", "list"], ["campaign"], ["campaign", "create"],
     ["campaign", "launch"], ["campaign", "list"], ["dispatch"]],
)  # fmt: skip
def test_every_collection_command_has_help(command):
    run = manyi(os.environ, *command, "--help")
    assert run.returncode == 0, run.stderr
    assert "Usage: manyi" in run.stdout


def test_import_sample_launch_and_dispatch_send_once_and_never_to_opted_out(env, engine, tmp_path):
    # In the generated frame's column order: id, phone, region, hall, tenure, spend, tier, ...
    bad = (
        "C9,12345,Ningbo,Ningbo-01,10,50,3,zh,True\n"
        "C000002,+15005550199,Ningbo,Ningbo-01,10,50,3,zh,1\n"
    )
    frame = write_frame(tmp_path / "frame.csv", extra_rows=bad)
    opted = frame.loc[5, "phone"]
    with Session(engine) as session:  # opted out before the import
        session.add(OptOut(phone_e164=opted, keyword="TD", source="sms"))
        session.commit()
    assert manyi(env, "questionnaire", "publish", str(SAMPLES / "csi_questionnaire.yaml")
                 ).returncode == 0  # fmt: skip

    run = manyi(env, "frame", "import", str(tmp_path / "frame.csv"), "--name", "march",
                "--report", str(tmp_path / "report.csv"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "42 rows read, 40 stored as sample frame 'march', 1 invalid, 1 duplicates, " \
           "1 opted out" in run.stdout  # fmt: skip
    assert "row 42, phone: not a valid phone number" in run.stderr
    with open(tmp_path / "report.csv", encoding="utf-8-sig", newline="") as handle:
        report = [(r["row"], r["code"]) for r in csv.DictReader(handle)]
    assert report == [("7", "opted-out"), ("42", "invalid-phone"), ("43", "duplicate-id")]

    run = manyi(env, "campaign", "create", "--questionnaire", "csi_mobile@2026.1", "--frame",
                "march", "--name", "March", "--sample", "38", "--quiet", "none", "--rate", "200",
                "--layout", "single", "--seed", "7")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "38 customers drawn (seed 7)" in run.stdout
    assert "38 of 40 eligible (1 without consent, 1 opted out)" in run.stdout
    with Session(engine) as session:
        campaign = session.exec(select(Campaign)).one()
        campaign_id = str(campaign.id)
        assert (campaign.status, campaign.layout, campaign.quiet_start) == ("draft", "single",
                                                                             "00:00")  # fmt: skip
        assert session.exec(select(func.count()).select_from(OutboundSms)).one() == 0
        late = session.exec(
            select(Customer.phone_e164).join(Invitation).order_by(Invitation.id)
        ).first()
        session.add(OptOut(phone_e164=late, keyword="STOP", source="sms"))  # after the draw
        session.commit()

    run = manyi(env, "campaign", "launch", campaign_id)
    assert run.returncode == 0, run.stderr
    assert "37 messages queued, 1 opted out since the sample was drawn" in run.stdout
    run = manyi(env, "dispatch", "--until-idle", "--worker-id", "w1")
    assert run.returncode == 0, run.stderr
    assert "dispatcher w1: sent 37" in run.stdout

    with Session(engine) as session:
        received = Counter(session.exec(select(SimulatedSms.phone)).all())
        statuses = Counter(session.exec(select(Invitation.status)).all())
    assert len(received) == 37 and set(received.values()) == {1}
    assert opted not in received and late not in received
    assert statuses == {"invited": 37, "opted_out": 1}
    listing = manyi(env, "campaign", "list").stdout
    assert "running" in listing and " 38 " in listing and " 37 " in listing
    for action, status in (("pause", "paused"), ("resume", "running"), ("close", "closed")):
        run = manyi(env, "campaign", action, campaign_id)
        assert run.returncode == 0 and f"is {status}" in run.stdout
    run = manyi(env, "campaign", "launch", campaign_id)
    assert run.returncode == 1 and "only a draft is launched" in run.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_stratified_quotas_are_drawn_exactly_and_bad_requests_say_what_to_do(env, engine, tmp_path):
    write_frame(tmp_path / "frame.csv", n=400)
    manyi(env, "questionnaire", "publish", str(SAMPLES / "csi_questionnaire.yaml"))
    manyi(env, "frame", "import", str(tmp_path / "frame.csv"), "--name", "f")
    base = ["campaign", "create", "--questionnaire", "csi_mobile", "--frame", "f", "--name", "x"]
    run = manyi(env, *base, "--stratify", "tier", "--quota", "5=4", "--quota", "1=6")
    assert run.returncode == 0, run.stderr
    with Session(engine) as session:
        tiers = Counter(session.exec(select(Customer.tier).join(Invitation)).all())
    assert tiers == {5: 4, 1: 6}
    run = manyi(env, *base, "--stratify", "tier,region", "--sample", "40")  # proportional
    assert run.returncode == 0, run.stderr
    with Session(engine) as session:
        drawn = session.exec(select(Customer.tier).join(Invitation).where(
            Invitation.campaign_id == 2)).all()  # fmt: skip
    assert len(drawn) == 40 and Counter(drawn)[2] == 16  # two-star: 40% of the frame

    for args, message in [
        (["--sample", "5", "--frame", "nope"], "no sample frame 'nope' (stored: f)"),
        (["--sample", "5", "--quiet", "9pm"], "--quiet '9pm': write START-END"),
        (["--quota", "5=3"], "--quota needs --stratify"),
        ([], "say how many customers"),
        (["--stratify", "tier", "--quota", "9=3"], "no eligible customer in stratum 9"),
        (["--stratify", "colour", "--sample", "3"], "colour is not a frame column"),
        (["--sample", "5", "--channels", "fax"], "unknown channel"),
        (["--sample", "5", "--layout", "scroll"], "unknown layout"),
        (["--sample", "5000"], "cannot draw 5000 customers"),
        (["--sample", "5", "--expires", "soon"], "--expires 'soon': write a date"),
    ]:
        run = manyi(env, *base, *args)
        assert run.returncode == 1, (args, run.stdout)
        assert message in run.stderr, (args, run.stderr)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Campaign)).one() == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_import_with_nothing_valid_or_no_usable_header_exits_non_zero(env, tmp_path):
    (tmp_path / "bad.csv").write_text(
        "id,phone,region,service_hall,tier,tenure,language,consent\nC1,12,a,b,9,1,zh,true\n"
    )
    run = manyi(env, "frame", "import", str(tmp_path / "bad.csv"), "--name", "bad")
    assert run.returncode == 1
    assert "0 stored (nothing stored), 1 invalid" in run.stdout
    assert "no row could be stored" in run.stderr
    (tmp_path / "headless.csv").write_text("a,b\n1,2\n")
    run = manyi(env, "frame", "import", str(tmp_path / "headless.csv"), "--name", "h")
    assert run.returncode == 2 and "lacks column(s) customer_id, phone" in run.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigterm_stops_a_worker_after_the_send_in_hand_and_gives_its_batch_back(
    env, engine, tmp_path
):
    write_frame(tmp_path / "frame.csv", n=30)
    manyi(env, "questionnaire", "publish", str(SAMPLES / "csi_questionnaire.yaml"))
    manyi(env, "frame", "import", str(tmp_path / "frame.csv"), "--name", "f")
    manyi(env, "campaign", "create", "--questionnaire", "csi_mobile", "--frame", "f", "--name",
          "slow", "--sample", "29", "--quiet", "none", "--rate", "2")  # fmt: skip
    manyi(env, "campaign", "launch", "1")
    worker = subprocess.Popen(
        [sys.executable, "-m", "api.cli.main", "dispatch", "--worker-id", "w1",
         "--batch-size", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with Session(engine) as session:
                sent = session.exec(select(func.count()).select_from(SimulatedSms)).one()
            if sent >= 2:
                break
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.1)
        stopped_at = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=20)
    finally:
        worker.kill()
    assert worker.returncode == 0, output
    assert time.monotonic() - stopped_at < 5  # not the 10 s the rest of the batch needs
    assert "SIGTERM received" in output
    with Session(engine) as session:
        statuses = Counter(session.exec(select(OutboundSms.status)).all())
        received = session.exec(select(func.count()).select_from(SimulatedSms)).one()
        assert session.get(DispatcherLease, "w1") is None
    assert set(statuses) == {"sent", "pending"} and statuses["sent"] == received < 29
    assert f"sent {received}," in output


def test_a_reply_mode_campaign_sends_its_first_question_at_launch(env, engine, tmp_path):
    write_frame(tmp_path / "frame.csv", n=12)
    hotline = str(SAMPLES / "hotline_questionnaire.yaml")
    assert manyi(env, "questionnaire", "publish", hotline).returncode == 0
    assert manyi(env, "questionnaire", "publish", str(SAMPLES / "csi_questionnaire.yaml")
                 ).returncode == 0  # fmt: skip
    assert manyi(env, "frame", "import", str(tmp_path / "frame.csv"), "--name", "f").returncode == 0
    base = ["campaign", "create", "--frame", "f", "--name", "after the call", "--sample", "5",
            "--channels", "sms_reply", "--quiet", "none"]  # fmt: skip
    # The CSI questionnaire cannot be answered by one digit: refused before any draw.
    run = manyi(env, *base, "--questionnaire", "csi_mobile")
    assert run.returncode == 1 and "cannot be answered by SMS reply" in run.stderr
    run = manyi(env, *base, "--questionnaire", "hotline_eval")
    assert run.returncode == 0, run.stderr
    run = manyi(env, "campaign", "launch", "1")
    assert run.returncode == 0, run.stderr
    assert "5 messages queued" in run.stdout
    run = manyi(env, "dispatch", "--until-idle")
    assert run.returncode == 0, run.stderr
    with Session(engine) as session:
        sent = session.exec(select(SimulatedSms.phone, SimulatedSms.body)).all()
        invitations = session.exec(select(Invitation.channel)).all()
    assert len(sent) == 5 and len({phone for phone, _ in sent}) == 5
    # The first question in the customer's language, and no link.
    first = ("您对本次热线服务满意吗", "Were you satisfied with the call?")
    assert all(any(q in body for q in first) and "/s/" not in body for _, body in sent)
    assert set(invitations) == {"sms_reply"}


def test_a_phone_campaign_puts_its_sample_in_the_call_queue_at_launch(env, engine, tmp_path):
    from survey.db.tables import CallCase

    write_frame(tmp_path / "frame.csv", n=12)
    manyi(env, "questionnaire", "publish", str(SAMPLES / "csi_questionnaire.yaml"))
    manyi(env, "frame", "import", str(tmp_path / "frame.csv"), "--name", "f")
    run = manyi(env, "campaign", "create", "--questionnaire", "csi_mobile", "--frame", "f",
                "--name", "calls", "--sample", "6", "--channels", "cati")  # fmt: skip
    assert run.returncode == 0, run.stderr
    run = manyi(env, "campaign", "launch", "1")
    assert run.returncode == 0, run.stderr
    assert "6 customers in the outbound-call queue" in run.stdout
    with Session(engine) as session:
        cases = session.exec(select(CallCase.kind, CallCase.status)).all()
        messages = session.exec(select(func.count()).select_from(OutboundSms)).one()
    assert cases == [("interview", "open")] * 6 and messages == 0

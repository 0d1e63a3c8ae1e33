"""A researcher runs a wave from the browser, start to end, with no terminal.

In Chromium at a desk's 1366 px: upload a questionnaire with an error and read where it is,
upload it fixed, preview it, publish it; import a sample frame and read its per-row report;
create a campaign on both and launch it; watch a customer's response arrive in the live
monitor (the customer answers on the simulator's phone, in a second browser at 360 px);
download the responses as SPSS; start an analysis and see it finish.

The server is ``manyi demo`` on a fresh SQLite file: its dispatcher sends through the
simulator. An analysis worker runs beside it without a schedule, so that it computes only
what the researcher starts.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from sqlmodel import Session

from survey.db.engine import make_engine
from survey.staff.accounts import create_staff
from tests.browser.test_web_form import answer_page
from tests.common import PHONE
from tests.service_process import free_port, manyi, run_manyi, running

pytestmark = pytest.mark.browser

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
DESK = {"width": 1366, "height": 900}
PASSWORD = "a researcher's long passphrase"
#: The sample questionnaire as a new version, and the same with one mistake: an item that
#: measures a construct the questionnaire does not have.
NEW_VERSION = 'version: "2026.9"'
MISTAKE = ("construct: network", "construct: netwrok")
#: Frame rows far from the ones the demo's own campaigns invite (the first consenting).
FRAME_ROWS = slice(3000, 3012)
SAMPLE_SIZE = 8
WAIT = 120  # seconds: the dispatcher's sending, the worker's fit


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-walk")
    database = folder / "manyi.db"
    url = f"sqlite:///{database}"
    base = f"http://127.0.0.1:{(port := free_port())}"
    env = {**os.environ, "MANYI_DATABASE_URL": url, "MANYI_PUBLIC_BASE_URL": base}
    worker = manyi("analyses", "work", "--poll", "0.5")
    # The schema first: the server and the worker would both create it on a fresh file.
    assert run_manyi("db", "upgrade", env=env).returncode == 0
    with running(manyi("demo", "--port", str(port), "--no-analyses"), base_url=base, env=env,
                 log_path=folder / "server.log", companions=[worker]):  # fmt: skip
        engine = make_engine(url)
        with Session(engine) as session:
            create_staff(session, "rita", "researcher", PASSWORD)
        engine.dispose()
        yield {"base": base, "database": database, "folder": folder}


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport=DESK, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  locale="zh-CN")  # fmt: skip
    page = context.new_page()
    yield page
    context.close()


def submit(page, form) -> None:
    with page.expect_navigation():
        form.locator("button[type=submit]").first.click()


def files(folder: Path) -> dict[str, Path]:
    text = (SAMPLES / "csi_questionnaire.yaml").read_text("utf-8")
    assert 'version: "2026.1"' in text and MISTAKE[0] in text
    fixed = text.replace('version: "2026.1"', NEW_VERSION)
    broken = fixed.replace(*MISTAKE, 1)
    frame = pd.read_csv(SAMPLES / "frame.csv", dtype=str).iloc[FRAME_ROWS].copy()
    frame["consent"] = "True"
    frame.iloc[-1, frame.columns.get_loc("phone")] = "12"  # one row the report must name
    paths = {"broken": folder / "csi_broken.yaml", "fixed": folder / "csi_fixed.yaml",
             "frame": folder / "april_frame.csv"}  # fmt: skip
    paths["broken"].write_text(broken, "utf-8")
    paths["fixed"].write_text(fixed, "utf-8")
    frame.to_csv(paths["frame"], index=False)
    return paths


def path(page) -> str:
    """The page's path, without the message a redirect put in its query."""
    return urlsplit(page.url).path


def stage(page, key: str) -> int:
    return int(page.locator(f"#stage-{key}").get_attribute("data-count"))


def wait_for(page, url: str, ready, what: str) -> None:
    """Reload ``url`` until ``ready(page)``: the monitor and the job page are counted anew on
    every request."""
    deadline = time.monotonic() + WAIT
    while True:
        page.goto(url)
        if ready(page):
            return
        assert time.monotonic() < deadline, f"{what} within {WAIT} s"
        time.sleep(1)


def test_a_researcher_runs_a_wave_from_the_browser(server, desk, phone):
    from playwright.sync_api import expect  # the browser fixture says when it is missing

    base, paths = server["base"], files(server["folder"])

    # Sign in: a researcher lands on the console.
    desk.goto(f"{base}/login")
    desk.fill("#username", "rita")
    desk.fill("#password", PASSWORD)
    with desk.expect_navigation():
        desk.click("form button[type=submit]")
    assert desk.url == f"{base}/console"

    # A questionnaire with a mistake: the problem is shown where it is, nothing published.
    desk.goto(f"{base}/console/questionnaires")
    upload = desk.locator("form[action='/console/questionnaires/drafts']")
    upload.locator("input[type=file]").set_input_files(paths["broken"])
    submit(desk, upload)
    assert re.fullmatch(r"/console/questionnaires/drafts/\d+", path(desk))
    problems = desk.locator("main").inner_text()
    assert "netwrok" in problems and "items" in problems, problems
    assert desk.locator("form[action$='/publish']").count() == 0

    # Fixed: ready, previewed as the customer sees it, published.
    desk.goto(f"{base}/console/questionnaires")
    upload = desk.locator("form[action='/console/questionnaires/drafts']")
    upload.locator("input[type=file]").set_input_files(paths["fixed"])
    submit(desk, upload)
    draft = base + path(desk)
    preview = desk.locator("a[href*='/preview?view=customer']").first
    with desk.expect_navigation():
        preview.click()
    assert "移动客户满意度调查" in desk.locator("body").inner_text()
    assert desk.locator("input[type=radio]").count() > 20
    desk.goto(draft)
    submit(desk, desk.locator("form[action$='/publish']"))
    assert "csi_mobile@2026.9" in desk.locator("main").inner_text()

    # A sample frame: stored, with the bad row reported by its row and column.
    desk.goto(f"{base}/console/frames")
    form = desk.locator("form#import")
    form.locator("input[type=file]").set_input_files(paths["frame"])
    form.locator("#name").fill("april")
    submit(desk, form)
    assert re.fullmatch(r"/console/frames/imports/\d+", path(desk))
    report = desk.locator("main").inner_text()
    assert "phone" in report and str(FRAME_ROWS.stop - FRAME_ROWS.start - 1) in report, report

    # A campaign on both, created and launched.
    desk.goto(f"{base}/console/campaigns/new")
    form = desk.locator("form#campaign")
    form.locator("#questionnaire").select_option("csi_mobile@2026.9")
    form.locator("#frame").select_option("april")
    form.locator("#name").fill("April wave")
    for box in form.locator("input[name=channels]").all():
        box.set_checked(box.get_attribute("value") == "sms_link")
    form.locator("#sample").fill(str(SAMPLE_SIZE))
    form.locator("#quiet").fill("none")
    form.locator("#rate").fill("50")
    submit(desk, form)
    match = re.fullmatch(r"/console/campaigns/(\d+)", path(desk))
    assert match, desk.locator("main").inner_text()
    monitor = base + match.group(0)
    assert desk.locator("#state").get_attribute("data-state") == "draft"
    submit(desk, desk.locator("form[action$='/launch']"))
    assert desk.locator("#state").get_attribute("data-state") == "running"

    # The demo's dispatcher sends the invitations; the monitor counts them.
    wait_for(desk, monitor, lambda p: stage(p, "sent") == SAMPLE_SIZE, "every invitation sent")
    assert stage(desk, "drawn") == SAMPLE_SIZE and stage(desk, "completed") == 0

    # A customer answers on the simulator's phone; the response arrives in the monitor.
    with sqlite3.connect(server["database"]) as db:
        (number,) = db.execute(
            "SELECT c.phone_e164 FROM invitation i JOIN customer c ON c.id = i.customer_id "
            "WHERE i.campaign_id = ? ORDER BY i.id LIMIT 1", (int(match.group(1)),)
        ).fetchone()  # fmt: skip
    phone.goto(f"{base}/phone/{number.replace('+', '%2B')}")
    link = phone.locator("ol.thread li.msg.out a", has_text="/s/").last
    with phone.expect_navigation():
        link.click()
    answered: dict[str, str] = {}
    for _ in range(20):
        if answer_page(phone, answered):
            break
    # The monitor, left open, counts itself again (its script, allowed by the page's policy).
    counted = desk.locator("#counted-at").get_attribute("data-at")
    expect(desk.locator("#stage-completed")).to_have_attribute(
        "data-count", "1", timeout=(WAIT // 2) * 1000
    )
    assert desk.url == monitor and desk.locator("#counted-at").get_attribute("data-at") > counted

    # The responses as SPSS: the one response of this version is in the file.
    desk.goto(f"{base}/console/exports")
    link = desk.locator("a[href*='version=csi_mobile%402026.9'][href*='format=sav']").first
    with desk.expect_download() as download:
        link.click()
    saved = server["folder"] / "april.sav"
    download.value.save_as(saved)
    exported = pd.read_spss(saved, convert_categoricals=False)
    assert len(exported) == 1

    # An analysis of the demo's responses, started here and followed to its end.
    desk.goto(f"{base}/console/analyses")
    form = desk.locator("form#compute")
    form.locator("#version").select_option("csi_mobile@2026.1")
    form.locator("#bootstrap").fill("20")
    submit(desk, form)
    assert re.fullmatch(r"/console/analyses/\d+", path(desk)), desk.locator("main").inner_text()
    job = base + path(desk)
    # The page says the worker is at it while the job is queued or running.
    wait_for(desk, job, lambda p: p.locator("#worker").count() == 0, "the analysis finished")
    assert desk.locator("#failed").count() == 0, desk.locator("main").inner_text()
    assert int(desk.locator("#n").inner_text()) > 1000

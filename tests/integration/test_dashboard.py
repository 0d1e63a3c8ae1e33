"""The managers' pages (/dashboard) on SQLite with the sample data and computed analyses.

Two analyses are computed once (tests/analysed_demo.py): all data and April 2026, both cut
by region. Pages are read through real logins: a manager who sees everything, a manager
limited to Hangzhou, an interviewer.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.settings import Settings
from api.web.app import create_app
from api.web.formats import CHANNEL_LABELS
from api.web.matrix_svg import QUADRANT_WORDS, interval, number, rank_interval
from survey.db.engine import make_engine
from survey.db.tables import Analysis, Customer
from survey.sms.inbound import InboundMessage, receive_sms
from survey.staff.accounts import create_staff
from tests.analysed_demo import MONTH, PASSWORD, VERSION, copy_to, open_follow_ups
from tests.integration.staff_login import SECRET, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

BASE = "https://manyi.example.org"
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    url = copy_to(tmp_path_factory.mktemp("dashboard"))
    breaches = open_follow_ups(url, NOW - timedelta(hours=1), {"Hangzhou": 2, "Wenzhou": 1})
    on_time = open_follow_ups(url, NOW + timedelta(days=2), {"Hangzhou": 1})
    return {"url": url, "late": breaches, "on_time": on_time}


@pytest.fixture(scope="module")
def stored(database):
    """The stored results by (period, segment)."""
    engine = make_engine(database["url"])
    with Session(engine) as session:
        jobs = session.exec(select(Analysis)).all()
        found = {(j.request["period"], j.request["segment"]): j.result for j in jobs}
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def login(database):
    clients = []

    def open_as(username: str) -> TestClient:
        settings = Settings(database_url=database["url"], public_base_url=BASE, env="test",
                            secret_key=SECRET)  # fmt: skip
        client = TestClient(create_app(settings), base_url="https://testserver",
                            follow_redirects=False)  # fmt: skip
        client.__enter__()
        clients.append(client)
        assert log_in(client, username, PASSWORD).status_code == 303
        return client

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def boss(login):
    return login("boss")


@pytest.fixture(scope="module")
def hangzhou(login):
    return login("hz")


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def block(result, dimension, segment):
    return next(b for b in result["priorities"][dimension]["segments"] if b["segment"] == segment)


def shown_numbers(matrix) -> set[str]:
    """What the pages print of a matrix's points: values and intervals as formatted."""
    found = set()
    for p in matrix["points"]:
        found |= {interval(p["x_interval"]), interval(p["y_interval"], 1)}
    return found


URLS = ["/dashboard", "/dashboard/priorities?dimension=network", "/dashboard/rankings",
        "/dashboard/report", f"/dashboard/report?period={MONTH}",
        f"/dashboard/priorities?dimension=network&segment=Hangzhou&period={MONTH}"]  # fmt: skip


@pytest.mark.parametrize("url", URLS + ["/dashboard/follow-ups"])
def test_every_dashboard_page_renders_for_a_manager_and_is_refused_to_an_interviewer(
    login, boss, url
):
    page = boss.get(url)
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text  # no JavaScript, no external asset
    assert not re.search(r'(src|href)="https?://', page.text)
    refused = login("ivy").get(url)
    assert refused.status_code == 403
    assert "Not allowed" in refused.text


def test_a_signed_out_visitor_is_sent_to_the_login_page(database):
    settings = Settings(database_url=database["url"], public_base_url=BASE, env="test",
                        secret_key=SECRET)  # fmt: skip
    with TestClient(create_app(settings), follow_redirects=False) as client:
        answer = client.get("/dashboard/priorities?dimension=network")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=%2Fdashboard%2Fpriorities")


def test_overview_shows_indexes_with_intervals_trends_channels_and_warnings(boss, stored):
    result = stored[(None, "region")]
    html = boss.get("/dashboard").text
    indexes = {row["construct"]: row for row in result["indexes"]["indexes"]}
    for construct in ("satisfaction", "loyalty"):
        row = indexes[construct]
        card = re.search(rf'<li id="index-{construct}">(.*?)</li>', html, re.S).group(1)
        assert number(row["index"], 1) in card
        assert interval([row["ci_low"], row["ci_high"]], 1) in card
    for freq in ("Q", "M"):
        rows = result["trends"][freq]["satisfaction"]
        table = re.search(rf'<table id="trend-{freq}-satisfaction">(.*?)</table>', html, re.S)
        assert [r["period"] for r in rows] == re.findall(r"<tr><td>([^<]+)</td>", table.group(1))
        last = rows[-1]
        assert interval([last["change_ci_low"], last["change_ci_high"]], 1) in table.group(1)
    responses = text(re.search(r'<table id="responses">(.*?)</table>', html, re.S).group(1))
    for channel, n in result["responses_by_channel"].items():
        zh, en = CHANNEL_LABELS[channel]
        assert f"{zh} {en} {n}" in responses
    assert "sms_link" not in responses
    assert str(result["n"]) in responses
    assert result["warnings"], "the sample data has missing answers: a warning is expected"
    first = result["warnings"][0]
    assert first["code"] == "missing-data"
    # A manager reads plain words naming the item by its label; no code, no variable name.
    item = result["labels"][first["subject"]]
    shown = text(re.search(r'<ul class="warnings" id="warnings">(.*?)</ul>', html, re.S).group(1))
    assert f"Many customers did not answer “{item['en']}”" in shown and item["zh"] in shown
    assert first["message"] not in html and first["subject"] not in shown
    assert "manyi rates" not in html


def test_a_researcher_reads_warnings_with_their_codes_and_details(database, login, stored):
    engine = make_engine(database["url"])
    with Session(engine) as session:
        create_staff(session, "rita", "researcher", PASSWORD)
    engine.dispose()
    html = login("rita").get("/dashboard").text
    first = stored[(None, "region")]["warnings"][0]
    assert first["message"] in html and f"<code>{first['code']}</code>" in html
    assert "Many customers did not answer" in html


def test_priority_matrix_of_one_dimension_draws_every_point_with_its_intervals(boss, stored):
    matrix = stored[(None, "region")]["priorities"]["network"]["matrix"]
    html = boss.get("/dashboard/priorities?dimension=network").text
    svg = re.search(r"<svg class=\"matrix\".*?</svg>", html, re.S).group(0)
    point_group = (
        r'<a href="#point-([^"]+)" class="pt[^"]*" data-name="[^"]+">\s*<title>(.*?)</title>'
    )
    titles = re.findall(point_group, svg, re.S)
    assert sorted(name for name, _ in titles) == sorted(p["name"] for p in matrix["points"])
    for point in matrix["points"]:
        hover = dict(titles)[point["name"]]
        assert f"importance {number(point['x'])} {interval(point['x_interval'])}" in hover
        assert f"performance {number(point['y'], 1)} {interval(point['y_interval'], 1)}" in hover
        assert f"tier {point['tier']}" in hover and "rank" in hover and "P(" in hover
        row = re.search(rf'<tr id="point-{point["name"]}">(.*?)</tr>', html, re.S).group(1)
        assert interval(point["y_interval"], 1) in row
    for zh, en in QUADRANT_WORDS.values():  # labels in both languages, on the drawing
        assert zh in svg and en in svg
    assert "overkill" not in html.lower() and "过度投入" not in html
    # Items by their questionnaire labels, never by code; ticks on round numbers.
    names = re.findall(r'<text class="name"[^>]*>([^<]+)</text>', svg)
    assert names and not [n for n in names if n in {p["name"] for p in matrix["points"]}]
    assert "通话清晰度" in names
    ticks = [float(t) for t in re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', svg)]
    assert all(round(t / 0.005) * 0.005 == pytest.approx(t) for t in ticks), ticks
    assert 'class="iso"' in svg and svg.count('class="cross"') == 2
    # The warnings are those of the network driver and its items only.
    warnings = text(re.search(r"<h2>警告 (.*?)</section>", html, re.S).group(1))
    result = stored[(None, "region")]
    others = {w["subject"] for w in result["warnings"] if w.get("subject")} - {
        p["name"] for p in matrix["points"]} - {"network"}  # fmt: skip
    assert others, "the sample has warnings about other drivers' items"
    assert not [s for s in others if result["labels"].get(s, {}).get("en", s) in warnings]


def test_a_region_of_a_month_shows_its_own_matrix_and_a_too_small_region_says_so(boss, stored):
    result = stored[(MONTH, "region")]
    hangzhou = block(result, "network", "Hangzhou")
    assert hangzhou["status"] == "ok"
    html = boss.get(f"/dashboard/priorities?dimension=network&segment=Hangzhou&period={MONTH}").text
    assert f"n = {hangzhou['n']}" in text(html)
    assert all(shown in html for shown in shown_numbers(hangzhou["matrix"]))
    small = [b for b in result["priorities"]["network"]["segments"] if b["matrix"] is None]
    assert small, "April's smallest region falls under min_n in the sample data"
    page = boss.get(f"/dashboard/priorities?dimension=network&segment={small[0]['segment']}"
                    f"&period={MONTH}")  # fmt: skip
    assert page.status_code == 200
    status = re.search(
        r'<p class="note" role="status" id="segment-status">(.*?)</p>', page.text, re.S
    )
    # In words for a manager: the reason, not the status code or the developer's message.
    assert "Too few responses" in status.group(1) and str(small[0]["n"]) in status.group(1)
    assert small[0]["status"] not in status.group(1)
    assert '<svg class="matrix"' not in page.text


def test_the_period_and_segment_choices_are_those_with_stored_analyses(boss):
    html = boss.get("/dashboard/priorities?dimension=network").text
    periods = re.search(r'<select id="period" name="period">(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'<option value="([^"]*)"', periods) == ["", MONTH]
    segments = re.search(r'<select id="segment" name="segment">(.*?)</select>', html, re.S).group(1)
    assert "Wenzhou" in segments and "Hangzhou" in segments


def test_a_regional_manager_sees_their_region_and_never_another_regions_numbers(hangzhou, stored):
    everyone = stored[(None, "region")]
    month = stored[(MONTH, "region")]
    mine = block(month, "network", "Hangzhou")["matrix"]
    theirs = set()
    for result in (everyone, month):
        for dimension in result["priorities"]:
            wenzhou = block(result, dimension, "Wenzhou")
            if wenzhou["matrix"]:
                theirs |= shown_numbers(wenzhou["matrix"])
        row = next(r for r in result["rankings"]["region"] if r["unit"] == "Wenzhou")
        theirs.add(interval([row["ci_low"], row["ci_high"]], 1))
    allowed = shown_numbers(mine)
    for result in (everyone, month):
        for dimension in result["priorities"]:
            hz = block(result, dimension, "Hangzhou")
            allowed |= shown_numbers(hz["matrix"]) if hz["matrix"] else set()
        for kind in ("region", "service_hall"):
            for r in result["rankings"][kind]:
                if r["unit"].startswith("Hangzhou"):
                    allowed.add(interval([r["ci_low"], r["ci_high"]], 1))
    theirs -= allowed  # a coincidence of rounding is not a leak
    assert len(theirs) > 10

    own = hangzhou.get(f"/dashboard/priorities?dimension=network&segment=Hangzhou&period={MONTH}")
    assert own.status_code == 200
    assert all(shown in own.text for shown in shown_numbers(mine))
    refused = hangzhou.get(
        f"/dashboard/priorities?dimension=network&segment=Wenzhou&period={MONTH}"
    )
    assert refused.status_code == 404
    assert 'id="not-in-scope"' in refused.text
    pages = [hangzhou.get(url) for url in URLS + [
        "/dashboard/priorities?dimension=network&segment=Wenzhou",
        "/dashboard/priorities?segment=Wenzhou", "/dashboard/follow-ups",
        f"/dashboard/rankings?period={MONTH}"]]  # fmt: skip
    for page in pages + [refused]:
        assert page.status_code in (200, 404)
        assert "Wenzhou" not in page.text, page.url
        assert not [n for n in theirs if n in page.text], page.url
    overview = pages[0].text
    assert 'id="withheld"' in overview and 'id="index-satisfaction"' not in overview
    whole = hangzhou.get("/dashboard/priorities?dimension=network").text
    assert 'id="withheld"' in whole and '<svg class="matrix"' not in whole
    segments = re.search(r'<select id="segment" name="segment">(.*?)</select>', whole, re.S)
    assert re.findall(r'<option value="([^"]*)"', segments.group(1)) == ["", "Hangzhou"]


def test_rankings_show_intervals_groups_and_the_units_that_cannot_be_told_apart(boss, stored):
    result = stored[(None, "region")]
    html = boss.get("/dashboard/rankings").text
    for kind in ("region", "service_hall"):
        table = re.search(rf'<table id="ranking-{kind}">(.*?)</table>', html, re.S).group(1)
        rows = result["rankings"][kind]
        assert len(re.findall(r'<tr id="unit-', table)) == len(rows)
    first = result["rankings"]["region"][0]
    row = text(re.search(rf'<tr id="unit-{first["unit"]}">(.*?)</tr>', html, re.S).group(1))
    assert interval([first["ci_low"], first["ci_high"]], 1) in row
    assert rank_interval([first["rank_low"], first["rank_high"]]) in row
    assert first["group"] in row
    assert all(unit in row for unit in first["indistinguishable_from"])


def test_follow_ups_list_open_cases_and_breaches_within_the_readers_scope(boss, hangzhou, database):
    late, on_time = database["late"], database["on_time"]
    everything = boss.get("/dashboard/follow-ups").text
    ids = [int(i) for i in re.findall(r'<tr id="follow-up-(\d+)">', everything)]
    assert ids == late["Hangzhou"] + late["Wenzhou"] + on_time["Hangzhou"]  # past due first
    assert re.search(r'id="breach-count">.*?<strong class="err">3</strong>', everything, re.S)
    mine = hangzhou.get("/dashboard/follow-ups").text
    ids = [int(i) for i in re.findall(r'<tr id="follow-up-(\d+)">', mine)]
    assert ids == late["Hangzhou"] + on_time["Hangzhou"]
    assert re.search(r'id="breach-count">.*?<strong class="err">2</strong>', mine, re.S)


def test_customers_words_by_sms_reach_the_follow_up_team_within_its_scope(boss, hangzhou, database):
    engine = make_engine(database["url"])
    with Session(engine) as session:
        numbers = select(Customer.phone_e164)
        phone = {region: session.exec(numbers.where(Customer.region == region)).first()
                 for region in ("Hangzhou", "Wenzhou")}  # fmt: skip
        for message_id, region, body in [
            ("SMwords-hz", "Hangzhou", "信号太差了，<b>投诉</b>"),
            ("SMwords-wz", "Wenzhou", "别再发了"),
            ("SMdigit-hz", "Hangzhou", "5"),  # no words: nothing for a person to read
        ]:
            receive_sms(session, InboundMessage(message_id, phone[region], body),
                        timezone="Asia/Shanghai")  # fmt: skip
    engine.dispose()
    everything = boss.get("/dashboard/follow-ups").text
    table = re.search(r'<table id="customer-messages">(.*?)</table>', everything, re.S).group(1)
    rows = re.findall(r'<tr id="message-\d+">(.*?)</tr>', table, re.S)
    assert len(rows) == 2
    assert "别再发了" in rows[0] and "Wenzhou" in rows[0] and "Asks to stop" in rows[0]
    assert "信号太差了，&lt;b&gt;投诉&lt;/b&gt;" in rows[1] and "Hangzhou" in rows[1]
    assert phone["Hangzhou"] not in everything  # the last four digits only
    assert f"ending</span> {phone['Hangzhou'][-4:]}" in rows[1]
    mine = hangzhou.get("/dashboard/follow-ups").text
    assert "信号太差了" in mine and "别再发了" not in mine


def test_the_report_is_one_printable_page_with_indexes_matrix_priorities_and_rankings(boss, stored):
    result = stored[(MONTH, "region")]
    html = boss.get(f"/dashboard/report?period={MONTH}").text
    assert "@media print" in html
    satisfaction = next(r for r in result["indexes"]["indexes"] if r["construct"] == "satisfaction")
    assert interval([satisfaction["ci_low"], satisfaction["ci_high"]], 1) in html
    assert html.count('<svg class="matrix"') == 1
    top = min(result["priorities"]["constructs"]["matrix"]["points"], key=lambda p: p["rank"])
    priorities = re.search(r'<table id="top-priorities">(.*?)</table>', html, re.S).group(1)
    assert result["labels"][top["name"]]["zh"] in priorities
    assert '<table id="ranking-region">' in html


def test_an_unknown_version_is_a_404_and_nothing_computed_is_said_plainly(boss, database):
    assert boss.get("/dashboard?version=nope@1").status_code == 404
    page = boss.get("/dashboard/rankings?period=2025-01")
    assert page.status_code == 200 and 'id="nothing"' in page.text
    assert VERSION in boss.get("/dashboard").text  # the default: the analysed version


def test_a_unit_whose_indexes_are_not_comparable_is_marked_and_named_in_both_languages(
    tmp_path, login
):
    # The sample's regions are measured alike; mark one as MICOM would flag it.
    from api.analysis import result as stored_results

    url = copy_to(tmp_path)
    engine = make_engine(url)
    with Session(engine) as session:
        job = next(j for j in session.exec(select(Analysis)).all()
                   if j.request["period"] is None and j.request["segment"] == "region")  # fmt: skip
        result = json.loads(json.dumps(job.result))
        row = result["rankings"]["region"][0]
        row["comparable"], row["not_comparable_on"] = False, ["network"]
        for view in result["priorities"].values():
            for segment in view["segments"]:
                if segment["segment"] == row["unit"]:
                    segment["comparable"], segment["not_comparable_on"] = False, ["network"]
        job.result = result
        session.add(job)
        session.commit()
    engine.dispose()
    stored_results._READ.clear()  # the same job key, another stored result
    settings = Settings(database_url=url, public_base_url=BASE, env="test", secret_key=SECRET)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        assert log_in(client, "boss", PASSWORD).status_code in (200, 303)
        page = text(client.get("/dashboard/rankings").text)
        assert f"{row['unit']}（网络" in page and f"{row['unit']} (Network" in page
        assert "不可比较" in page and "not comparable" in page
        matrix = text(client.get(f"/dashboard/priorities?segment={row['unit']}").text)
        assert "MICOM" in matrix and "not comparable" in matrix
    stored_results._READ.clear()


def test_a_regional_manager_sees_their_units_ranked_among_all_units(tmp_path, stored):
    """Wenzhou's manager sees Wenzhou 7th of 7 with its interval, and its halls among all 42,
    also when an analysis filtered to Wenzhou is stored (it ranks Wenzhou's units among
    themselves: "rank 1, interval 1" and halls 1-7)."""
    from api.analysis import result as stored_results
    from survey.analyses import jobs as analyses

    everyone = stored[(None, "region")]["rankings"]
    url = copy_to(tmp_path, people=["boss"])
    engine = make_engine(url)
    with Session(engine) as session:
        create_staff(session, "wz", "manager", PASSWORD, regions=["Wenzhou"])
        whole = next(j for j in session.exec(select(Analysis)).all()
                     if j.request["period"] is None)  # fmt: skip
        own = dict(whole.request, filters={**whole.request["filters"], "region": ["Wenzhou"]})
        job, _ = analyses.submit(session, whole.questionnaire_version_id, own)
        result = json.loads(json.dumps(whole.result))
        result["rankings"] = {kind: [{**r, "rank": i + 1, "rank_low": i + 1, "rank_high": i + 1}
                                     for i, r in enumerate(r for r in rows
                                                           if r["unit"].startswith("Wenzhou"))]
                              for kind, rows in result["rankings"].items()}  # fmt: skip
        analyses.complete(session, job.id, result, whole.provenance or {})
    engine.dispose()
    stored_results._READ.clear()
    settings = Settings(database_url=url, public_base_url=BASE, env="test", secret_key=SECRET)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        assert log_in(client, "wz", PASSWORD).status_code == 303
        html = client.get("/dashboard/rankings").text
    regions = everyone["region"]
    wenzhou = next(r for r in regions if r["unit"] == "Wenzhou")
    assert (wenzhou["rank"], len(regions)) == (7, 7), "the sample's Wenzhou is last of 7"
    table = re.search(r'<table id="ranking-region">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r'<tr id="unit-([^"]+)">(.*?)</tr>', table, re.S)
    assert [unit for unit, _ in rows] == ["Wenzhou"]
    shown = text(rows[0][1])
    assert "7 / 7" in shown
    assert f"{rank_interval([wenzhou['rank_low'], wenzhou['rank_high']])} / 7" in shown
    assert interval([wenzhou["ci_low"], wenzhou["ci_high"]], 1) in shown
    halls = re.search(r'<table id="ranking-service_hall">(.*?)</table>', html, re.S).group(1)
    ranks = dict(re.findall(r'<tr id="unit-([^"]+)"><td class="n">(\d+) ', halls))
    expected = {r["unit"]: str(r["rank"]) for r in everyone["service_hall"]
                if r["unit"].startswith("Wenzhou")}  # fmt: skip
    assert ranks == expected and len(everyone["service_hall"]) == 42
    assert f"/ {len(everyone['service_hall'])}" in halls
    # The plot places Wenzhou among all seven, the others unnamed.
    plot = re.search(r'<svg class="chart ranks" id="ranks-region".*?</svg>', html, re.S).group(0)
    assert plot.count('<g class="row') == 7 and plot.count('class="row own"') == 1
    assert not [r["unit"] for r in regions if r["unit"] != "Wenzhou" and r["unit"] in html]
    stored_results._READ.clear()


def test_a_manager_opens_a_follow_up_assigns_escalates_and_closes_it_within_scope(tmp_path):
    """The case page: the customer's answers and the history; assign to someone who calls,
    escalate with a reason (its call goes first), close with outcome and root cause. Every
    refusal says why (409) and changes nothing; other regions' cases are not found."""
    from sqlmodel import col

    from survey.db.tables import AuditLog, CallCase, FollowUp
    from survey.remedy import actions

    url = copy_to(tmp_path)
    late = open_follow_ups(url, NOW - timedelta(hours=1), {"Hangzhou": 1, "Wenzhou": 1})
    mine, theirs = late["Hangzhou"][0], late["Wenzhou"][0]
    engine = make_engine(url)
    with Session(engine) as session:
        create_staff(session, "cara", "researcher", PASSWORD)
        follow_up = session.get(FollowUp, mine)
        customer = session.get(Customer, follow_up.customer_id)
        call = CallCase(customer_id=customer.id, kind="follow_up", priority=100)
        session.add(call)
        session.commit()
        follow_up.case_id = call.id
        session.add(follow_up)
        session.commit()
        call_id = call.id
    settings = Settings(database_url=url, public_base_url=BASE, env="test", secret_key=SECRET)
    app = create_app(settings)
    clients = {name: TestClient(app, base_url="https://testserver", follow_redirects=False)
               for name in ("hz", "ivy", "cara")}  # fmt: skip
    for name, client in clients.items():
        client.__enter__()
        assert log_in(client, name, PASSWORD).status_code == 303
    hz, ivy, cara = clients["hz"], clients["ivy"], clients["cara"]
    try:
        case = f"/dashboard/follow-ups/{mine}"
        listing = hz.get("/dashboard/follow-ups").text
        assert f'<a href="{case}">' in listing
        page = hz.get(case)
        assert page.status_code == 200
        answers = re.search(r'<table id="answers">(.*?)</table>', page.text, re.S).group(1)
        assert "总体" in answers or "满意" in answers
        assert 'id="breach"' in page.text and "overall satisfaction 2 or less" in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert hz.get(f"/dashboard/follow-ups/{theirs}").status_code == 404  # Wenzhou's
        refused = hz.post(f"/dashboard/follow-ups/{theirs}/assign", data={"csrf": token,
                                                                          "to": "ivy"})  # fmt: skip
        assert refused.status_code == 404
        assert hz.post(f"{case}/assign", data={"to": "ivy"}).status_code == 403  # no CSRF

        wrong = hz.post(f"{case}/assign", data={"csrf": token, "to": "cara"})
        assert wrong.status_code == 409 and "not an active interviewer or supervisor" in wrong.text
        done = hz.post(f"{case}/assign", data={"csrf": token, "to": "ivy"})
        assert done.status_code == 303 and done.headers["location"] == f"{case}?m=assigned"
        assert hz.post(f"{case}/escalate", data={"csrf": token, "reason": "  "}).status_code == 409
        reason = "客户第三次投诉 third complaint"
        assert (
            hz.post(f"{case}/escalate", data={"csrf": token, "reason": reason}).status_code == 303
        )
        half = hz.post(f"{case}/close", data={"csrf": token, "outcome": "resolved"})
        assert half.status_code == 409 and "needs a root cause" in half.text
        form = {"csrf": token, "outcome": "resolved", "root_cause": "network", "notes": "已换卡"}
        closed = hz.post(f"{case}/close", data=form)
        assert closed.status_code == 303
        again = hz.post(f"{case}/close", data={"csrf": token, "outcome": "resolved",
                                               "root_cause": "network"})  # fmt: skip
        assert again.status_code == 409 and "closed already" in again.text

        page = text(hz.get(case).text)
        history = text(re.search(r'<ol class="history" id="history">(.*?)</ol>',
                                 hz.get(case).text, re.S).group(1))  # fmt: skip
        for step in ("opened", "assigned to · hz ivy", "escalated · hz " + reason,
                     "closed · hz 已解决 resolved · 网络 network"):  # fmt: skip
            assert step in history, (step, history)
        assert "已关闭" in page and 'id="assign"' not in hz.get(case).text
        assert f'id="follow-up-{mine}"' not in hz.get("/dashboard/follow-ups").text

        # A researcher reads cases but does not act; an interviewer does neither.
        assert cara.get(case).status_code == 200
        assert cara.post(f"{case}/assign", data={"csrf": token, "to": "ivy"}).status_code == 403
        assert ivy.get(case).status_code == 403
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)
    with Session(engine) as session:
        follow_up = session.get(FollowUp, mine)
        assert follow_up.status == "closed" and follow_up.root_cause == "network"
        assert follow_up.escalation == reason and follow_up.assigned_to is not None
        assert session.get(CallCase, call_id).priority == actions.ESCALATED_PRIORITY
        assert session.get(CallCase, call_id).status == "final"
        logged = session.exec(select(AuditLog.action).where(
            col(AuditLog.target) == actions.target(mine)).order_by(AuditLog.id)).all()  # fmt: skip
        assert logged == [actions.ASSIGNED, actions.ESCALATED, actions.CLOSED]
        assert session.get(FollowUp, theirs).status == "open"
    engine.dispose()


def test_a_drivers_items_show_their_answers_and_what_customers_wrote_within_scope(
    boss, hangzhou, database
):
    """Driver -> items -> comments: each item's distribution and top-2-box equal the stored
    answers; comments are searched as plain text, narrowed to those who rated an item low,
    and cut to the reader's scope."""
    from survey.exports.responses import export_responses
    from survey.questionnaire.publish import find_version

    engine = make_engine(database["url"])
    with Session(engine) as session:
        version = find_version(session, *VERSION.split("@"))
        data = export_responses(session, version).data
    engine.dispose()
    html = boss.get("/dashboard/items?driver=network").text
    row = text(re.search(r'<tr id="item-net_clarity"[^>]*>(.*?)</tr>', html, re.S).group(1))
    answers = data["net_clarity"].astype("string")
    scored = answers[answers.isin(["1", "2", "3", "4", "5"])]
    top = scored.isin(["4", "5"]).mean()
    assert f"{top:.0%}" in row and f" {len(scored)} " in f" {row} "
    assert f"非常差 {(scored == '1').mean():.0%}" in row
    # The matrix's items link here; an item's link narrows the comments to its low raters.
    matrix = boss.get("/dashboard/priorities?dimension=network").text
    assert '<a href="/dashboard/items?item=net_clarity' in matrix
    texts = data[["complaint_topic", "improve"]]
    written = texts.apply(lambda c: c.astype("string").str.strip().ne("").fillna(False))
    low = data["net_clarity"].astype("string").isin(["1", "2"])
    page = boss.get("/dashboard/items?item=net_clarity").text
    count = int(re.search(r'id="comment-count">(\d+)<', page).group(1))
    assert count == int((written & low.to_numpy()[:, None]).to_numpy().sum())
    network = ["net_moving", "net_clarity", "net_coverage", "net_dropped", "net_data_speed"]
    any_low = data[network].astype("string").isin(["1", "2"]).any(axis=1).to_numpy()
    driver = int(re.search(r'id="comment-count">(\d+)<', html).group(1))
    assert driver == int((written.to_numpy() & any_low[:, None]).sum()) > count
    every = boss.get("/dashboard/items?driver=network&show=all").text
    everyone = int(re.search(r'id="comment-count">(\d+)<', every).group(1))
    assert everyone == int(written.to_numpy().sum()) > driver
    word = "账单"
    searched = boss.get(f"/dashboard/items?driver=network&show=all&q={word}").text
    found = int(re.search(r'id="comment-count">(\d+)<', searched).group(1))
    contains = texts.apply(lambda c: c.astype("string").str.contains(word).fillna(False))
    assert found == int(contains.to_numpy().sum()) > 0
    assert 'id="comment-count">0<' in boss.get("/dashboard/items?driver=network&q=%25").text
    # A manager of Hangzhou reads Hangzhou's comments only.
    mine = hangzhou.get("/dashboard/items?driver=network&show=all").text
    listed = re.search(r'<table id="comment-list">(.*?)</table>', mine, re.S).group(1)
    regions = set(re.findall(r"<td>(\w+) / \w+-\d+</td>", listed))
    assert regions == {"Hangzhou"}
    hz = int(re.search(r'id="comment-count">(\d+)<', mine).group(1))
    in_hz = (data["region"] == "Hangzhou").to_numpy()
    assert hz == int(written.to_numpy()[in_hz].sum())
    # Filters: a customer tier counts its own customers' answers only.
    tiered = text(re.search(r'<tr id="item-net_clarity"[^>]*>(.*?)</tr>',
                            boss.get("/dashboard/items?driver=network&tier=1").text,
                            re.S).group(1))  # fmt: skip
    in_tier = scored[(data["tier"].astype(int) == 1)[scored.index]]
    assert 0 < len(in_tier) < len(scored) and f" {len(in_tier)} " in f" {tiered} "
    assert boss.get("/dashboard/items?driver=nope").status_code == 404
    assert boss.get("/dashboard/items?driver=network&period=2026-13").status_code == 404


def test_the_pages_say_how_many_responses_came_in_since_the_analysis_within_scope(tmp_path):
    """Stale numbers are flagged: a response completed after the analysis is counted as new
    beside the stored figures, for the readers whose scope holds it."""
    from survey.db.tables import Response
    from survey.questionnaire.publish import find_version

    url = copy_to(tmp_path)
    settings = Settings(database_url=url, public_base_url=BASE, env="test", secret_key=SECRET)

    def freshness(username: str, page: str = "/dashboard") -> tuple[int, int]:
        with TestClient(create_app(settings), base_url="https://testserver") as client:
            assert log_in(client, username, PASSWORD).status_code in (200, 303)
            html = client.get(page).text
        line = text(re.search(r'<p class="muted" id="freshness".*?</p>', html, re.S).group(0))
        new, live = re.search(r"completed since (\d+) .*completed now (\d+)", line).groups()
        return int(new), int(live)

    assert freshness("boss") == (0, 5000)
    before = freshness("hz", "/dashboard/rankings")
    engine = make_engine(url)
    with Session(engine) as session:
        version = find_version(session, *VERSION.split("@"))
        customer = session.exec(select(Customer).where(Customer.region == "Wenzhou")).first()
        now = datetime.now(UTC)
        session.add(Response(questionnaire_version_id=version.id, customer_id=customer.id,
                             channel="web", status="completed", completed_at=now))  # fmt: skip
        session.commit()
    engine.dispose()
    assert freshness("boss") == (1, 5001)
    assert freshness("boss", "/dashboard/priorities?dimension=network") == (1, 5001)
    assert freshness("hz", "/dashboard/rankings") == before  # Wenzhou's is not theirs


def test_a_matrix_is_cut_by_tier_hall_or_channel_when_such_an_analysis_is_stored(tmp_path):
    """Beside regions, the matrix page offers the other cuts of the analyses; a cut nobody
    computed yet says so above the whole matrix."""
    from api.analysis import result as stored_results
    from survey.analyses import jobs as analyses

    url = copy_to(tmp_path, people=["boss", "hz"])
    settings = Settings(database_url=url, public_base_url=BASE, env="test", secret_key=SECRET)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        assert log_in(client, "boss", PASSWORD).status_code in (200, 303)
        page = client.get("/dashboard/priorities?by=tier").text
        assert 'id="no-cut"' in page and '<svg class="matrix"' in page
        # A stored analysis cut by tier (its blocks relabelled: the page is under test here).
        engine = make_engine(url)
        with Session(engine) as session:
            whole = next(j for j in session.exec(select(Analysis)).all()
                         if j.request["period"] is None)  # fmt: skip
            job, _ = analyses.submit(session, whole.questionnaire_version_id,
                                     dict(whole.request, segment="tier"))  # fmt: skip
            result = json.loads(json.dumps(whole.result))
            result["segment"] = "tier"
            for view in result["priorities"].values():
                view["segments"] = [dict(b, segment=str(i + 1))
                                    for i, b in enumerate(view["segments"][:3])]  # fmt: skip
            analyses.complete(session, job.id, result, whole.provenance or {})
        engine.dispose()
        stored_results._READ.clear()
        page = client.get("/dashboard/priorities?by=tier&dimension=network").text
        assert 'id="no-cut"' not in page
        options = re.search(r'<select id="segment" name="segment">(.*?)</select>', page, re.S)
        assert re.findall(r'<option value="([^"]*)"', options.group(1)) == ["", "1", "2", "3"]
        one = client.get("/dashboard/priorities?by=tier&segment=2&dimension=network")
        assert one.status_code == 200 and '<svg class="matrix"' in one.text
        assert "2" in text(re.search(r'id="matrix-n">(.*?)</p>', one.text, re.S).group(1))
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        assert log_in(client, "hz", PASSWORD).status_code in (200, 303)
        # Tiers cut across regions: a manager of Hangzhou gets no tier's block.
        assert client.get("/dashboard/priorities?by=tier&segment=2").status_code == 404
    stored_results._READ.clear()

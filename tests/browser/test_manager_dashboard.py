"""Managers on a phone: the priority matrix of one dimension, per region and period.

The server is ``manyi serve`` on a copy of a database with computed analyses
(tests/analysed_demo.py): all data and April 2026, both cut by region.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.analysed_demo import MONTH, PASSWORD, copy_to
from tests.common import PHONE
from tests.service_process import serving

pytestmark = pytest.mark.browser

MATRIX = "/dashboard/priorities?dimension=network"


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard-browser")
    url = copy_to(folder)
    with serving(url, folder) as base:
        yield base


def sign_in(page, base: str, username: str, target: str):
    """Through the login page, which sends the person on to ``target``."""
    page.goto(f"{base}/login?next={quote(target, safe='')}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form button[type=submit]")


def choose(page, **values: str) -> None:
    for name, value in values.items():
        page.select_option(f"#matrix-filters select[name={name}]", value)
    with page.expect_navigation():
        page.click("#matrix-filters button[type=submit]")


def test_a_manager_switches_segment_and_period_and_sees_intervals_and_warnings(
    dashboard_server, phone_page
):
    sign_in(phone_page, dashboard_server, "boss", "/dashboard/priorities")
    assert "/dashboard/priorities" in phone_page.url
    choose(phone_page, dimension="network")
    points = phone_page.locator("svg.matrix a.pt")
    assert points.count() == 5
    # The hover: each point's title names the item with both intervals, its rank and tier.
    hover = points.first.locator("title").text_content()
    assert "importance" in hover and "performance" in hover and "[" in hover
    assert "tier" in hover and "P(" in hover
    whole = phone_page.locator("#points").inner_text()

    choose(phone_page, segment="Hangzhou")
    assert "segment=Hangzhou" in phone_page.url
    choose(phone_page, period=MONTH)
    assert f"period={MONTH}" in phone_page.url and "segment=Hangzhou" in phone_page.url
    assert phone_page.locator("#segment").input_value() == "Hangzhou"
    assert phone_page.locator("#period").input_value() == MONTH
    assert "Hangzhou" in phone_page.locator("#matrix-n").inner_text()
    table = phone_page.locator("#points")
    assert table.is_visible()
    assert table.inner_text() != whole  # another matrix: Hangzhou in April
    first_row = table.locator("tbody tr").first.inner_text()
    assert first_row.count("[") == 2  # importance and performance intervals
    warnings = phone_page.locator("#matrix-warnings")
    # Plain words for a manager: no warning code, no variable name.
    assert warnings.is_visible() and not re.search(r"[a-z]+[_-][a-z]+", warnings.inner_text())
    assert phone_page.locator("svg.matrix").is_visible()
    # Readable on a phone: nothing wider than the screen.
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_an_interviewer_is_refused_the_priority_matrix(dashboard_server, phone_page):
    sign_in(phone_page, dashboard_server, "ivy", "/calls")
    answer = phone_page.goto(dashboard_server + MATRIX)
    assert answer.status == 403
    assert "Not allowed" in phone_page.locator("main").inner_text()
    assert phone_page.locator("svg.matrix").count() == 0


def test_a_regional_manager_cannot_reach_another_regions_numbers(dashboard_server, phone_page):
    sign_in(phone_page, dashboard_server, "hz", MATRIX)
    options = phone_page.locator("#segment option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["", "Hangzhou"]
    assert phone_page.locator("#withheld").is_visible()  # no all-region totals either
    assert phone_page.locator("svg.matrix").count() == 0
    choose(phone_page, segment="Hangzhou")
    assert phone_page.locator("svg.matrix a.pt").count() == 5
    answer = phone_page.goto(f"{dashboard_server}{MATRIX}&segment=Wenzhou&period={MONTH}")
    assert answer.status == 404
    assert phone_page.locator("#not-in-scope").is_visible()
    assert phone_page.locator("svg.matrix").count() == 0
    assert phone_page.locator("#points").count() == 0
    assert "Wenzhou" not in phone_page.content()

"""A person opening Manyi's home page and API docs on a phone-sized screen."""

import pytest

pytestmark = pytest.mark.browser


def test_home_page_on_a_phone_shows_the_questionnaires_and_reaches_the_api(live_server, phone_page):
    phone_page.goto(live_server + "/")
    assert phone_page.locator("h1").inner_text() == "Manyi 满意"
    counts = phone_page.locator("ul.counts li strong").all_inner_texts()
    # The two sample questionnaires (CSI and the contact evaluation); the database's totals
    # are for signed-in staff who see everything.
    assert counts == ["2"]
    # Nothing is wider than the screen: no sideways scrolling on a 360-px phone.
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 360
    phone_page.get_by_role("link", name="Published questionnaires").click()
    assert "csi_mobile" in phone_page.locator("body").inner_text()


def test_api_docs_render_without_any_outside_network(live_server, phone_page):
    outside = []
    phone_page.on(
        "request",
        lambda r: None if r.url.startswith(live_server) else outside.append(r.url),
    )
    phone_page.goto(live_server + "/")
    phone_page.get_by_role("link", name="API documentation (OpenAPI)").click()
    phone_page.locator(".opblock-summary-path", has_text="/api/v1/questionnaires").first.wait_for()
    assert outside == []

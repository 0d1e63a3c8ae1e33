"""The web questionnaire at /s/{token} against SQLite and PostgreSQL, through HTTP only."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from survey.answering.pages import open_link
from survey.answering.submit import submit_page
from survey.db.tables import Answer, Invitation, utcnow
from tests.integration.answering.web_pages import (
    CONTENT,
    CSS,
    FULL,
    answer_all,
    answers_of,
    checked,
    csrf,
    form_action,
    post_page,
    progress,
    questions,
    response_rows,
    set_campaign,
)

# -- the flow ---------------------------------------------------------------------------------


def test_full_flow_completes_with_exactly_the_answers_given(engine, client, world):
    token = world["zh"][0]
    seen, reply = answer_all(client, token, FULL)
    # Grouped: 12 pages, both conditional pages asked after the answers that open them.
    assert [names for _, names, _ in seen][:2] == [
        ["img_advertising", "img_position", "img_innovation"],
        ["net_moving", "net_clarity", "net_coverage", "net_dropped", "net_data_speed"],
    ]
    assert len(seen) == 12
    assert ["complaint_topic"] in [names for _, names, _ in seen]
    done = client.get(reply.headers["location"])
    assert done.status_code == 200 and "感谢您的参与" in done.text
    [response] = response_rows(engine)
    assert response.status == "completed" and response.completed_at is not None
    assert response.questionnaire_version_id == world["version_id"]
    assert response.channel == "sms_link" and response.language == "zh"
    assert response.interviewer is None and response.service_hall is None
    assert answers_of(engine, response.id) == FULL
    with Session(engine) as session:
        statuses = session.execute(select(Invitation.status)).scalars().all()
    assert sorted(statuses).count("completed") == 1


def test_a_customer_never_sees_instructions_keys_scripts_or_the_interviewers_codes(client, world):
    # Every page of the sample, in both languages, through the customer's own link.
    for token in (world["zh"][0], world["en"][0]):
        seen, _ = answer_all(client, token, FULL)
        for _, names, page in seen:
            html = page.text
            assert 'class="instruction"' not in html and "<script" not in html, names
            assert "data-key" not in html and "data-desk" not in html, names
            for words in ("拒绝回答", "不知道", "Refused", "Don't know", "读出", "Read out"):
                assert words not in html, (names, words)
            for name in names:
                # 7 and 8 are scores on the 0-10 scale, refused and don't know on the others.
                codes = ("77", "88") if name == "nps" else ("7", "8", "77", "88")
                for code in codes:
                    assert f'name="{name}" value="{code}"' not in html, (name, code)
            assert "script-src" not in page.headers["content-security-policy"]


def test_reopening_a_completed_link_says_thank_you_not_invalid(engine, client, world):
    token = world["zh"][0]
    answer_all(client, token, FULL)
    for path in (f"/s/{token}", f"/s/{token}/p/1"):
        again = client.get(path)
        assert again.status_code == 200, path
        assert "您已经完成了这份问卷" in again.text and "感谢您的参与" in again.text
        assert "此链接无效" not in again.text and "<form" not in again.text  # nothing to resend
    [response] = response_rows(engine)
    assert response.status == "completed"
    # An unknown token still gets the unavailable page.
    assert client.get("/s/" + "x" * 43).status_code == 404


def test_progress_counts_the_pages_still_to_ask_as_skip_logic_opens_them(client, world):
    seen, _ = answer_all(client, world["zh"][1], FULL)
    positions = [progress(page.text) for _, _, page in seen]
    # Before "complained" and "sat_overall" are answered their follow-ups are not counted.
    assert positions[0] == (1, 10)
    assert positions[-1] == (12, 12)
    assert [p for p, _ in positions] == list(range(1, 13))


def test_skip_logic_leaves_out_questions_and_stores_no_answer_for_them(engine, client, world):
    seen, _ = answer_all(client, world["zh"][0], CONTENT)
    asked = [name for _, names, _ in seen for name in names]
    assert "complaint_topic" not in asked and "improve" not in asked
    assert len(seen) == 10
    [response] = response_rows(engine)
    assert answers_of(engine, response.id) == CONTENT


def test_changing_an_answer_that_opened_a_question_clears_it_on_completion(engine, client, world):
    token = world["zh"][0]
    seen, reply = answer_all(client, token, FULL, stop_after=7)
    assert seen[-1][1] == ["complaint_topic"]
    # Back to the yes/no page, change it to "no": the complaint question is skipped now.
    back = client.get(seen[5][0])
    assert checked(back.text) == {"complained": "yes"}
    reply = post_page(client, back.text, {"complained": "no"})
    assert reply.headers["location"].endswith("/p/8")
    assert client.get(f"/s/{token}/p/7").headers["location"].endswith("/p/8")
    answer_all(client, token, {**FULL, "complained": "no"})
    [response] = response_rows(engine)
    expected = {**FULL, "complained": "no"}
    del expected["complaint_topic"]
    assert answers_of(engine, response.id) == expected
    # The log keeps what was said, and a later empty row says it no longer counts.
    with Session(engine) as session:
        log = (
            session.execute(
                select(Answer.value)
                .where(Answer.response_id == response.id, Answer.item_name == "complaint_topic")
                .order_by(Answer.id)
            )
            .scalars()
            .all()
        )
    assert log == [FULL["complaint_topic"], None]


def test_cannot_answer_is_offered_on_rating_items_and_interviewer_codes_are_not(client, world):
    page = client.get(f"/s/{world['zh'][0]}")
    assert page.text.count('value="6"') == 3  # one "无法回答" per question of the page
    assert "无法回答" in page.text
    assert "拒绝回答" not in page.text and "不知道" not in page.text


def test_a_page_with_a_missing_required_answer_is_shown_again_and_nothing_is_stored(
    engine, client, world
):
    page = client.get(f"/s/{world['zh'][0]}")
    reply = client.post(
        form_action(page.text),
        data={"csrf": csrf(page.text), "img_advertising": "4", "img_position": "9"},
    )
    assert reply.status_code == 200
    assert "请回答此题" in reply.text and "请从给出的选项中选择" in reply.text
    assert checked(reply.text) == {"img_advertising": "4"}  # what was chosen is kept
    assert '<fieldset id="q-img_position" class="bad"' in reply.text
    assert '<fieldset id="q-img_innovation" class="bad"' in reply.text
    assert '<fieldset id="q-img_advertising" class="bad"' not in reply.text
    assert response_rows(engine) == []


def test_a_customer_resumes_on_another_device_where_they_stopped(engine, app, client, world):
    token = world["zh"][2]
    seen, _ = answer_all(client, token, FULL, stop_after=3)
    with TestClient(app, follow_redirects=False) as phone:
        page = phone.get(f"/s/{token}")
        assert page.status_code == 200
        assert form_action(page.text) == f"/s/{token}/p/4"
        assert progress(page.text)[0] == 4
        # The earlier answers are there behind the back link.
        back = re.search(r'<a href="([^"]+)">上一页</a>', page.text).group(1)
        assert back == f"/s/{token}/p/3"
        earlier = phone.get(f"/s/{token}/p/2")
        assert checked(earlier.text) == {n: FULL[n] for n in seen[1][1]}
        answer_all(phone, token, FULL)
    [response] = response_rows(engine)
    assert response.status == "completed"
    assert answers_of(engine, response.id) == FULL


def test_going_back_and_changing_an_answer_keeps_one_response_with_the_change(
    engine, client, world
):
    token = world["zh"][0]
    answer_all(client, token, FULL, stop_after=2)
    first = client.get(f"/s/{token}/p/1")
    assert checked(first.text) == {
        n: FULL[n] for n in ("img_advertising", "img_position", "img_innovation")
    }
    reply = post_page(client, first.text, {**FULL, "img_position": "1"})
    assert reply.headers["location"] == f"/s/{token}/p/2"
    # Posting the same page again unchanged adds no rows.
    with Session(engine) as session:
        before = session.execute(select(func.count()).select_from(Answer)).scalar_one()
    post_page(client, client.get(f"/s/{token}/p/1").text, {**FULL, "img_position": "1"})
    with Session(engine) as session:
        after = session.execute(select(func.count()).select_from(Answer)).scalar_one()
    assert after == before
    answer_all(client, token, FULL)
    [response] = response_rows(engine)
    assert answers_of(engine, response.id) == {**FULL, "img_position": "1"}


def test_the_final_submit_twice_gives_one_completed_response(engine, client, world):
    token = world["zh"][0]
    seen, _ = answer_all(client, token, FULL, stop_after=11)
    last = client.get(f"/s/{token}")
    assert questions(last.text) == ["nps"] and ">提交<" in last.text
    first = post_page(client, last.text, FULL)
    with Session(engine) as session:
        rows = session.execute(select(func.count()).select_from(Answer)).scalar_one()
    second = post_page(client, last.text, {**FULL, "nps": "10"})
    assert first.status_code == second.status_code == 303
    assert "/done?k=" in first.headers["location"] and "/done?k=" in second.headers["location"]
    assert client.get(second.headers["location"]).status_code == 200
    [response] = response_rows(engine)
    assert response.status == "completed"
    assert answers_of(engine, response.id)["nps"] == FULL["nps"]
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Answer)).scalar_one() == rows


def test_two_completing_saves_racing_on_one_response_store_only_the_first(engine, client, world):
    # Two taps that both read the response before either completed it: the database-level
    # guard (a conditional UPDATE of the status) lets one through.
    token = world["zh"][0]
    answer_all(client, token, FULL, stop_after=11)
    with Session(engine) as one, Session(engine) as two:
        first, second = open_link(one, token), open_link(two, token)
        number = len(first.pages)
        done = submit_page(one.connection(), first, number, {"nps": ["4"], "lang": ["zh"]})
        assert (done.outcome, done.written) == ("completed", True)
        one.commit()
        late = submit_page(two.connection(), second, number, {"nps": ["10"], "lang": ["zh"]})
        assert (late.outcome, late.written) == ("completed", False)
        two.rollback()
    [response] = response_rows(engine)
    assert response.status == "completed"
    assert answers_of(engine, response.id) == FULL


# -- links that do not open -------------------------------------------------------------------


def test_unknown_expired_and_closed_links_get_the_same_page(engine, client, world):
    # A used link thanks its customer instead (test_reopening_a_completed_link_...).
    used, expired = world["zh"][0], world["zh"][1]
    answer_all(client, used, FULL)
    pages = {
        "unknown": client.get("/s/AAAAAAAAAAAAAAAAAAAAAA"),
        "bad page number": client.get(f"/s/{expired}/p/99"),
        "not a number": client.get(f"/s/{expired}/p/x"),
        "done without marker": client.get(f"/s/{used}/done?k=1.forged"),
    }
    set_campaign(engine, world["campaign_id"], expires_at=utcnow() - timedelta(minutes=1))
    pages["expired"] = client.get(f"/s/{expired}")
    set_campaign(engine, world["campaign_id"], expires_at=None, status="closed")
    pages["closed"] = client.get(f"/s/{expired}")
    bodies = {name: page.content for name, page in pages.items()}
    assert {page.status_code for page in pages.values()} == {404}
    assert len(set(bodies.values())) == 1, sorted(bodies)
    body = pages["unknown"].text
    assert "此链接无效或已过期" in body and "This link is not valid" in body
    assert used not in body and expired not in body
    assert pages["unknown"].headers["cache-control"] == "no-store"


def test_a_post_without_the_right_csrf_field_is_refused_and_stores_nothing(engine, client, world):
    token, other = world["zh"][0], world["zh"][1]
    page = client.get(f"/s/{token}")
    answers = {"img_advertising": "4", "img_position": "5", "img_innovation": "3"}
    refusals = [
        client.post(f"/s/{token}/p/1", data=answers),
        client.post(f"/s/{token}/p/1", data={**answers, "csrf": "forged"}),
        client.post(f"/s/{other}/p/1", data={**answers, "csrf": csrf(page.text)}),
        client.post("/s/AAAAAAAAAAAAAAAAAAAAAA/p/1", data={**answers, "csrf": "x"}),
    ]
    assert [r.status_code for r in refusals] == [403] * 4
    assert len({r.content for r in refusals}) == 1
    assert "无法提交此页面" in refusals[0].text and "could not be submitted" in refusals[0].text
    assert response_rows(engine) == []
    assert post_page(client, page.text, answers).status_code == 303


def test_every_answer_to_a_post_is_kept_out_of_caches_and_referrers_once(client, world):
    """The saved page's redirect, a page with errors, a refusal and an unknown link alike."""
    from api.web.answering_pages import SECURITY_HEADERS

    token = world["zh"][0]
    page = client.get(f"/s/{token}")
    answers = {"img_advertising": "4", "img_position": "5", "img_innovation": "3"}
    replies = {
        "saved": post_page(client, page.text, answers),
        "errors": post_page(client, page.text, {"img_advertising": "9"}),
        "refused": client.post(f"/s/{token}/p/1", data={**answers, "csrf": "forged"}),
        "past the last page": client.post(
            f"/s/{token}/p/99", data={**answers, "csrf": csrf(page.text)}
        ),
    }
    assert [r.status_code for r in replies.values()] == [303, 200, 403, 404]
    for name, reply in replies.items():
        for header, value in SECURITY_HEADERS.items():
            assert reply.headers.get_list(header) == [value], (name, header)


# -- language, layout, weight, accessibility --------------------------------------------------


def test_the_customers_language_is_used_and_the_switch_changes_it(engine, client, world):
    token = world["en"][0]
    english = client.get(f"/s/{token}")
    assert '<html lang="en">' in english.text and ">Next<" in english.text
    assert "How do you rate our advertising?" in english.text
    assert 'href="?lang=zh"' in english.text
    chinese = client.get(f"/s/{token}?lang=zh")
    assert '<html lang="zh-CN">' in chinese.text and "您对我们的广告宣传评价如何" in chinese.text
    assert 'name="lang" value="zh"' in chinese.text
    reply = post_page(client, chinese.text, FULL, lang="zh")
    following = client.get(reply.headers["location"])
    assert ">下一页<" in following.text and 'href="?lang=en"' in following.text
    [response] = response_rows(engine)
    assert response.language == "zh"
    # Switching back is remembered for the rest of the response, on any device.
    client.get(f"/s/{token}/p/2?lang=en")
    assert ">Next<" in client.get(f"/s/{token}").text
    assert response_rows(engine)[0].language == "en"


def test_single_layout_asks_one_question_per_page(engine, client, world):
    set_campaign(engine, world["campaign_id"], layout="single")
    seen, _ = answer_all(client, world["zh"][0], CONTENT)
    assert all(len(names) == 1 for _, names, _ in seen)
    assert len(seen) == len(CONTENT) == 31
    assert progress(seen[0][2].text) == (1, 31)
    [response] = response_rows(engine)
    assert answers_of(engine, response.id) == CONTENT


def test_every_page_weighs_under_50_kb_with_its_css_and_loads_nothing_else(client, world):
    seen, _ = answer_all(client, world["zh"][0], FULL)
    for _, _, page in seen:
        # The CSS is inline: the HTML is the whole page.
        assert len(page.content) < 50_000
        assert "<script" not in page.text and "<link" not in page.text and "src=" not in page.text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    assert max(len(page.content) for _, _, page in seen) > CSS.stat().st_size


def test_css_forces_no_width_that_would_overflow_a_360_px_screen():
    # Fixed and minimum widths (not max-width) in px or rem (16 px) must fit in 360 px less
    # the page's 1 rem padding on each side; percentages always fit.
    forced = re.findall(r"(?<![-\w])(?:min-)?width:([\d.]+)(px|rem)", CSS.read_text())
    assert forced, "the test must see the widths the stylesheet sets"
    for value, unit in forced:
        assert float(value) * (16 if unit == "rem" else 1) <= 360 - 2 * 16, (value, unit)


class _Structure(HTMLParser):
    """Collects what the accessibility check needs: inputs, labels, fieldsets, legends."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict] = []
        self.label_for: set[str] = set()
        self.in_label = 0
        self.fieldsets = 0
        self.legends = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if "for" in attrs:
                self.label_for.add(attrs["for"])
        elif tag in ("input", "textarea") and attrs.get("type") != "hidden":
            self.inputs.append({**attrs, "wrapped": self.in_label > 0})
        elif tag == "fieldset":
            self.fieldsets += 1
        elif tag == "legend":
            self.legends += 1

    def handle_endtag(self, tag):
        if tag == "label":
            self.in_label -= 1


def test_every_input_has_a_label_and_every_group_a_legend(client, world):
    seen, _ = answer_all(client, world["zh"][0], FULL)
    for _, _, page in seen:
        structure = _Structure()
        structure.feed(page.text)
        assert structure.inputs
        for field in structure.inputs:
            assert field["wrapped"] or field.get("id") in structure.label_for, field
        radios = {f["name"] for f in structure.inputs if f.get("type") == "radio"}
        assert structure.fieldsets == structure.legends == len(radios)


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2.x contrast ratio of two #rrggbb colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_wcag_reference_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast("#777777", "#ffffff") < 4.5


def test_text_colours_contrast_at_least_4_5_to_1_with_their_backgrounds():
    colours = dict(re.findall(r"--([a-z-]+):(#[0-9a-f]{6})", CSS.read_text()))
    text_on_background = [
        ("fg", "bg"),
        ("muted", "bg"),
        ("accent", "bg"),
        ("error", "bg"),
        ("fg", "panel"),
        ("muted", "panel"),
        ("on-accent", "accent"),
    ]
    for text, background in text_on_background:
        assert contrast(colours[text], colours[background]) >= 4.5, (text, background)
    # Borders and the focus ring are not text: WCAG asks 3:1 of them.
    for part in ("line", "focus", "error"):
        assert contrast(colours[part], colours["bg"]) >= 3.0, part

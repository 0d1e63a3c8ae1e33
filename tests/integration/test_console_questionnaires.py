"""The console's questionnaires (/console/questionnaires): upload, problems located, preview,
publish, on SQLite and PostgreSQL, through real logins.

A file is checked as ``manyi questionnaire validate`` checks it: the problems shown are the
CLI's, located the same way. The previews are drawn by the respondent's page template.
"""

from __future__ import annotations

import html
import io
import re

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlmodel import Session, select

from api.settings import Settings
from api.web.app import create_app
from survey.db.tables import AuditLog, QuestionnaireDraft, QuestionnaireVersion
from survey.questionnaire import QuestionnaireError, load_questionnaire
from survey.staff.accounts import create_staff
from tests.common import SAMPLES
from tests.integration.staff_login import PASSWORD, SECRET, field, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

BASE = "https://manyi.example.org"
HERE = "/console/questionnaires"
UPLOAD = f"{HERE}/drafts"
SAMPLE = (SAMPLES / "csi_questionnaire.yaml").read_text("utf-8")


@pytest.fixture
def people(engine):
    with Session(engine) as session:
        for username, role in (("rita", "researcher"), ("ada", "admin"), ("max", "manager"),
                               ("ivy", "interviewer")):  # fmt: skip
            create_staff(session, username, role, PASSWORD)


@pytest.fixture
def login(engine, database_url, people):
    clients = []

    def open_as(username: str) -> TestClient:
        settings = Settings(database_url=database_url, public_base_url=BASE, env="test",
                            secret_key=SECRET)  # fmt: skip
        client = TestClient(create_app(settings), base_url="https://testserver",
                            follow_redirects=False)  # fmt: skip
        client.__enter__()
        clients.append(client)
        assert log_in(client, username).status_code == 303
        return client

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def rita(login):
    return login("rita")


def csrf_of(client: TestClient) -> str:
    return field(client.get(HERE).text, "csrf")


def upload(client: TestClient, name: str, content: bytes, csrf: str | None = None):
    csrf = csrf_of(client) if csrf is None else csrf
    files = {"file": (name, io.BytesIO(content), "application/octet-stream")}
    return client.post(UPLOAD, data={"csrf": csrf}, files=files)


def draft_id(response) -> int:
    assert response.status_code == 303, response.text
    match = re.fullmatch(rf"{UPLOAD}/(\d+)\?m=uploaded", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


def text_of(page: str) -> str:
    """A page's text without tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def cli_problems(tmp_path, name: str, content: bytes) -> list:
    """The problems ``manyi questionnaire validate`` reports for the same file."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path)
    return list(caught.value.problems)


def drafts(engine) -> list[QuestionnaireDraft]:
    with Session(engine) as session:
        return list(session.exec(select(QuestionnaireDraft)).all())


def audited(engine) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
        return [(row.action, row.target) for row in rows if row.action.startswith("questionn")]


BROKEN = (
    SAMPLE.replace("name: img_position, type: rating", "name: img_position, type: ratting")
    .replace("- {name: net_clarity,", "- {name: Net-Clarity,")
    .encode()
)


def workbook(version: str = "1", item_type: str = "rating") -> bytes:
    """A small XLSForm-like questionnaire: two ratings and a conditional text."""
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::zh", "label::en", "required", "relevant",
                   "instruction::zh", "instruction::en"])  # fmt: skip
    survey.append([f"{item_type} five", "service", "服务如何", "How was the service", "true",
                   None, "读出五个选项", "Read the five answers"])  # fmt: skip
    survey.append(["rating five", "staff", "员工如何", "How were the staff", "true", None,
                   None, None])  # fmt: skip
    survey.append(["text", "why", "为什么不满意", "Why not satisfied", None,
                   "${service} <= 2", None, None])  # fmt: skip
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label::zh", "label::en", "score"])
    for score, (zh, en) in enumerate((("很差", "Very poor"), ("差", "Poor"), ("一般", "Fair"),
                                      ("好", "Good"), ("很好", "Very good")), start=1):  # fmt: skip
        choices.append(["five", str(score), zh, en, score])
    settings = book.create_sheet("settings")
    settings.append(["form_id", "version", "default_language", "languages", "title::zh",
                     "title::en"])  # fmt: skip
    settings.append(["hall_visit", version, "zh", "zh,en", "营业厅回访", "Service hall visit"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- the list ------------------------------------------------------------------------------


def test_the_list_shows_published_versions_with_previews_and_an_upload_form(engine, rita):
    with Session(engine) as session:
        session.add(QuestionnaireVersion(form_id="csi_mobile", version="2026.1", title="移动",
                                         content_hash="x" * 64, document={}))  # fmt: skip
        session.commit()
    page = rita.get(HERE)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert 'type="file" id="file" name="file" accept=".yaml,.yml,.xlsx"' in page.text
    assert '<label for="file">' in page.text
    assert f'href="{HERE}/versions/csi_mobile/2026.1/preview"' in page.text
    assert "csi_mobile" in page.text and "移动" in page.text


# -- upload, problems, fix, preview, publish -----------------------------------------------


def test_a_file_with_errors_lists_every_problem_located_as_the_cli_does(engine, rita, tmp_path):
    response = upload(rita, "csi.yaml", BROKEN)
    number = draft_id(response)
    page = rita.get(f"{UPLOAD}/{number}?m=uploaded")
    assert page.status_code == 200
    expected = cli_problems(tmp_path, "csi.yaml", BROKEN)
    assert len(expected) >= 2
    shown = text_of(page.text)
    for problem in expected:
        assert text_of(html.escape(problem.location)) in shown
        assert text_of(html.escape(problem.message)) in shown
        assert text_of(html.escape(problem.fix)) in shown
    assert re.search(r"items\[\d+\]\.type \(line \d+\)", shown)
    assert "Publish" not in page.text.split("Problems to fix")[1]
    (stored,) = drafts(engine)
    assert stored.document is None and stored.filename == "csi.yaml"
    assert [p["code"] for p in stored.problems] == [p.code for p in expected]
    # Nothing to preview or publish.
    assert rita.get(f"{UPLOAD}/{number}/preview").status_code == 409
    refused = rita.post(f"{UPLOAD}/{number}/publish", data={"csrf": csrf_of(rita)})
    assert refused.status_code == 409 and "cannot be published" in refused.text
    assert audited(engine) == [("questionnaire_uploaded", f"questionnaire_draft:{number}")]


def test_a_workbook_s_problems_are_located_by_sheet_row_and_column(rita, tmp_path):
    content = workbook(item_type="ratting")
    number = draft_id(upload(rita, "hall.xlsx", content))
    shown = text_of(rita.get(f"{UPLOAD}/{number}").text)
    for problem in cli_problems(tmp_path, "hall.xlsx", content):
        assert text_of(html.escape(problem.location)) in shown
    assert "survey sheet, row 2" in shown


def test_a_valid_workbook_is_ready_and_its_preview_shows_its_questions(rita):
    number = draft_id(upload(rita, "hall.xlsx", workbook()))
    shown = text_of(rita.get(f"{UPLOAD}/{number}").text)
    assert "ready to publish" in shown and "hall_visit" in shown and "3 questions" in shown
    text = text_of(rita.get(f"{UPLOAD}/{number}/preview?view=interviewer&lang=zh").text)
    assert "服务如何" in text and "读出五个选项" in text and "为什么不满意" in text
    assert "只在以下条件成立时提问 asked only when : “服务如何” ≤ 2 “差”" in text


def test_a_fixed_file_is_ready_previews_in_both_views_and_languages_and_publishes(engine, rita):
    number = draft_id(upload(rita, "csi.yaml", SAMPLE.encode()))
    page = rita.get(f"{UPLOAD}/{number}")
    shown = text_of(page.text)
    assert "ready to publish" in shown and "csi_mobile" in shown and "2026.1" in shown
    assert (
        f"{len(load_questionnaire(SAMPLES / 'csi_questionnaire.yaml')[0].items)} questions" in shown
    )
    for view in ("customer", "interviewer"):
        for lang in ("zh", "en"):
            assert f"{UPLOAD}/{number}/preview?view={view}&amp;lang={lang}" in page.text

    publish = rita.post(f"{UPLOAD}/{number}/publish", data={"csrf": field(page.text, "csrf")})
    assert publish.status_code == 303
    assert publish.headers["location"] == f"{UPLOAD}/{number}?m=published"
    with Session(engine) as session:
        (version,) = session.exec(select(QuestionnaireVersion)).all()
        assert (version.form_id, version.version) == ("csi_mobile", "2026.1")
        assert session.get(QuestionnaireDraft, number).published_version_id == version.id
    after = rita.get(publish.headers["location"])
    assert f'href="{HERE}/versions/csi_mobile/2026.1/preview"' in after.text
    assert (
        "Published." in after.text and 'action="' + f"{UPLOAD}/{number}/publish" not in after.text
    )
    assert ("questionnaire_published", f"questionnaire_version:{version.id}") in audited(engine)

    # Publishing the same content again, from a new upload, is the same version.
    again = draft_id(upload(rita, "csi-copy.yaml", SAMPLE.encode()))
    assert rita.post(f"{UPLOAD}/{again}/publish", data={"csrf": csrf_of(rita)}).status_code == 303
    with Session(engine) as session:
        assert len(session.exec(select(QuestionnaireVersion)).all()) == 1
        assert session.get(QuestionnaireDraft, again).published_version_id == version.id


@pytest.fixture
def published(engine):
    from survey.questionnaire.publish import publish

    questionnaire, _ = load_questionnaire(SAMPLES / "csi_questionnaire.yaml")
    with Session(engine) as session:
        publish(session, questionnaire)
    return questionnaire


CHANGED = SAMPLE.replace("How do you rate our advertising?", "Our advertising?")


def test_changed_content_under_a_published_version_says_to_raise_the_version(
    engine, rita, published
):
    number = draft_id(upload(rita, "csi-changed.yaml", CHANGED.encode()))
    shown = text_of(rita.get(f"{UPLOAD}/{number}").text)
    assert "already published with different content" in shown
    assert 'version: "2026.2"' in shown
    with Session(engine) as session:
        assert session.get(QuestionnaireDraft, number).document is None
        assert len(session.exec(select(QuestionnaireVersion)).all()) == 1


def test_publishing_a_draft_whose_version_was_published_since_is_refused_with_words(
    engine, rita, published, tmp_path
):
    path = tmp_path / "changed.yaml"
    path.write_text(CHANGED, "utf-8")
    changed, _ = load_questionnaire(path)
    with Session(engine) as session:
        draft = QuestionnaireDraft(filename="changed.yaml", form_id="csi_mobile",
                                   version="2026.1", document=dict(changed.document))  # fmt: skip
        session.add(draft)
        session.commit()
        number = draft.id
    response = rita.post(f"{UPLOAD}/{number}/publish", data={"csrf": csrf_of(rita)})
    assert response.status_code == 409
    shown = text_of(response.text)
    assert "already published with different content" in shown and "2026.2" in shown
    with Session(engine) as session:
        assert session.get(QuestionnaireDraft, number).published_version_id is None
        (version,) = session.exec(select(QuestionnaireVersion)).all()
        assert version.content_hash == published.content_hash


# -- previews ------------------------------------------------------------------------------


def preview(client, view: str, lang: str) -> str:
    response = client.get(f"{HERE}/versions/csi_mobile/2026.1/preview?view={view}&lang={lang}")
    assert response.status_code == 200, response.text
    return response.text


def test_the_customer_preview_shows_every_question_of_every_page_without_a_way_to_send(
    rita, published
):
    for lang in ("zh", "en"):
        page = preview(rita, "customer", lang)
        text = text_of(page)
        for item in published.items:
            assert text_of(html.escape(item.label[lang])) in text, item.name
        # Customers never see the interviewers' instructions nor their missing codes.
        assert 'class="instruction"' not in page
        assert ("拒绝回答" if lang == "zh" else "Refused") not in text
        assert page.count('<fieldset class="pv-body" disabled>') == 12
        assert 'name="csrf" value=""' in page
        ids = re.findall(r'\sid="([^"]+)"', page)
        assert len(ids) == len(set(ids))
        assert "Preview" in text and "nothing is stored" in text


def test_the_interviewer_preview_is_the_desk_with_instructions_and_interviewer_codes(
    rita, published
):
    page = preview(rita, "interviewer", "en")
    assert '<body class="desk">' in page
    assert 'class="instruction"' in page
    assert "Read the question, not the answers." in html.unescape(page)
    assert "Refused" in page and "Don&#39;t know" in page
    assert 'data-key="1"' in page
    # The language links keep the view.
    assert 'href="?view=interviewer&amp;lang=zh"' in page


def test_a_conditional_question_says_when_it_is_asked(rita, published):
    text = text_of(preview(rita, "customer", "en"))
    assert "asked only when : “Have you made a complaint in the past 12 months?” = “Yes”" in text
    assert (
        "asked only when : “Overall, how satisfied are you with our service?” ≤ 2 "
        "“Dissatisfied” ${sat_overall} <= 2" in text
    )


def test_an_unknown_version_or_draft_is_not_found(rita):
    assert rita.get(f"{HERE}/versions/csi_mobile/9.9/preview").status_code == 404
    assert rita.get(f"{UPLOAD}/999").status_code == 404
    assert rita.get(f"{UPLOAD}/999/preview").status_code == 404


# -- refused files -------------------------------------------------------------------------

BAD_FILES = [
    pytest.param("empty.yaml", b"", 400, "is empty", id="empty"),
    pytest.param("notes.txt", b"form_id: x\n", 415, "upload a .yaml, .yml or .xlsx", id="txt"),
    pytest.param("junk.xlsx", bytes(range(256)) * 8, 422, "cannot be read", id="junk-xlsx"),
    pytest.param(
        "latin.yaml", "form_id: café\n".encode("latin-1"), 422, "not UTF-8", id="not-utf8"
    ),  # fmt: skip
    pytest.param("big.yaml", b"#" * (2 * 1024 * 1024 + 1), 413, "larger than 2 MB", id="too-big"),
]


@pytest.mark.parametrize(("name", "content", "status", "words"), BAD_FILES)
def test_a_file_that_is_no_questionnaire_is_refused_with_words_and_nothing_stored(
    engine, rita, name, content, status, words
):
    response = upload(rita, name, content)
    assert response.status_code == status
    assert words in text_of(response.text)
    assert "nothing was stored" in response.text
    assert drafts(engine) == [] and audited(engine) == []


def test_no_file_chosen_is_refused_with_words(engine, rita):
    nothing = {"file": ("", io.BytesIO(b""), "application/octet-stream")}
    response = rita.post(UPLOAD, data={"csrf": csrf_of(rita)}, files=nothing)
    assert response.status_code == 400 and "No file was chosen" in response.text
    assert drafts(engine) == []


# -- who may ---------------------------------------------------------------------------------

ROUTES = [
    ("get", HERE),
    ("get", f"{UPLOAD}/1"),
    ("get", f"{UPLOAD}/1/preview"),
    ("get", f"{HERE}/versions/csi_mobile/2026.1/preview"),
    ("post", UPLOAD),
    ("post", f"{UPLOAD}/1/publish"),
]


@pytest.mark.parametrize("username", ["max", "ivy"])
def test_managers_and_interviewers_are_refused_every_route(engine, login, username):
    client = login(username)
    # A CSRF field of the reader's own session: the refusal is the role's, not the form's.
    csrf = field(client.get("/me").text, "csrf")
    for method, path in ROUTES:
        if method == "get":
            response = client.get(path)
        else:
            response = client.post(path, data={"csrf": csrf})
        assert response.status_code == 403, (username, path, response.status_code)
    assert drafts(engine) == []


def test_an_admin_may_use_the_questionnaires(login):
    assert login("ada").get(HERE).status_code == 200


def test_a_publish_without_the_csrf_field_is_refused(engine, rita, sample_questionnaire):
    with Session(engine) as session:
        draft = QuestionnaireDraft(filename="x.yaml", form_id="csi_mobile", version="2026.1",
                                   document=dict(sample_questionnaire.document))  # fmt: skip
        session.add(draft)
        session.commit()
        number = draft.id
    assert rita.post(f"{UPLOAD}/{number}/publish", data={}).status_code == 403
    assert rita.post(f"{UPLOAD}/{number}/publish", data={"csrf": "forged"}).status_code == 403
    with Session(engine) as session:
        assert session.get(QuestionnaireDraft, number).published_version_id is None
        assert session.exec(select(QuestionnaireVersion)).all() == []


def test_an_upload_without_the_csrf_field_is_refused_and_nothing_stored(engine, rita):
    files = {"file": ("csi.yaml", io.BytesIO(SAMPLE.encode()), "application/x-yaml")}
    assert rita.post(UPLOAD, files=files).status_code == 403
    assert drafts(engine) == []


def test_signed_out_readers_are_sent_to_the_login(database_url, people):
    settings = Settings(database_url=database_url, public_base_url=BASE, env="test",
                        secret_key=SECRET)  # fmt: skip
    with TestClient(create_app(settings), base_url="https://testserver",
                    follow_redirects=False) as client:  # fmt: skip
        response = client.get(HERE)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")

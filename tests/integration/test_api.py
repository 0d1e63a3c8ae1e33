"""The web application against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.questionnaire import questionnaire_from_document
from survey.questionnaire.publish import publish


@pytest.fixture
def client(engine, database_url, sample_questionnaire):
    with Session(engine) as session:
        publish(session, sample_questionnaire)
    app = create_app(Settings(database_url=database_url))
    with TestClient(app) as client:
        yield client


def test_home_page_says_what_manyi_is_and_links_the_api_docs(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "Manyi" in page.text and "满意" in page.text
    assert 'href="/docs"' in page.text
    assert "<strong>1</strong> questionnaire versions" in page.text


def test_api_docs_and_openapi_are_served(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/api/v1/questionnaires" in schema["paths"]


def test_health_reports_a_current_schema(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["schema_revision"] == body["schema_head"]


def test_published_questionnaires_are_listed_and_readable(client, sample_questionnaire):
    listed = client.get("/api/v1/questionnaires").json()
    assert (listed["total"], listed["limit"], listed["offset"], listed["next"]) == (1, 50, 0, None)
    items = listed["items"]
    assert [(q["form_id"], q["version"]) for q in items] == [("csi_mobile", "2026.1")]
    assert items[0]["content_hash"] == sample_questionnaire.content_hash
    one = client.get("/api/v1/questionnaires/csi_mobile/2026.1").json()
    assert one["document"]["model"] == sample_questionnaire.structural_model


def test_unknown_questionnaire_version_is_a_404_that_says_which(client):
    response = client.get("/api/v1/questionnaires/csi_mobile/1999.1")
    assert response.status_code == 404
    error = response.json()["error"]
    assert (error["status"], error["code"], error["details"]) == (404, "not_found", [])
    assert "1999.1" in error["message"]


def publish_versions(engine, questionnaire, versions):
    with Session(engine) as session:
        for version in versions:
            document = {**questionnaire.document, "version": version}
            publish(session, questionnaire_from_document(document))


def test_the_questionnaire_list_comes_in_pages_with_a_link_to_the_next(
    engine, client, sample_questionnaire
):
    publish_versions(engine, sample_questionnaire, [f"2027.{n}" for n in range(1, 5)])
    seen, url, pages = [], "/api/v1/questionnaires?limit=2", 0
    while url is not None:
        page = client.get(url).json()
        assert page["total"] == 5 and page["limit"] == 2 and len(page["items"]) <= 2
        seen += [q["version"] for q in page["items"]]
        url, pages = page["next"], pages + 1
    assert pages == 3
    # Oldest first, every version once.
    assert seen == ["2026.1", "2027.1", "2027.2", "2027.3", "2027.4"]
    beyond = client.get("/api/v1/questionnaires", params={"offset": 10}).json()
    assert beyond["items"] == [] and beyond["total"] == 5 and beyond["next"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "offset=-1", "limit=x"])
def test_a_page_outside_the_limits_is_a_422_naming_the_parameter(client, query):
    response = client.get(f"/api/v1/questionnaires?{query}")
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (422, "validation_error")
    name = query.split("=")[0]
    assert [detail["location"] for detail in error["details"]] == [["query", name]]
    assert all(detail["message"] for detail in error["details"])


def test_api_errors_share_one_shape_and_pages_keep_theirs(client):
    unknown = client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    wrong_method = client.delete("/api/v1/questionnaires")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    malformed = client.get("/api/v1/questionnaires/CSI-mobile/2026.1")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["location"] == ["path", "form_id"]
    # Outside /api/, pages for people, in zh and en, with the pages' headers.
    missing = client.get("/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "找不到此页面" in missing.text and "Page not found" in missing.text
    assert "detail" not in missing.text
    assert missing.headers["content-security-policy"].startswith("default-src 'none'")
    wrong_method = client.delete("/login")
    assert wrong_method.status_code == 405 and "不能这样打开此页面" in wrong_method.text
    assert "GET" in wrong_method.headers["allow"]


def test_an_unexpected_exception_is_a_generic_500_in_the_api_shape_and_logged(database_url, caplog):
    app = create_app(Settings(database_url=database_url))

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/boom")
    def page_boom():
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom")
        page = client.get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (500, "internal_error")
    assert "secret" not in response.text
    assert page.status_code == 500 and "secret" not in page.text
    assert "出错了" in page.text and "try again" in page.text
    # The outermost handler answers, outside the security-headers middleware: the answers
    # carry the headers themselves.
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    logged = [r for r in caplog.records if r.name == "api.web.errors"]
    assert "GET /api/v1/boom" in logged[0].getMessage() and logged[0].exc_info


def test_openapi_declares_the_api_key_and_the_error_body(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "manyi_...",
        "description": schema["components"]["securitySchemes"]["apiKey"]["description"],
    }  # fmt: skip
    me = schema["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"apiKey": []}]
    assert me["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "HTTPValidationError" not in schema["components"]["schemas"]

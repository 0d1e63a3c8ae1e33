"""The web application against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from api.settings import Settings
from survey.publish import publish


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
    assert [(q["form_id"], q["version"]) for q in listed] == [("csi_mobile", "2026.1")]
    assert listed[0]["content_hash"] == sample_questionnaire.content_hash
    one = client.get("/api/v1/questionnaires/csi_mobile/2026.1").json()
    assert one["document"]["model"] == sample_questionnaire.structural_model


def test_unknown_questionnaire_version_is_a_404_that_says_which(client):
    response = client.get("/api/v1/questionnaires/csi_mobile/1999.1")
    assert response.status_code == 404
    assert "1999.1" in response.json()["detail"]

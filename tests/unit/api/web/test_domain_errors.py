"""A domain error no route handled is answered in one place: its status by its kind, its
message as the API's error body or as a short page."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.web import errors
from survey.answering.pages import LinkUnavailable
from survey.campaigns.lifecycle import CampaignError
from survey.errors import SurveyError
from survey.questionnaire.publish import VersionConflict


def raising(error: Exception) -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/api/v1/thing")
    @app.get("/page")
    def thing():
        raise error

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (LinkUnavailable("no such link"), 404, "not_found"),
        (VersionConflict("csi_mobile 2026.1 is already published"), 409, "conflict"),
        (CampaignError("unknown channel(s) ['fax']"), 422, "validation_error"),
        (SurveyError("something the domain refused"), 400, "bad_request"),
    ],
)
def test_a_domain_error_gets_the_status_of_its_kind_and_its_message(error, status, code):
    client = raising(error)
    answer = client.get("/api/v1/thing")
    assert answer.status_code == status
    assert answer.json() == {"error": {"status": status, "code": code, "message": str(error),
                                       "details": []}}  # fmt: skip
    page = client.get("/page")
    assert page.status_code == status and "text/html" in page.headers["content-type"]
    assert str(error).replace("'", "&#x27;") in page.text


def test_a_message_with_markup_is_escaped_on_a_page():
    page = raising(CampaignError("<script>alert(1)</script>")).get("/page")
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text

"""Errors outside /api/ are pages for people, in zh and en, with where to go next; the JSON
API keeps its error body."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.web import errors


def client() -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/api/v1/day")
    @app.get("/day")
    def day(day: int):
        return day

    return TestClient(app, raise_server_exceptions=False)


def test_a_missing_page_is_a_page_in_both_languages_with_a_way_home():
    answer = client().get("/no-such-page")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert "找不到此页面" in answer.text and "Page not found" in answer.text
    assert 'href="/"' in answer.text and "detail" not in answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-frame-options"] == "DENY"


def test_a_value_a_page_cannot_use_is_named_on_a_page_not_in_json():
    answer = client().get("/day?day=yesterday")
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
    assert "无法使用此请求" in answer.text and "(day)" in answer.text
    assert "yesterday" not in answer.text  # the value itself is never echoed


def test_a_wrong_method_names_what_the_address_takes():
    answer = client().post("/day")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET"
    assert "不能这样打开此页面" in answer.text


def test_the_json_api_keeps_its_error_body():
    api = client()
    assert api.get("/api/v1/nothing").json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/day?day=x").json()["error"]["details"][0]["location"] == [
        "query",
        "day",
    ]

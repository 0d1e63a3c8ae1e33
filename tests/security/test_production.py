"""Production is production: no simulator pages, a real key, docs behind sign-in, the Host
checked, Secure cookies; and the headers of every page (issue 18, items 5 and 7)."""

from __future__ import annotations

import copy
import logging
import re
import secrets

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.questionnaire import questionnaire_from_document
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_staff
from tests.app_under_test import routes
from tests.integration.staff_login import PASSWORD, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

PUBLIC = "https://survey.example.org"
KEY = secrets.token_urlsafe(48)


def production(database_url: str, **overrides) -> Settings:
    values = {
        "env": "production",
        "database_url": database_url,
        "secret_key": KEY,
        "public_base_url": PUBLIC,
        "allow_simulator_in_production": True,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def staff(engine):
    with Session(engine) as session:
        create_staff(session, "wang", "researcher", PASSWORD)


def paths(app) -> set[str]:
    return {route.path for route in routes(app) if hasattr(route, "path")}


def test_production_refuses_the_simulator_unless_asked(database_url):
    with pytest.raises(ValidationError, match="MANYI_ALLOW_SIMULATOR_IN_PRODUCTION"):
        production(database_url, allow_simulator_in_production=False)


def test_the_simulators_phones_do_not_exist_in_production(engine, database_url):
    app = create_app(production(database_url))
    assert not any(path.startswith("/phone") for path in paths(app))
    with TestClient(app, base_url=PUBLIC) as client:
        assert client.get("/phone").status_code == 404
        assert client.post("/phone/+8613800138000", data={"body": "TD"}).status_code == 404
    development = create_app(Settings(database_url=database_url))
    assert "/phone" in paths(development)


def test_the_development_key_is_announced_at_start(engine, database_url, caplog):
    with caplog.at_level(logging.WARNING, logger="manyi"):
        with TestClient(create_app(Settings(database_url=database_url))):
            pass
    assert "MANYI_SECRET_KEY is the development default" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="manyi"):
        with TestClient(create_app(Settings(database_url=database_url, secret_key=KEY))):
            pass
    assert "MANYI_SECRET_KEY" not in caplog.text


def test_api_docs_need_sign_in_in_production(engine, database_url, staff):
    app = create_app(production(database_url))
    with TestClient(app, base_url=PUBLIC, follow_redirects=False) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            refused = client.get(path)
            assert refused.status_code == 303, path
            assert refused.headers["location"].startswith("/login?next=")
        assert log_in(client, "wang").status_code == 303
        docs = client.get("/docs")
        assert docs.status_code == 200
        # The docs' one inline script runs by its hash, nothing else inline.
        policy = docs.headers["content-security-policy"]
        assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/=]{44}'", policy)
        assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]
        assert client.get("/openapi.json").json()["info"]["title"] == "Manyi 满意"
        assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200


def test_api_docs_can_be_switched_off_or_opened(engine, database_url):
    off = create_app(production(database_url, api_docs="off"))
    with TestClient(off, base_url=PUBLIC) as client:
        assert {client.get(p).status_code for p in ("/docs", "/redoc", "/openapi.json")} == {404}
    public = create_app(production(database_url, api_docs="public"))
    with TestClient(public, base_url=PUBLIC) as client:
        assert client.get("/openapi.json").status_code == 200
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        assert client.get("/docs").status_code == 200  # development: public


def test_an_unknown_host_is_refused_in_production(engine, database_url):
    app = create_app(production(database_url, allowed_hosts=("cx.example.org",)))
    with TestClient(app, base_url=PUBLIC) as client:
        assert client.get("/health").status_code == 200
        evil = client.get("/health", headers={"Host": "evil.example"})
        assert evil.status_code == 400 and "MANYI_ALLOWED_HOSTS" in evil.text
        assert client.get("/health", headers={"Host": "cx.example.org:443"}).status_code == 200


def test_urls_given_out_never_repeat_the_host_header(engine, database_url, sample_questionnaire):
    with Session(engine) as session:
        publish(session, sample_questionnaire)
        document = copy.deepcopy(dict(sample_questionnaire.document))
        document["version"] = "2026.2"
        publish(session, questionnaire_from_document(document))
    settings = Settings(database_url=database_url, public_base_url=PUBLIC)
    with TestClient(create_app(settings)) as client:
        listed = client.get(
            "/api/v1/questionnaires?limit=1", headers={"Host": "evil.example"}
        ).json()
    assert listed["next"] == f"{PUBLIC}/api/v1/questionnaires?limit=1&offset=1"


def test_cookies_are_secure_in_production_whatever_the_url_says(engine, database_url, staff):
    settings = production(database_url, public_base_url="http://survey.example.org")
    with TestClient(create_app(settings), base_url="http://survey.example.org") as client:
        login = client.get("/login")
        cookie = login.headers["set-cookie"]
        assert "Secure" in cookie and cookie.startswith("__Host-")


def _html_pages(app) -> list[str]:
    """Every GET page without path parameters that is not the JSON API."""
    return sorted(
        route.path
        for route in routes(app)
        if isinstance(getattr(route, "original_route", route), APIRoute)
        and "GET" in (route.methods or ())
        and "{" not in route.path
        and not route.path.startswith("/api/")
    )


def test_every_answer_carries_the_security_headers(engine, database_url, staff):
    app = create_app(Settings(database_url=database_url, secret_key=KEY))
    with TestClient(app, follow_redirects=False) as client:
        assert log_in(client, "wang").status_code == 303
        pages = _html_pages(app) + ["/s/unknown-token", "/no/such/page"]
        seen_html = 0
        for path in pages:
            answer = client.get(path)
            headers = answer.headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "no-referrer", path
            if headers.get("content-type", "").startswith("text/html"):
                seen_html += 1
                policy = headers["content-security-policy"]
                assert "frame-ancestors 'none'" in policy, path
                if path not in ("/docs", "/redoc"):
                    assert policy.startswith("default-src 'none'"), path
                    assert "script-src" not in policy, path  # no script at all
        assert seen_html >= 8
        for path in ("/health", "/api/v1/me", "/openapi.json", "/api/v1/nothing"):
            answer = client.get(path)
            assert answer.headers["x-content-type-options"] == "nosniff", path
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path

"""Fixtures of the phone-interview tests: a phone campaign, a movable clock, and one
signed-in browser per person."""


from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.settings import Settings
from api.web.app import create_app
from tests.integration.cati.call_pages import BASE, Clock, at, make_world
from tests.integration.staff_login import PASSWORD, SECRET, field


@pytest.fixture
def world(engine, sample_questionnaire):
    return make_world(engine, sample_questionnaire)


@pytest.fixture
def clock():
    return Clock(at(1, 10))


@pytest.fixture
def login(database_url, clock):
    """``login(username)``: a signed-in browser of its own (one app each, one clock for all)."""
    clients = []

    def open_as(username: str) -> TestClient:
        settings = Settings(
            database_url=database_url, public_base_url=BASE, env="test", secret_key=SECRET
        )
        app = create_app(settings)
        app.state.clock = clock
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        client.__enter__()
        clients.append(client)
        page = client.get("/login")
        form = {"username": username, "password": PASSWORD, "csrf": field(page.text, "csrf"),
                "next": "/calls"}  # fmt: skip
        assert client.post("/login", data=form).status_code == 303
        return client

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)

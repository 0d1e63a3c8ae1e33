"""The pages outside the JSON API, fuzzed by Schemathesis: no 5xx, whatever the numbers.

The pages are left out of the OpenAPI document (they are not an API), so this file makes a
document of its own from the app's routes: every page route that takes a path or query
parameter (ids, page numbers, days, weeks, periods, tokens), with the parameter types the
routes declare. Each request goes in as the role the page is for (a signed-in session
cookie), so that the request reaches the route's own work rather than stopping at sign-in.
Only the status is judged: a page may answer 200, 303, 4xx, never 5xx.

The app runs in-process (ASGI) on a SQLite file with a running campaign (web, intercept and
phone), call cases, 40 imported responses and one account per role.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import schemathesis
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings
from sqlmodel import Session, select

from api.settings import Settings
from api.web.app import create_app
from api.web.auth import sign
from survey.answering.bulk_import import import_responses
from survey.campaigns.lifecycle import change_status, create_call_cases, create_campaign
from survey.db.engine import make_engine, upgrade
from survey.db.tables import Customer
from survey.frames.sample_frame import read_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_staff, start_session
from tests.app_under_test import AppUnderTest, routes
from tests.common import SAMPLES

SECRET = "a-test-secret-that-is-long-enough-for-the-test-env"
EXAMPLES_PER_OPERATION = 25
#: Who each page is for: the longest matching path prefix picks the role.
ROLE_OF_PREFIX = {
    "/calls": "interviewer",
    "/intercept": "interviewer",
    "/supervision": "supervisor",
    "/dashboard": "manager",
    "/analyses": "researcher",
    "/exports": "researcher",
    "": "admin",
}


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, env="test", secret_key=SECRET)


def page_routes(app) -> list[APIRoute]:
    """The routes outside the OpenAPI document that take a path or query parameter, as
    APIRoutes at their full path and shown in a schema."""
    chosen = []
    for route in routes(app):
        original = getattr(route, "original_route", route)
        if not isinstance(original, APIRoute) or route.include_in_schema:
            continue
        if "{" not in route.path and not route.dependant.query_params:
            continue
        clone = copy.copy(original)
        clone.path, clone.path_format = route.path, route.path_format
        clone.dependant, clone.include_in_schema = route.dependant, True
        chosen.append(clone)
    return chosen


def pages_document() -> dict:
    app = create_app(settings_for("sqlite://"))
    document = get_openapi(title="Manyi pages", version="1", routes=page_routes(app))
    # Pages are for a signed-in browser: the session cookie, never the API key that the
    # shared sign-in dependency also declares (Schemathesis would send an empty one).
    for item in document["paths"].values():
        for operation in item.values():
            operation.pop("security", None)
    return document


APP = AppUnderTest()


def schema_of_the_pages() -> schemathesis.schemas.BaseSchema:
    loaded = schemathesis.openapi.from_dict(pages_document())
    loaded.app = APP
    return loaded


schema = schema_of_the_pages()


@pytest.fixture(scope="module")
def world(tmp_path_factory, sample_questionnaire) -> dict[str, str]:
    """The app on a SQLite file with sample data; a session cookie per role."""
    url = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'manyi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    responses = pd.read_csv(SAMPLES / "responses.csv", dtype=str).head(40)
    frame = read_frame(SAMPLES / "frame.csv")
    frame = frame[frame.customer_id.isin(responses.customer_id)]
    settings = settings_for(url)
    cookies = {}
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame_id = store_frame(session, frame, "fuzz", "test").id
        import_responses(session, version, responses, frame_id)
        campaign = create_campaign(session, version.id, "May",
                                   channels=["web_link", "intercept", "cati"])  # fmt: skip
        change_status(session, campaign, "launch")
        customers = session.execute(select(Customer.id).limit(5)).scalars().all()
        create_call_cases(session, campaign, customers)
        for role in set(ROLE_OF_PREFIX.values()):
            staff = create_staff(session, role, role, "correct horse battery")
            token = start_session(session, staff)
            cookies[role] = f"manyi_session={sign(settings, 'session', token)}"
    engine.dispose()
    APP.app = create_app(settings)
    return cookies


def role_for(path: str) -> str:
    prefix = max((p for p in ROLE_OF_PREFIX if path.startswith(p)), key=len)
    return ROLE_OF_PREFIX[prefix]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_page_answers_5xx_whatever_its_numbers(case, world):
    answer = case.call(headers={"Cookie": world[role_for(case.path)]})
    where = (case.method, case.formatted_path, case.query)
    assert answer.status_code < 500, (where, answer.text[:500])


def test_the_fuzzed_pages_include_every_numbered_page():
    """Guards the test above against fuzzing too little: ids, page numbers and days."""
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = {(operation.method.upper(), operation.path) for operation in operations}
    assert {
        ("GET", "/intercept/{campaign_id}"),
        ("POST", "/intercept/{campaign_id}"),
        ("GET", "/calls/{case_id}"),
        ("POST", "/calls/{case_id}/outcome"),
        ("GET", "/s/{token}/p/{number}"),
        ("GET", "/supervision"),
        ("GET", "/supervision/follow-ups"),
        ("GET", "/dashboard/priorities"),
    } <= fuzzed
    assert not any(path.startswith("/api/") for _, path in fuzzed)

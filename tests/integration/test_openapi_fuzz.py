"""Every /api/v1 operation, fuzzed from our own OpenAPI schema by Schemathesis.

The app runs in-process (ASGI) on a SQLite file with a published questionnaire, 40 responses,
a campaign and an admin's API key. Schemathesis reads /openapi.json when the test runs, so a
route added later (analyses, ...) is fuzzed without touching this file. Each answer must not be
a 5xx and must match the schema: a documented status, content type, headers and body.

Bounded: a fixed number of examples per operation, derandomized (the same requests on every
run), no deadline (the first export of a run also warms pandas and pyarrow up).
"""

from __future__ import annotations

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.answering.bulk_import import import_responses
from survey.db.engine import make_engine, upgrade
from survey.db.tables import Campaign, Staff
from survey.frames.sample_frame import read_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_api_key
from tests.app_under_test import AppUnderTest
from tests.common import SAMPLES

SECRET = "a-test-secret-that-is-long-enough-for-the-test-env"
EXAMPLES_PER_OPERATION = 30


def openapi_document() -> dict:
    return create_app(Settings(database_url="sqlite://", env="test", secret_key=SECRET)).openapi()


APP = AppUnderTest()


def schema_of_the_app() -> schemathesis.schemas.BaseSchema:
    # The application's own OpenAPI document: a router added to create_app (analyses, ...) is
    # fuzzed without an edit here. (schemathesis.pytest.from_fixture would read it at run time
    # instead, but it fails on pytest 9: it sets Function._nodeid, which pytest 9 dropped.)
    loaded = schemathesis.openapi.from_dict(openapi_document())
    loaded.app = APP  # as schemathesis.openapi.from_asgi does
    return loaded.include(path_regex=r"^/api/v1/")


schema = schema_of_the_app()


@pytest.fixture(scope="module")
def world(tmp_path_factory, sample_questionnaire) -> dict[str, object]:
    """The app on a SQLite file with sample data, and an admin's API key."""
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'manyi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    responses = pd.read_csv(SAMPLES / "responses.csv", dtype=str).head(40)
    frame = read_frame(SAMPLES / "frame.csv")
    frame = frame[frame.customer_id.isin(responses.customer_id)]
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame_id = store_frame(session, frame, "fuzz", "test").id
        import_responses(session, version, responses, frame_id)
        session.add(Campaign(name="May", questionnaire_version_id=version.id))
        admin = Staff(username="admin", display_name="Admin", role="admin")
        session.add(admin)
        session.commit()
        key = create_api_key(session, admin, "schemathesis")[1]
    engine.dispose()
    APP.app = create_app(Settings(database_url=url, env="test", secret_key=SECRET))
    return {"key": key}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_api_operation_answers_5xx_or_off_schema(case, world):
    # In-process: Schemathesis starts the app's lifespan once and sends the request over ASGI.
    case.call_and_validate(headers={"Authorization": f"Bearer {world['key']}"})


def test_the_fuzzed_operations_are_every_api_v1_operation_of_the_openapi_document():
    """Guards the test above against fuzzing too little (a filter gone wrong)."""
    document = openapi_document()
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  if path.startswith("/api/v1/") for method in item}  # fmt: skip
    assert {("GET", "/api/v1/questionnaires"), ("GET", "/api/v1/me"),
            ("GET", "/api/v1/exports/responses")} <= documented  # fmt: skip
    fuzzed = {(result.ok().method.upper(), result.ok().path)
              for result in schema.get_all_operations()}  # fmt: skip
    assert fuzzed == documented


def test_every_api_v1_operation_is_documented_with_examples_and_error_bodies():
    document = openapi_document()
    schemas = document["components"]["schemas"]
    gaps = []
    for path, item in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in item.items():
            name = f"{method.upper()} {path}"
            gaps += [f"{name}: no {key}" for key in ("summary", "description", "tags")
                     if not operation.get(key)]  # fmt: skip
            responses = operation["responses"]
            for status, response in responses.items():
                if status.startswith("4"):
                    body = response.get("content", {}).get("application/json", {})
                    if body.get("schema") != {"$ref": "#/components/schemas/ErrorBody"}:
                        gaps.append(f"{name}: {status} is not an ErrorBody")
            if operation.get("security") and "401" not in responses:
                gaps.append(f"{name}: needs a key but documents no 401")
            takes_input = operation.get("parameters") or "requestBody" in operation
            if takes_input and "422" not in responses:
                gaps.append(f"{name}: takes input but documents no 422")
            for parameter in operation.get("parameters", []):
                if not parameter["schema"].get("examples") and "enum" not in parameter["schema"]:
                    gaps.append(f"{name}: parameter {parameter['name']} has no example")
            if "requestBody" in operation:
                reference = operation["requestBody"]["content"]["application/json"]["schema"]
                if not schemas[reference["$ref"].rsplit("/", 1)[1]].get("examples"):
                    gaps.append(f"{name}: the body has no example")
    assert gaps == []
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"

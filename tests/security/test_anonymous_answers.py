"""No anonymous answers: the finding was 20 fake intercept interviews completed in 2.5 s by
walking sequential campaign ids without signing in, one of them opening a service-remedy
follow-up. Intercept interviews are staff work now (issue 18, item 1); the interviewer's own
flow is tested in tests/integration/answering/test_intercept.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.campaigns.lifecycle import change_status, create_campaign
from survey.db.tables import FollowUp, Response
from survey.questionnaire.publish import publish
from survey.staff.accounts import create_staff
from tests.integration.staff_login import PASSWORD, SECRET, field, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def campaigns(engine, sample_questionnaire) -> list[int]:
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        ids = []
        for name in ("Hall A", "Hall B", "Hall C"):
            campaign = create_campaign(session, version.id, name, channels=["intercept"])
            change_status(session, campaign, "launch")
            ids.append(campaign.id)
        create_staff(session, "li", "interviewer", PASSWORD)
        create_staff(session, "zhou", "manager", PASSWORD)
        return ids


def counts(engine) -> tuple[int, int]:
    with Session(engine) as session:
        responses = session.execute(select(func.count()).select_from(Response)).scalar_one()
        follow_ups = session.execute(select(func.count()).select_from(FollowUp)).scalar_one()
    return responses, follow_ups


def test_walking_campaign_ids_without_signing_in_adds_nothing(engine, database_url, campaigns):
    app = create_app(Settings(database_url=database_url, secret_key=SECRET))
    with TestClient(app, follow_redirects=False) as client:
        for campaign_id in range(1, 21):
            page = client.get(f"/intercept/{campaign_id}")
            assert page.status_code == 303 and page.headers["location"].startswith("/login")
            posted = client.post(
                f"/intercept/{campaign_id}",
                data={"interviewer": "A017", "hall": "H", "language": "zh", "csrf": "x"},
            )
            assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
        # An id beyond what a table holds is refused the same way, never a 500.
        assert client.get("/intercept/9223372036854775808").status_code in (303, 404)
    assert counts(engine) == (0, 0)


def test_a_signed_in_account_without_the_intercept_permission_adds_nothing(
    engine, database_url, campaigns
):
    app = create_app(Settings(database_url=database_url, secret_key=SECRET))
    with TestClient(app, follow_redirects=False) as manager:
        assert log_in(manager, "zhou").status_code == 303
        me = manager.get("/me")
        for campaign_id in campaigns:
            assert manager.get(f"/intercept/{campaign_id}").status_code == 403
            posted = manager.post(
                f"/intercept/{campaign_id}",
                data={"hall": "H", "language": "zh", "csrf": field(me.text, "csrf")},
            )
            assert posted.status_code == 403
    assert counts(engine) == (0, 0)


def test_an_interviewer_starts_an_interview_as_themselves(engine, database_url, campaigns):
    app = create_app(Settings(database_url=database_url, secret_key=SECRET))
    with TestClient(app, follow_redirects=False) as interviewer:
        assert log_in(interviewer, "li").status_code == 303
        start = interviewer.get(f"/intercept/{campaigns[0]}")
        posted = interviewer.post(
            f"/intercept/{campaigns[0]}",
            data={"interviewer": "A017", "hall": "H", "language": "zh",
                  "csrf": field(start.text, "csrf")},
        )  # fmt: skip
        assert posted.status_code == 303
    with Session(engine) as session:
        [response] = session.execute(select(Response)).scalars()
    assert (response.interviewer, response.service_hall) == ("li", "H")

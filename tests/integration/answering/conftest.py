"""Fixtures of the answering tests: a running web campaign, its app and a browser."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from api.settings import Settings
from api.web.app import create_app
from survey.answering.links import invitation_token
from survey.campaigns.lifecycle import change_status, create_campaign, invite
from survey.db.tables import Customer, Invitation
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from tests.integration.answering.web_pages import BASE, SECRET


@pytest.fixture
def world(engine, sample_questionnaire):
    """A running campaign with ten invited customers, five reading Chinese, five English."""
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame = store_frame(session, generate_frame(10, seed=11), "hall-visitors", "test")
        customers = list(
            session.execute(
                select(Customer).where(Customer.frame_id == frame.id).order_by(Customer.id)
            ).scalars()
        )
        for index, customer in enumerate(customers):
            customer.consent = True
            customer.language = "zh" if index < 5 else "en"
            session.add(customer)
        session.commit()
        campaign = create_campaign(
            session,
            version.id,
            "April",
            message={"zh": "请评价：{link}", "en": "Rate us: {link}"},
        )
        invite(
            session,
            campaign,
            [c.id for c in customers],
            secret=SECRET,
            public_base_url=BASE,
            timezone="Asia/Shanghai",
        )
        change_status(session, campaign, "launch")
        invitations = session.execute(
            select(Invitation.id, Invitation.customer_id).order_by(Invitation.customer_id)
        ).all()
        tokens = [invitation_token(SECRET, invitation_id) for invitation_id, _ in invitations]
        return {
            "campaign_id": campaign.id,
            "version_id": version.id,
            "zh": tokens[:5],
            "en": tokens[5:],
        }


@pytest.fixture
def app(database_url, world):
    settings = Settings(database_url=database_url, secret_key=SECRET)
    app = create_app(settings)
    return app


@pytest.fixture
def client(app):
    with TestClient(app, follow_redirects=False) as client:
        yield client

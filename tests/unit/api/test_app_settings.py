"""The app answers with the settings it was built with, not the environment's."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.settings import Settings
from api.web.app import create_app


def test_routes_use_the_settings_given_to_create_app(tmp_path, monkeypatch):
    monkeypatch.setenv("MANYI_SMS_TRANSPORT", "simulator")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}", sms_transport="twilio",
        twilio_account_sid="AC" + "0" * 32, twilio_auth_token="t" * 32,
        twilio_from_number="+15555550100",
    )  # fmt: skip
    from survey.db.engine import make_engine, upgrade

    upgrade(make_engine(settings.database_url))
    with TestClient(create_app(settings)) as client:
        # The simulator's phone page exists only with the simulator transport.
        assert client.get("/phone/+15555550123").status_code == 404
    simulator = settings.model_copy(update={"sms_transport": "simulator"})
    with TestClient(create_app(simulator)) as client:
        assert client.get("/phone/+15555550123").status_code == 200

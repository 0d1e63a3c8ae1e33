"""The SMS transport the settings choose: the simulator (default) or Twilio.

This is the one place that turns settings into a transport, so the web app, ``manyi
dispatch`` and ``manyi demo`` always agree on where messages go.
"""

from __future__ import annotations

from sqlalchemy import Engine

from api.settings import Settings
from survey.sms import SmsTransport
from survey.sms.simulator_transport import SimulatorTransport


def make_transport(settings: Settings, engine: Engine) -> SmsTransport:
    if settings.sms_transport == "simulator":
        return SimulatorTransport(engine)
    # Imported here so that the simulator never imports the twilio package.
    from survey.sms.twilio_transport import TwilioTransport

    assert settings.twilio_account_sid and settings.twilio_auth_token  # checked by Settings
    return TwilioTransport(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        messaging_service_sid=settings.twilio_messaging_service_sid,
        from_number=settings.twilio_from_number,
        base_url=settings.twilio_base_url,
    )


def status_callback_url(settings: Settings) -> str | None:
    """Where the provider reports delivery; the simulator reports nothing."""
    if settings.sms_transport == "simulator":
        return None
    return str(settings.public_base_url).rstrip("/") + "/sms/status"

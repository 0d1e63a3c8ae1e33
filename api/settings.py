"""Settings from the environment (prefix ``MANYI_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "development-only-secret-key-change-me"  # noqa: S105 (refused outside development)
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MANYI_", env_file=".env", extra="ignore")

    #: development (the default, as in `make demo`), test or production.
    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/manyi.db"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    #: The address customers and Twilio reach; signs and checks webhook URLs.
    public_base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    sms_transport: Literal["simulator", "twilio"] = "simulator"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_messaging_service_sid: str | None = None
    #: The sender number when no Messaging Service is set.
    twilio_from_number: str | None = None
    #: Tests point the Twilio client at a local fake of its REST API.
    twilio_base_url: str | None = None
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"MANYI_TIMEZONE={value!r} is not a time zone; use an IANA name such as "
                "Asia/Shanghai"
            ) from None
        return value

    @model_validator(mode="after")
    def _safe_outside_development(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.env != "development" and (
            secret == DEFAULT_SECRET_KEY or len(secret) < MIN_SECRET_LENGTH
        ):
            raise ValueError(
                f"MANYI_SECRET_KEY is left at its default or is shorter than "
                f"{MIN_SECRET_LENGTH} characters, which is refused when MANYI_ENV={self.env}; "
                "set it to a long random value, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        if self.sms_transport == "twilio" and not (
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_messaging_service_sid or self.twilio_from_number)
        ):
            raise ValueError(
                "MANYI_SMS_TRANSPORT=twilio needs MANYI_TWILIO_ACCOUNT_SID, "
                "MANYI_TWILIO_AUTH_TOKEN and a sender: MANYI_TWILIO_MESSAGING_SERVICE_SID "
                "or MANYI_TWILIO_FROM_NUMBER; or use MANYI_SMS_TRANSPORT=simulator"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()

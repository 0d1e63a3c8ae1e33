"""Settings from the environment (prefix ``MANYI_``) or a ``.env`` file."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from ipaddress import ip_network
from math import log2
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "development-only-secret-key-change-me"  # noqa: S105 (refused outside development)
MIN_SECRET_LENGTH = 32
#: What a production key must carry, estimated from its characters' frequencies: 32 random
#: URL-safe characters hold about 190 bits by this estimate, a hex key of 64 about 250; 32 ×
#: "a" holds 0 and "abab…" 32.
MIN_SECRET_BITS = 128


def estimated_bits(secret: str) -> float:
    """The key's length times the Shannon entropy of its characters, counted over one period
    when the key repeats a shorter part ("0123456789" × 4 holds what "0123456789" holds).

    An upper bound of what it holds: it cannot see a dictionary word, but it catches
    repeats and small alphabets.
    """
    if not secret:
        return 0.0
    period = (secret + secret).find(secret, 1)
    if period < len(secret):
        secret = secret[:period]
    counts = Counter(secret)
    per_character = -sum(n / len(secret) * log2(n / len(secret)) for n in counts.values())
    return max(0.0, per_character * len(secret))


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
    #: The RabbitMQ broker `manyi contacts consume` reads contact events from (a secret: it
    #: may hold a password).
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F")

    # -- security (README, "Security") --------------------------------------------------------
    #: Production runs with the SMS simulator (its public /phone pages read and answer any
    #: number's messages) only when this says so: a forgotten MANYI_SMS_TRANSPORT is refused.
    allow_simulator_in_production: bool = False
    #: Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma
    #: separated). Empty: the socket's peer is the client, whatever a header claims.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    #: Host names (besides the public URL's) that requests may name in ``Host``; a request
    #: naming any other is refused before the name is used in a URL.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    #: The interactive API documentation (/docs, /redoc, /openapi.json): ``public``, ``staff``
    #: (signed-in staff only) or ``off``. Unset: public outside production, staff in production.
    api_docs: Literal["public", "staff", "off"] | None = None
    #: Admin accounts sign in with a one-time code (TOTP) besides their password.
    require_admin_totp: bool = False

    @field_validator("trusted_proxies", "allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"MANYI_TRUSTED_PROXIES: {entry!r} is not an IP address or network; "
                    "list addresses such as 10.0.0.5 or 10.0.0.0/24, separated by commas"
                ) from None
        return value

    @property
    def docs_access(self) -> Literal["public", "staff", "off"]:
        """Who may read the API documentation (see :attr:`api_docs`)."""
        if self.api_docs is not None:
            return self.api_docs
        return "staff" if self.env == "production" else "public"

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
        if self.env == "production" and estimated_bits(secret) < MIN_SECRET_BITS:
            raise ValueError(
                f"MANYI_SECRET_KEY holds about {estimated_bits(secret):.0f} bits by its "
                f"characters' spread (repeated characters or a small alphabet), under the "
                f"{MIN_SECRET_BITS} that MANYI_ENV=production needs; set it to the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        if (
            self.env == "production"
            and self.sms_transport == "simulator"
            and not self.allow_simulator_in_production
        ):
            raise ValueError(
                "MANYI_ENV=production with the SMS simulator: its /phone pages would let anyone "
                "read every invitation and reply as any customer. Set MANYI_SMS_TRANSPORT=twilio "
                "(with its MANYI_TWILIO_ settings), or MANYI_ALLOW_SIMULATOR_IN_PRODUCTION=true "
                "for a production rehearsal that sends nothing"
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

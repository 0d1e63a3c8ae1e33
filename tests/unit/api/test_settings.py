import secrets

import pytest
from pydantic import ValidationError

from api.settings import DEFAULT_SECRET_KEY, Settings, estimated_bits


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env from the developer's tree
    for name in (
        "ENV", "SECRET_KEY", "DATABASE_URL", "SMS_TRANSPORT", "TIMEZONE", "API_DOCS",
        "ALLOW_SIMULATOR_IN_PRODUCTION", "TRUSTED_PROXIES", "ALLOWED_HOSTS",
    ):
        monkeypatch.delenv(f"MANYI_{name}", raising=False)


def test_defaults_suit_development():
    settings = Settings()
    assert settings.database_url == "sqlite:///./var/manyi.db"
    assert settings.sms_transport == "simulator"
    assert settings.timezone == "Asia/Shanghai"


def test_environment_variables_use_the_manyi_prefix(monkeypatch):
    monkeypatch.setenv("MANYI_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.setenv("MANYI_TIMEZONE", "Asia/Urumqi")
    settings = Settings()
    assert settings.database_url.startswith("postgresql://")
    assert settings.timezone == "Asia/Urumqi"


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("MANYI_PUBLIC_BASE_URL=https://survey.example.org\n")
    assert str(Settings().public_base_url) == "https://survey.example.org/"


@pytest.mark.parametrize("secret", [DEFAULT_SECRET_KEY, "short"])
def test_default_or_short_secret_is_refused_in_production(monkeypatch, secret):
    monkeypatch.setenv("MANYI_ENV", "production")
    monkeypatch.setenv("MANYI_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="MANYI_SECRET_KEY"):
        Settings()


def test_random_secret_is_accepted_in_production(monkeypatch):
    monkeypatch.setenv("MANYI_ENV", "production")
    monkeypatch.setenv("MANYI_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("MANYI_ALLOW_SIMULATOR_IN_PRODUCTION", "true")
    assert Settings().env == "production"


@pytest.mark.parametrize(
    "secret", ["a" * 32, "x" * 64, "ab" * 32, "0123456789" * 4, "aaaaaaaa-bbbbbbbb-cccccccc-dddddd"]
)
def test_long_secret_without_entropy_is_refused_in_production(monkeypatch, secret):
    monkeypatch.setenv("MANYI_ENV", "production")
    monkeypatch.setenv("MANYI_SECRET_KEY", secret)
    monkeypatch.setenv("MANYI_ALLOW_SIMULATOR_IN_PRODUCTION", "true")
    with pytest.raises(ValidationError, match="bits"):
        Settings()


@pytest.mark.parametrize(("make", "size"), [(secrets.token_urlsafe, 24), (secrets.token_hex, 32)],
                         ids=["token_urlsafe", "token_hex"])  # fmt: skip
def test_keys_made_as_the_message_says_are_accepted(monkeypatch, make, size):
    # Made in the test, not at collection: parallel workers must collect the same test ids.
    key = make(size)
    monkeypatch.setenv("MANYI_ENV", "production")
    monkeypatch.setenv("MANYI_SECRET_KEY", key)
    monkeypatch.setenv("MANYI_ALLOW_SIMULATOR_IN_PRODUCTION", "true")
    assert estimated_bits(key) >= 128
    assert Settings().env == "production"


def test_production_refuses_the_simulator_unless_asked(monkeypatch):
    monkeypatch.setenv("MANYI_ENV", "production")
    monkeypatch.setenv("MANYI_SECRET_KEY", secrets.token_urlsafe(48))
    with pytest.raises(ValidationError, match="MANYI_ALLOW_SIMULATOR_IN_PRODUCTION"):
        Settings()
    monkeypatch.setenv("MANYI_ALLOW_SIMULATOR_IN_PRODUCTION", "true")
    assert Settings().sms_transport == "simulator"


def test_api_docs_are_for_staff_in_production_and_public_elsewhere(monkeypatch):
    assert Settings().docs_access == "public"
    monkeypatch.setenv("MANYI_ENV", "production")
    monkeypatch.setenv("MANYI_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("MANYI_ALLOW_SIMULATOR_IN_PRODUCTION", "true")
    assert Settings().docs_access == "staff"
    monkeypatch.setenv("MANYI_API_DOCS", "off")
    assert Settings().docs_access == "off"


def test_trusted_proxies_and_hosts_are_comma_separated(monkeypatch):
    monkeypatch.setenv("MANYI_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16")
    monkeypatch.setenv("MANYI_ALLOWED_HOSTS", "survey.example.org,cx.example.org")
    settings = Settings()
    assert settings.trusted_proxies == ("10.0.0.5", "10.1.0.0/16")
    assert settings.allowed_hosts == ("survey.example.org", "cx.example.org")
    monkeypatch.setenv("MANYI_TRUSTED_PROXIES", "proxy.example.org")
    with pytest.raises(ValidationError, match="not an IP address"):
        Settings()


def test_twilio_transport_needs_credentials(monkeypatch):
    monkeypatch.setenv("MANYI_SMS_TRANSPORT", "twilio")
    with pytest.raises(ValidationError, match="MANYI_TWILIO_ACCOUNT_SID"):
        Settings()
    monkeypatch.setenv("MANYI_TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("MANYI_TWILIO_AUTH_TOKEN", "t" * 32)
    with pytest.raises(ValidationError, match="MANYI_TWILIO_FROM_NUMBER"):
        Settings()  # no sender
    monkeypatch.setenv("MANYI_TWILIO_MESSAGING_SERVICE_SID", "MG" + "0" * 32)
    assert Settings().sms_transport == "twilio"


def test_unknown_timezone_is_refused_with_an_example(monkeypatch):
    monkeypatch.setenv("MANYI_TIMEZONE", "Beijing")
    with pytest.raises(ValidationError, match="Asia/Shanghai"):
        Settings()

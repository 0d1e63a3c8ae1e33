"""The throttle's keys of IPv6 clients, and the two keys of a sealed one-time-code secret."""

from __future__ import annotations

import base64
import secrets

import pytest
from sqlmodel import Session, SQLModel

from survey.db.engine import make_engine
from survey.db.tables import Staff
from survey.signing import mac
from survey.staff import throttle, totp

SECRET = "a service key long enough for the tests, but not production"


@pytest.mark.parametrize(
    ("ip", "address"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        (None, "-"),
        ("not an address", "not an address"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64_and_an_ipv4_one_by_its_address(ip, address):
    assert throttle.keys_of("li", ip) == {"account": "account:li", "pair": f"pair:li {address}",
                                          "address": f"address:{address}"}  # fmt: skip


def test_addresses_of_one_64_share_the_pair_lock_and_another_64_does_not(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'throttle.db'}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        for n in range(throttle.MAX_FAILURES):
            assert not throttle.reserve(session, "li", f"2001:db8:0:1::{n + 1:x}").refused
        locked = throttle.reserve(session, "li", "2001:db8:0:1:dead:beef:0:1")
        assert locked.refused and locked.locked_by == "pair"
        assert not throttle.reserve(session, "li", "2001:db8:0:2::1").refused
    engine.dispose()


def test_the_sealing_keys_differ_and_a_tag_made_with_the_encryption_key_does_not_open():
    encryption, authentication = totp._sealing_keys(SECRET)
    assert encryption != authentication
    assert len(encryption) == len(authentication) == 32
    # Neither is a signature the service's key could make for a "purpose:value" message.
    assert mac(SECRET, "totp:sealing-key") not in (encryption, authentication)
    staff = Staff(id=7, username="boss")
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    nonce = secrets.token_bytes(16)
    stream = totp._keystream(encryption, nonce, len(secret))
    sealed = bytes(a ^ b for a, b in zip(secret.encode(), stream, strict=True))

    def stored(tag_key: bytes) -> str:
        tag = totp._tag(tag_key, staff, nonce, sealed)
        return "v2:" + base64.urlsafe_b64encode(nonce + sealed + tag).decode()

    assert totp.unseal(SECRET, staff, stored(authentication)) == secret
    assert totp.unseal(SECRET, staff, stored(encryption)) is None


def test_a_secret_sealed_the_old_way_is_refused():
    staff = Staff(id=7, username="boss")
    old_key = mac(SECRET, "totp:sealing-key")
    nonce = secrets.token_bytes(16)
    sealed = bytes(20)
    tag = totp._tag(old_key, staff, nonce, sealed)
    raw = base64.urlsafe_b64encode(nonce + sealed + tag).decode()
    assert totp.unseal(SECRET, staff, "v1:" + raw) is None
    assert totp.unseal(SECRET, staff, totp.seal(SECRET, staff, "ABC")) == "ABC"

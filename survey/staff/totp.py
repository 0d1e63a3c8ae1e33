"""One-time codes (TOTP, RFC 6238) as a second factor: enrolment, the sealed secret, checking.

``manyi staff totp USERNAME`` enrols an account: a new random secret, shown once as an
``otpauth://`` URI (for an authenticator app) and as text. The secret is stored sealed under
the service's key, bound to the account: a copy of the database alone cannot make codes,
and a sealed secret moved to another account does not open. Changing ``MANYI_SECRET_KEY``
makes the sealed secrets unreadable: such an account cannot sign in until enrolled again
(never silently without its code).

A code is accepted for the current 30-second step and one step either side (clocks of
phones drift), and only for a step after the last one accepted: a used code, or an older
one, is refused (``totp_last_step``, moved forward by one atomic UPDATE, so two requests
with the same code cannot both pass).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

import pyotp
from sqlalchemy import or_, update
from sqlmodel import Session, col

from survey.db.tables import Staff, utcnow
from survey.signing import mac, same

ISSUER = "Manyi 满意"
#: Steps either side of now whose codes are accepted.
WINDOW = 1
_SEALED = "v1"
_NONCE_BYTES = 16


class CodeCheck(StrEnum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    #: The code of a step already used (or older than it).
    REPLAYED = "replayed"
    #: No secret, or one sealed under another key.
    UNREADABLE = "unreadable"


def enrol(session: Session, staff: Staff, key: str) -> str:
    """Give ``staff`` a new secret (replacing any), stored sealed; returns it, to show once."""
    secret = pyotp.random_base32()
    staff.totp_secret = seal(key, staff, secret)
    staff.totp_last_step = None
    session.add(staff)
    session.commit()
    return secret


def remove(session: Session, staff: Staff) -> None:
    staff.totp_secret = None
    staff.totp_last_step = None
    session.add(staff)
    session.commit()


def provisioning_uri(staff: Staff, secret: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads (as text or a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=staff.username, issuer_name=ISSUER)


def check_code(
    session: Session, staff: Staff, key: str, code: str, now: datetime | None = None
) -> CodeCheck:
    """Whether ``code`` is ``staff``'s code now; an accepted code's step is recorded at once."""
    secret = unseal(key, staff, staff.totp_secret)
    if secret is None:
        return CodeCheck.UNREADABLE
    code = "".join(code.split())
    totp = pyotp.TOTP(secret)
    now = now or utcnow()
    current = totp.timecode(now)
    # Every step of the window is computed and compared, whatever matches: the time taken
    # does not tell which step (or whether any) was right.
    matched = [
        current + offset
        for offset in range(-WINDOW, WINDOW + 1)
        if same(code, totp.generate_otp(current + offset))
    ]
    if not matched:
        return CodeCheck.WRONG
    step = matched[-1]
    moved = session.execute(
        update(Staff)
        .where(
            col(Staff.id) == staff.id,
            or_(col(Staff.totp_last_step).is_(None), col(Staff.totp_last_step) < step),
        )
        .values(totp_last_step=step)
    )
    session.commit()
    return CodeCheck.ACCEPTED if moved.rowcount == 1 else CodeCheck.REPLAYED


# -- the sealed secret ---------------------------------------------------------------------
# Encrypt-then-MAC from HMAC-SHA256 alone (survey.signing): a keystream of HMAC blocks
# under a random nonce, and a tag over the account, nonce and ciphertext, both under a key
# of their own derived from the service's key. The standard library has no cipher, and a
# secret of 32 characters needs one block.


def seal(key: str, staff: Staff, secret: str) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    plain = secret.encode()
    sealed = bytes(a ^ b for a, b in zip(plain, _keystream(key, nonce, len(plain)), strict=True))
    tag = _tag(key, staff, nonce, sealed)
    return f"{_SEALED}:" + base64.urlsafe_b64encode(nonce + sealed + tag).decode()


def unseal(key: str, staff: Staff, stored: str | None) -> str | None:
    """The secret sealed in ``stored``, or None if there is none or it does not open."""
    if not stored or not stored.startswith(f"{_SEALED}:"):
        return None
    try:
        raw = base64.urlsafe_b64decode(stored[len(_SEALED) + 1 :])
    except ValueError:
        return None
    nonce, sealed, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:-32], raw[-32:]
    if len(raw) <= _NONCE_BYTES + 32 or not same(tag.hex(), _tag(key, staff, nonce, sealed).hex()):
        return None
    stream = _keystream(key, nonce, len(sealed))
    return bytes(a ^ b for a, b in zip(sealed, stream, strict=True)).decode()


def _sealing_key(key: str) -> bytes:
    return mac(key, "totp:sealing-key")


def _keystream(key: str, nonce: bytes, length: int) -> bytes:
    sealing = _sealing_key(key)
    blocks = (mac(sealing, f"stream:{nonce.hex()}:{n}") for n in range(length // 32 + 1))
    return b"".join(blocks)[:length]


def _tag(key: str, staff: Staff, nonce: bytes, sealed: bytes) -> bytes:
    # The account's id is under the tag: a sealed secret copied to another row does not open.
    digest = hashlib.sha256(sealed).hexdigest()
    return mac(_sealing_key(key), f"tag:{staff.id}:{nonce.hex()}:{digest}")

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
import hmac
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
_SEALED = "v2"
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
# under a random nonce, and a tag over the account, nonce and ciphertext. The keystream
# and the tag each have a key of their own, derived from the service's key by HKDF
# (RFC 5869, extract then expand, with a label of its own for each): a key used for both
# could let one output stand for the other. The derivation's HMACs are keyed by a constant
# salt, not by the service's key, and its labels start with a NUL byte: no signature of
# survey.signing ("purpose:value" under the service's key, a purpose never starting with
# NUL) is one of these keys. The standard library has no cipher, and a secret of 32
# characters needs one block. "v1" secrets (one key for both, derived as a signature) are
# refused: their accounts enrol again.


def seal(key: str, staff: Staff, secret: str) -> str:
    encryption, authentication = _sealing_keys(key)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    plain = secret.encode()
    stream = _keystream(encryption, nonce, len(plain))
    sealed = bytes(a ^ b for a, b in zip(plain, stream, strict=True))
    tag = _tag(authentication, staff, nonce, sealed)
    return f"{_SEALED}:" + base64.urlsafe_b64encode(nonce + sealed + tag).decode()


def unseal(key: str, staff: Staff, stored: str | None) -> str | None:
    """The secret sealed in ``stored``, or None if there is none or it does not open."""
    if not stored or not stored.startswith(f"{_SEALED}:"):
        return None
    try:
        raw = base64.urlsafe_b64decode(stored[len(_SEALED) + 1 :])
    except ValueError:
        return None
    encryption, authentication = _sealing_keys(key)
    nonce, sealed, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:-32], raw[-32:]
    expected = _tag(authentication, staff, nonce, sealed)
    if len(raw) <= _NONCE_BYTES + 32 or not hmac.compare_digest(tag, expected):
        return None
    stream = _keystream(encryption, nonce, len(sealed))
    try:
        return bytes(a ^ b for a, b in zip(sealed, stream, strict=True)).decode()
    except UnicodeDecodeError:
        return None


#: HKDF's salt: public, fixed, and the key of every HMAC of the extraction.
_HKDF_SALT = b"\x00manyi totp sealing salt"
_ENCRYPTION = b"\x00manyi totp sealing: encryption"
_AUTHENTICATION = b"\x00manyi totp sealing: authentication"


def _sealing_keys(key: str) -> tuple[bytes, bytes]:
    """The keystream's key and the tag's key, two different keys from the service's key."""
    pseudorandom = hmac.new(_HKDF_SALT, key.encode(), hashlib.sha256).digest()
    return _expand(pseudorandom, _ENCRYPTION), _expand(pseudorandom, _AUTHENTICATION)


def _expand(pseudorandom: bytes, info: bytes) -> bytes:
    # HKDF-Expand for one block (32 bytes): T(1) = HMAC(PRK, info || 0x01).
    return hmac.new(pseudorandom, info + b"\x01", hashlib.sha256).digest()


def _keystream(encryption: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (mac(encryption, f"stream:{nonce.hex()}:{n}") for n in range(length // 32 + 1))
    return b"".join(blocks)[:length]


def _tag(authentication: bytes, staff: Staff, nonce: bytes, sealed: bytes) -> bytes:
    # The account's id is under the tag: a sealed secret copied to another row does not open.
    digest = hashlib.sha256(sealed).hexdigest()
    return mac(authentication, f"tag:{staff.id}:{nonce.hex()}:{digest}")

"""HMAC-SHA256 under the service's secret: the one place that signs and checks a signature.

Links, interview tokens, form (CSRF) fields, session cookies and exports' phone hashes are
all signed here. Each caller puts its purpose at the head of the message (``"invitation:42"``,
``"csrf:…"``), so a value signed for one use never passes for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def mac(key: str | bytes, message: str) -> bytes:
    """The 32-byte HMAC-SHA256 of ``message`` under ``key``."""
    if isinstance(key, str):
        key = key.encode()
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signature(key: str | bytes, message: str, *, bits: int = 128) -> str:
    """The first ``bits`` of :func:`mac` as URL-safe base64 without padding.

    128 bits (22 characters) for anything typed or sent by SMS, where length costs; 256 for
    cookies.
    """
    return base64.urlsafe_b64encode(mac(key, message)[: bits // 8]).decode().rstrip("=")


def same(sent: str, expected: str) -> bool:
    """Compare a signature a client sent with the expected one, in constant time.

    On bytes: :func:`hmac.compare_digest` refuses a ``str`` with non-ASCII characters, and
    what a client sends is theirs to choose.
    """
    return hmac.compare_digest(sent.encode(), expected.encode())

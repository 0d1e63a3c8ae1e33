"""Webhook signatures: is this request really from Twilio?

Twilio signs every webhook (inbound message, status callback) with ``X-Twilio-Signature``:
base64(HMAC-SHA1(auth token, URL + the sorted POST parameters, each name followed by its
value)). The URL is the one Twilio called, i.e. the *public* URL: behind a reverse proxy
the application sees another host, so the caller passes ``MANYI_PUBLIC_BASE_URL`` + path
(+ query string), never the URL of the incoming request.

This is the one place that knows Twilio's signing scheme; the webhook routes call
:func:`verify_twilio_signature` and refuse (403) when it is False.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import urlparse

from twilio.request_validator import RequestValidator, add_port, remove_port

__all__ = ["SIGNATURE_HEADER", "sign", "verify_twilio_signature"]

SIGNATURE_HEADER = "X-Twilio-Signature"


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a POST of ``params`` to ``url``.

    For tests and the fake Twilio; production code only verifies.
    """
    return RequestValidator(auth_token).compute_signature(url, params)


def verify_twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str] | None, signature: str | None
) -> bool:
    """True when ``signature`` is Twilio's signature of ``params`` posted to ``url``.

    Parameters
    ----------
    auth_token
        The account's auth token (the secret the signature is keyed with).
    url
        The public URL Twilio called: ``MANYI_PUBLIC_BASE_URL`` + path (+ query).
    params
        The form parameters of the POST (a dict, or a multi-dict such as Starlette's
        ``FormData``: repeated names are signed value by value, as Twilio does).
    signature
        The ``X-Twilio-Signature`` header; ``None`` or empty is refused.

    Notes
    -----
    Twilio is inconsistent about whether it includes the default port (``:443``) in the
    URL it signs, so, as the official ``RequestValidator`` does, both forms are accepted.
    The comparison is :func:`hmac.compare_digest` (constant time), not the validator's own
    Python loop. JSON-bodied webhooks (``bodySHA256``) are not used by Messaging and are
    refused here.
    """
    if not auth_token:
        raise ValueError("verify_twilio_signature needs the auth token")
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    params = params if params is not None else {}
    parsed = urlparse(url)
    expected = signature.encode("utf-8")
    valid = False
    for candidate in (remove_port(parsed), add_port(parsed)):
        computed = validator.compute_signature(candidate, params).encode("utf-8")
        # Both forms are always computed so the time taken does not reveal which matched.
        valid |= hmac.compare_digest(computed, expected)
    return valid

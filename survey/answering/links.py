"""Invitation links: the token in ``/s/{token}``, its stored hash, the URL sent by SMS.

An invitation's link token is never stored: it is an HMAC of the invitation id under the
service's secret key, recomputed when the SMS is sent and when the link is opened; the
database keeps only its SHA-256. A leaked database opens no questionnaire.
"""

from __future__ import annotations

import hashlib

from survey.signing import signature


def invitation_token(secret: str, invitation_id: int) -> str:
    """The link token of an invitation: 128 bits of HMAC-SHA256, URL-safe (22 chars)."""
    return signature(secret, f"invitation:{invitation_id}")


def token_hash(token: str) -> str:
    """What the database keeps of a token (SHA-256, hex): enough to find, never to open."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_link(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/s/{token}"

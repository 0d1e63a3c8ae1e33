"""Posted forms of the hot routes (a respondent's page, the SMS provider's webhooks), read
cheaply.

Browsers and Twilio post ``application/x-www-form-urlencoded`` bodies of a few hundred bytes.
Starlette parses them with python-multipart's streaming parser and callbacks per byte run,
which cost more than the rest of the request; :func:`urllib.parse.parse_qsl` on the whole
(bounded) body gives the same fields. No other content type carries fields here: nothing of
ours posts multipart, which :mod:`api.web.limits` refuses before a route runs.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import HTTPException, Request

from api.web.limits import FORM_MAX_BYTES

__all__ = ["FORM_MAX_BYTES", "FORM_MAX_FIELDS", "form_fields"]

#: As many fields as Starlette's own form parser accepts.
FORM_MAX_FIELDS = 1000

_URLENCODED = b"application/x-www-form-urlencoded"


def _content_type(request: Request) -> bytes:
    for name, value in request.scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower()
    return b""


async def form_fields(request: Request) -> list[tuple[str, str]]:
    """The posted text fields in order, repeated names repeated; 413/400 on abuse."""
    if _content_type(request) != _URLENCODED:
        return []
    chunks, size = [], 0
    async for chunk in request.stream():
        # The middleware refuses a longer body first; the parser stays bounded without it.
        size += len(chunk)
        if size > FORM_MAX_BYTES:
            raise HTTPException(status_code=413, detail="form too large")
        chunks.append(chunk)
    # As Starlette decodes them: the raw bytes as latin-1, the %-escapes as UTF-8.
    body = b"".join(chunks).decode("latin-1")
    try:
        return parse_qsl(
            body, keep_blank_values=True, errors="replace", max_num_fields=FORM_MAX_FIELDS
        )
    except ValueError as error:
        raise HTTPException(status_code=400, detail="too many form fields") from error

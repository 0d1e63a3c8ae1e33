"""How many SMS parts a text needs, per 3GPP TS 23.038 and TS 23.040.

A text that uses only the GSM 7-bit default alphabet (and its extension table) is sent as
GSM-7: 160 septets fit in one SMS; a longer text is split into parts of 153 septets (the
7 missing septets carry the concatenation header, UDH). Any other character (Chinese,
most accented letters beyond the few the alphabet has, emoji) makes the whole text UCS-2:
70 UTF-16 code units in one SMS, 67 per part when split.

Two details change counts at the boundaries:

* an extension-table character (``€ [ ] { } \\ ^ ~ |`` and form feed) is an escape plus a
  septet, 2 septets, and the pair is never split across two parts;
* a character outside the Basic Multilingual Plane (most emoji) is a UTF-16 surrogate pair,
  2 code units, and the pair is never split across two parts.

So a part that cannot take the whole of such a character is closed one unit short and the
character starts the next part; a plain ``ceil(units / 153)`` undercounts then. This matches
Twilio's published segment calculator and what handsets do.

Validated against the tables of TS 23.038 section 6.2.1 (default alphabet) and 6.2.1.1
(extension table); boundary cases are in ``tests/unit/survey/sms/test_sms_segments.py``.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["SegmentCount", "SmsEncoding", "sms_segments"]

# TS 23.038 6.2.1, GSM 7-bit default alphabet, row by row (0x00-0x7F). 0x1B is the escape
# to the extension table and is not a character. 0x09 is the capital C with cedilla.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# TS 23.038 6.2.1.1, the extension table characters every handset supports: each is sent as
# ESC + one septet. (The national language shift tables are not used by Twilio or by the
# operator's gateway, so they are not counted here.)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_GSM7_SINGLE, _GSM7_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67


class SmsEncoding(enum.StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


class SegmentCount(NamedTuple):
    encoding: SmsEncoding
    segments: int


def _is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text)


def _parts(widths: list[int], single: int, part: int) -> int:
    if sum(widths) <= single:
        return 1
    parts, used = 1, 0
    for width in widths:
        if used + width > part:
            # The escape sequence or surrogate pair does not fit: it starts the next part.
            parts += 1
            used = 0
        used += width
    return parts


def sms_segments(text: str) -> SegmentCount:
    """Return the encoding and the number of SMS parts ``text`` is sent as.

    Parameters
    ----------
    text
        The message body exactly as sent. An empty text is one (empty) SMS.

    Returns
    -------
    SegmentCount
        ``(encoding, segments)``: ``SmsEncoding.GSM7`` when every character is in the GSM
        default alphabet or its extension table, else ``SmsEncoding.UCS2``.

    Examples
    --------
    >>> sms_segments("a" * 160)
    SegmentCount(encoding=<SmsEncoding.GSM7: 'GSM-7'>, segments=1)
    >>> sms_segments("满" * 71).segments
    2
    """
    if not isinstance(text, str):
        raise TypeError(f"sms_segments expects str, got {type(text).__name__}")
    if _is_gsm7(text):
        widths = [2 if ch in _GSM7_EXTENSION else 1 for ch in text]
        return SegmentCount(SmsEncoding.GSM7, _parts(widths, _GSM7_SINGLE, _GSM7_PART))
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentCount(SmsEncoding.UCS2, _parts(widths, _UCS2_SINGLE, _UCS2_PART))

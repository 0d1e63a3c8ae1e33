"""Phone numbers shown to staff who may not dial them: masked, never whole."""

from __future__ import annotations

import phonenumbers


def mask_phone(e164: str) -> str:
    """``+8613812348000`` as ``+86 138****8000``: enough to recognise, not to dial.

    The country code is read with ``phonenumbers`` (one to three digits: +1, +86, +852);
    of the national number the first three and last four digits stay, or only the last two
    of a number shorter than eight digits.
    """
    try:
        number = phonenumbers.parse(e164)
        code, national = str(number.country_code), phonenumbers.national_significant_number(number)
    except phonenumbers.NumberParseException:
        code, national = "", e164.lstrip("+")
    prefix = f"+{code} " if code else ""
    if len(national) < 8:
        return f"{prefix}{'*' * max(len(national) - 2, 1)}{national[-2:]}"
    return f"{prefix}{national[:3]}{'*' * (len(national) - 7)}{national[-4:]}"

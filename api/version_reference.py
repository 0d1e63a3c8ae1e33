"""``FORM@VERSION``: how the API, commands and analysis requests name a questionnaire version."""

from __future__ import annotations

import re

#: FORM@VERSION: a form id is an identifier; a version is text without control characters
#: (none is ever published, and PostgreSQL refuses NUL in text). Written with explicit
#: ranges so that Python and the OpenAPI schema's (ECMA) regular expressions agree.
VERSION_REFERENCE = r"^([a-z][a-z0-9_]*)@([^\x00-\x1f\x7f]+)$"


def split_version(reference: str) -> tuple[str, str]:
    """``"csi_mobile@2026.1"`` as ``("csi_mobile", "2026.1")``; ValueError otherwise."""
    match = re.fullmatch(VERSION_REFERENCE, reference)
    if match is None:
        raise ValueError(f"{reference!r}: name the version as FORM@VERSION, e.g. csi_mobile@2026.1")
    return match.group(1), match.group(2)

"""Staff of every role with API keys, for the tests of the JSON API."""

from __future__ import annotations

from sqlmodel import Session

from survey.db.tables import Staff
from survey.staff.accounts import create_api_key


def staff_with_keys(session: Session, region: str, purpose: str) -> dict[str, str]:
    """A researcher, a manager, a manager limited to ``region`` and an interviewer, each with
    an API key; returns username -> key."""
    keys = {}
    for username, role, regions in [
        ("researcher", "researcher", []),
        ("manager", "manager", []),
        ("regional", "manager", [region]),
        ("interviewer", "interviewer", []),
    ]:
        member = Staff(username=username, display_name=username, role=role, regions=regions)
        session.add(member)
        session.commit()
        keys[username] = create_api_key(session, member, purpose)[1]
    return keys

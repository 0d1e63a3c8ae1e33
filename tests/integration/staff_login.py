"""Signing staff in through the login page, as a browser does (shared by the page tests)."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery"
SECRET = "a-test-secret-that-is-long-enough-for-the-test-env"


def field(page: str, name: str) -> str:
    """The value of a form's hidden field ``name`` in a page."""
    return re.search(rf'name="{name}" value="([^"]*)"', page).group(1)


def log_in(client, username, password=PASSWORD, next_=None):
    page = client.get("/login" + (f"?next={next_}" if next_ else ""))
    assert page.status_code == 200, page.text
    form = {"username": username, "password": password, "csrf": field(page.text, "csrf"),
            "next": field(page.text, "next")}  # fmt: skip
    return client.post("/login", data=form, follow_redirects=False)

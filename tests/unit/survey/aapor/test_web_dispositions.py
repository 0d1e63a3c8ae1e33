"""Web/SMS invitation states as AAPOR dispositions of internet surveys of named persons."""

from __future__ import annotations

import pytest

from survey.aapor.dispositions import category_of
from survey.aapor.web import INVITATION_STATUSES, web_disposition


@pytest.mark.parametrize(
    ("invitation", "delivery", "code", "category"),
    [
        ("completed", "delivered", "1.1", "I"),
        ("completed", None, "1.1", "I"),
        ("started", "delivered", "2.12", "R"),
        ("opened", "undelivered", "2.1121", "R"),  # opening proves delivery
        ("opted_out", "delivered", "2.111", "R"),
        ("opted_out", None, "2.111", "R"),
        ("invited", "read", "2.1122", "R"),
        ("invited", "undelivered", "3.30", "UO"),
        ("expired", "failed", "3.30", "UO"),
        ("invited", "canceled", "3.30", "UO"),
        ("invited", "delivered", "3.19", "UH"),
        ("expired", "sent", "3.19", "UH"),
        ("invited", None, "3.19", "UH"),
        ("created", None, "3.11", "UH"),
        ("no_consent", None, "3.11", "UH"),
    ],
)
def test_invitation_and_delivery_status_give_the_closest_code(
    invitation, delivery, code, category
) -> None:
    assert web_disposition(invitation, delivery) == code
    assert category_of(code) == category


def test_started_counts_as_partial_only_when_enough_was_answered() -> None:
    assert web_disposition("started", "delivered", sufficient=True) == "1.2"
    assert web_disposition("started", "delivered") == "2.12"


def test_every_known_status_has_a_valid_code() -> None:
    for status in INVITATION_STATUSES:
        category_of(web_disposition(status, "delivered"))


@pytest.mark.parametrize(("invitation", "delivery"), [("bounced", None), ("invited", "lost")])
def test_an_unknown_status_is_refused_rather_than_guessed(invitation, delivery) -> None:
    with pytest.raises(ValueError, match="unknown"):
        web_disposition(invitation, delivery)

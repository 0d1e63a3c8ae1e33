"""Web and SMS invitations as AAPOR final dispositions (internet surveys of named persons).

Our sample is a list of specifically named customers, each sent a link (or a question) by
SMS, so the closest AAPOR table is "Internet Surveys of Specifically Named Persons". An
invitation's own status (:class:`survey.db.tables.Invitation`) and the provider's last
delivery report for its SMS (``OutboundSms.delivery_status``) give the final code:

======================  ====================  =========  ===================================
invitation status       delivery status       code       why
======================  ====================  =========  ===================================
completed               any                   1.1   I    complete
started                 any                   2.12  R    break-off; 1.2 (P) when the caller
                                                         says enough was answered by the
                                                         threshold set in advance
opened                  any                   2.1121 R   logged on, answered nothing:
                                                         AAPOR's implicit refusal
opted_out               any                   2.111 R    said STOP/TD: explicit refusal (a
                                                         number already on the opt-out list
                                                         refused before we asked: same code)
invited / expired       read                  2.1122 R   read receipt, no answer
invited / expired       undelivered, failed,  3.30  UO   invitation returned undelivered
                        canceled
invited / expired       delivered, sent,      3.19  UH   nothing ever returned
                        queued, none ...
created, no_consent     any                   3.11  UH   no invitation sent
======================  ====================  =========  ===================================

Choices, and why:

- "opened" implies the SMS arrived, whatever the delivery report says (reports can be lost
  or late), so it is never an undelivered case.
- An undelivered SMS does not prove the customer ineligible (the number may be switched off
  or full), so it stays an unknown (3.30), not 4.x.
- A delivered SMS that was never opened is 3.19, not a non-contact (2.2x): a delivery report
  says the handset took the message, not that the customer saw it.
- Customers without consent were sampled but never invited: 3.11 keeps them in the
  denominators of RR1/RR2 (and e·U of RR3/RR4) rather than quietly shrinking the sample.
- An invitation the contact-frequency rules stopped before anything was sent
  (``frequency_capped``: the customer was surveyed by another programme or campaign within
  the rules' span) is removed from the sample by the operator's rule, as a frame exclusion
  would have removed it: it has no disposition and no denominator counts it
  (:data:`REMOVED_FROM_SAMPLE`; :func:`survey.campaigns.cases.campaign_dispositions` leaves
  it out). It is not a nonrespondent: nobody asked.
- Partial versus break-off needs the share of items answered, which the invitation does not
  hold: the caller decides with the campaign's threshold and passes ``sufficient``.
"""

from __future__ import annotations

__all__ = ["INVITATION_STATUSES", "REMOVED_FROM_SAMPLE", "web_disposition"]

INVITATION_STATUSES = frozenset(
    {"created", "invited", "opened", "started", "completed", "opted_out", "no_consent",
     "expired"}
)  # fmt: skip

#: Invitation statuses that take the case out of the sample (no disposition; see above).
REMOVED_FROM_SAMPLE = frozenset({"frequency_capped"})

#: Twilio's names (survey.sms.delivery.DELIVERY_RANK), plus None for "no report yet".
_UNDELIVERED = frozenset({"undelivered", "failed", "canceled"})
_DELIVERY = (
    frozenset({"accepted", "scheduled", "queued", "sending", "sent", "delivered", "read"})
    | _UNDELIVERED
)


def web_disposition(
    invitation_status: str, delivery_status: str | None = None, *, sufficient: bool = False
) -> str:
    """The AAPOR final disposition code of one web/SMS invitation.

    Parameters
    ----------
    invitation_status
        ``Invitation.status``: created, invited, opened, started, completed, opted_out,
        no_consent or expired.
    delivery_status
        The provider's last report on the invitation SMS (queued, sent, delivered,
        undelivered, failed, canceled, read, ...), or None when there is none.
    sufficient
        For a started, unfinished response: True when enough items were answered to count
        as a partial interview (1.2) by the threshold set in advance; else a break-off (2.12).

    Returns
    -------
    str
        A code such as "1.1", "2.1121" or "3.19" (see the module's table).

    Raises
    ------
    ValueError
        For a status this mapping does not know (a new status must be mapped on purpose).
    """
    if invitation_status not in INVITATION_STATUSES:
        raise ValueError(f"unknown invitation status {invitation_status!r}: "
                         f"expected one of {sorted(INVITATION_STATUSES)}")  # fmt: skip
    if delivery_status is not None and delivery_status not in _DELIVERY:
        raise ValueError(f"unknown delivery status {delivery_status!r}: "
                         f"expected None or one of {sorted(_DELIVERY)}")  # fmt: skip
    match invitation_status:
        case "completed":
            return "1.1"
        case "started":
            return "1.2" if sufficient else "2.12"
        case "opened":
            return "2.1121"
        case "opted_out":
            return "2.111"
        case "created" | "no_consent":
            return "3.11"
    # invited or expired: what became of the message is all we know.
    if delivery_status == "read":
        return "2.1122"
    if delivery_status in _UNDELIVERED:
        return "3.30"
    return "3.19"

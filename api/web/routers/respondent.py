"""The web questionnaire a customer opens from an invitation link: ``/s/{token}``.

The pages are :func:`api.web.answering_pages.answering_router`'s; this flow opens a link
token (:func:`survey.answering.pages.open_link`) and saves posted pages in the application's
group commit, the hot path of collection.

Unknown tokens, expired or closed campaigns and used links all get one page, byte for byte
(404), so a token cannot be probed; the customer who has just completed sees the thank-you
page through the signed redirect. The token is in the URL: every page is ``no-store`` and
sends no referrer.
"""

from __future__ import annotations

from api.web.answering_pages import Flow, answering_router
from survey.answering.pages import open_link, read_link

WEB = Flow(
    prefix="/s",
    tag="respondent",
    open=lambda session, token, _secret, _staff: open_link(session, token),
    read_in_batch=read_link,
)

router = answering_router(WEB)

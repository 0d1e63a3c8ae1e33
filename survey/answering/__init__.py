"""Answering a questionnaire: links, pages, skip logic, saving and completion.

- ``links``: an invitation's link token, its stored hash and URL.
- ``pages``: opening a link, cutting pages, skip logic, validating and saving a page.
- ``intercept``: intercept interviews in service halls (a tablet, an interviewer, a hall).
- ``bulk_import``: a data set of answers stored as responses (the demo's sample).

May import: :mod:`survey.remedy` (rules on completion), :mod:`survey.questionnaire`,
:mod:`survey.synthetic`, :mod:`survey.db`.
"""

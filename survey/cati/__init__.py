"""Phone interviews (CATI) by the outbound-call team.

- ``queue``: the next case, holds, reassignment, call attempts and the phone interview.
- ``rules``: a campaign's calling rules (hours, attempts, gaps, retry delays).
- ``outcomes``: call outcomes as AAPOR dispositions, with their zh/en labels.
- ``reports``: the live queue, activity per hour, productivity.

May import: :mod:`survey.sms` (quiet hours), :mod:`survey.answering`, :mod:`survey.remedy`,
:mod:`survey.aapor` and the rooms below them.
"""

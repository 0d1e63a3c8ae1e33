"""Service remedy (服务补救): dissatisfied customers called back, the loop closed.

- ``rules``: the rules run on every completed response, follow-ups and their outcomes
  (with zh/en labels of reasons, outcomes and root causes).
- ``classifier``: storing and applying the "potentially dissatisfied" classifier.
- ``report``: the weekly follow-up report.

May import: :mod:`survey.questionnaire`, :mod:`survey.db`.
"""

"""Service remedy (服务补救): dissatisfied customers called back, the loop closed.

- ``rules``: the rules run on every completed response, follow-ups and their outcomes
  (with zh/en labels of reasons, outcomes and root causes).
- ``classifier``: the classifier's features, storing and applying the "potentially
  dissatisfied" classifier (fitting it is statistics: ``models.classifier``, called by
  ``manyi remedy train``).
- ``report``: the weekly follow-up report and the open follow-ups, as far as a reader's
  scope reaches.

May import: :mod:`survey.questionnaire`, :mod:`survey.staff` (scope), :mod:`survey.db`, and
``models.syntax`` (the one lavaan reader, a leaf).
"""

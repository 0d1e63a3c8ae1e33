"""Analysis jobs in the database: submit, re-run, claim, heartbeat, complete, fail, find.

The statistics themselves run in ``api.analysis``; this room only stores jobs and results.

May import: :mod:`survey.db`.
"""

"""The application service of analyses: survey → models → scoring, and what pages read.

- ``request``: an analysis request (version, period, filters, engine, bootstrap).
- ``submission``: the one path from a request to a stored job (the API and the console).
- ``run``: what a job computes (the fit, indexes, priorities, rankings, trends, rates).
- ``worker``: the worker that claims and computes jobs, and the schedule.
- ``scope``: a stored result cut to a scoped reader.
- ``dashboard``: what the managers' pages read from stored results.
- ``agents``: agents, teams, queues and channels measured from live counts (the report
  command and the agents page).

May import :mod:`survey`, :mod:`models`, :mod:`scoring` and the top-level ``api`` modules;
never :mod:`api.web` or :mod:`api.cli`.
"""

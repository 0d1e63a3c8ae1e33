"""Staff: accounts, roles, sign-in sessions, API keys, scope, and the audit log.

- ``accounts``: passwords (Argon2id), sessions, API keys, and what a scoped manager sees.
- ``audit``: who did what, to what, from where.

May import: :mod:`survey.db`.
"""

"""Staff: accounts, roles, sign-in sessions, API keys, scope, and the audit log.

- ``accounts``: accounts, passwords (Argon2id), sessions, API keys, and the scope rule.
- ``scope``: the scope rule where a row reaches a manager by a hall only (follow-ups, the
  weekly report) and as values for analysis filters.
- ``passwords``: what a staff password must be (``common_passwords``: the list it is
  checked against).
- ``throttle``: failed sign-ins counted atomically per account, address and pair.
- ``totp``: one-time codes as a second factor.
- ``audit``: who did what, to what, from where.

May import: :mod:`survey.db`.
"""

"""The database of the survey domain: engines, tables, migrations and the fast write path.

- ``engine``: SQLite (WAL, ``synchronous=FULL``) by default, PostgreSQL by URL; Alembic
  migrations (``migrations/``) and the schema revision.
- ``tables``: every table (SQLModel), times in UTC; the rules the database itself enforces.
- ``raw_sql``: Core statements compiled once per dialect and run on the driver's cursor, for
  the hot path of answering.
- ``group_commit``: several requests' writes made durable by one commit.

May import: nothing of Manyi's but :mod:`survey.errors`. Every other room stands on it.
"""

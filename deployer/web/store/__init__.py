"""The page's database: jobs, their log lines and the audit trail (SQLAlchemy Core, Alembic
migrations shipped in ``migrations/``).

- ``schema``: the tables as this version of deployer writes them.
- ``database``: opening a database by URL (SQLite in the state folder by default, PostgreSQL
  through psycopg 3 for a team) and bringing its schema up to date, refusing a newer one.
- ``jobs``: every read and write of jobs, lines and audit entries (``JobStore``).
"""

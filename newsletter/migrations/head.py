"""The newest migration's revision, known without importing Alembic.

Every command compares the database's revision (one plain query) with ``HEAD`` and imports
Alembic only when they differ (``newsletter.db.ensure_schema``). Adding a migration means
setting ``HEAD`` to its revision: tests/test_db.py fails, saying so, until it is.
"""

HEAD = "0016"

"""Alembic migrations of the metadata schema, shipped as package data.

``REVISIONS`` lists every revision in order, newest last; a test checks it against the
Alembic scripts so that checking a database's version on connect needs no Alembic import.
"""

REVISIONS = ("0001", "0002")
HEAD = REVISIONS[-1]

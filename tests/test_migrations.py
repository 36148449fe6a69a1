"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mindlinks.db import Base
from mindlinks.migrations.models import import_all_models


def test_migrated_schema_matches_the_models(engine):
    import_all_models()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_every_model_table_exists(engine):
    import_all_models()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables

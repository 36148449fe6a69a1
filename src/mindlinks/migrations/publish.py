"""Publish the texts the code ships (contract templates, the e-sign disclosure) as
database rows, after the schema migrations.

A published version never changes; a changed file becomes the next version. Safe
from several processes at once: each publisher lets one insert win.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from mindlinks.db import make_session_factory, transaction


def publish_shipped_texts(engine: Engine) -> None:
    from mindlinks.contracts.templates import sync_templates
    from mindlinks.esign.disclosure import sync_disclosures

    with transaction(make_session_factory(engine)) as session:
        sync_templates(session)
        sync_disclosures(session)


def upgrade_and_publish(engine: Engine) -> None:
    from mindlinks.migrations.runner import upgrade

    upgrade(engine)
    publish_shipped_texts(engine)

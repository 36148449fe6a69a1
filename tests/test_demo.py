"""The demo seed: accounts, a verified company, a linked contractor, a draft contract."""

from __future__ import annotations

from sqlalchemy import select

from mindlinks.config import Settings
from mindlinks.contracts.models import Contract
from mindlinks.db import make_engine
from mindlinks.demo import DEMO_CONTRACT_TITLE, seed_demo
from mindlinks.migrations.publish import upgrade_and_publish
from mindlinks.platform.context import build_context


def test_the_demo_seeds_a_draft_contract_once(tmp_path):
    settings = Settings(data_dir=tmp_path, run_worker_in_process=False)
    engine = make_engine(settings.resolved_database_url)
    upgrade_and_publish(engine)
    ctx = build_context(settings, engine)
    first = seed_demo(ctx)
    again = seed_demo(ctx)
    assert first == again
    assert any(DEMO_CONTRACT_TITLE in line for line in first)
    with ctx.session_factory() as session:
        contracts = session.scalars(select(Contract)).all()
        assert [(c.title, c.status) for c in contracts] == [(DEMO_CONTRACT_TITLE, "draft")]
    engine.dispose()

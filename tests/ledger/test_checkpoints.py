"""Checkpoints: issued when the tree grew, signed, kept, timestamped when configured."""

from __future__ import annotations

import os

from mindlinks import sqlite_wal
from mindlinks.db import make_engine
from mindlinks.ledger import note, repository, verifier
from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for, latest_checkpoint
from mindlinks.ledger.tasks import issue_checkpoint_job
from mindlinks.ledger.timestamp import verify_timestamp
from tests.factories import run_jobs
from tests.ledger.db_helpers import append_n


def test_a_checkpoint_signs_the_current_head_and_verifies_offline(session, app_context):
    append_n(session, 5)
    ring = keyring_for(app_context)
    checkpoint = issue_checkpoint(session, app_context.settings, ring)
    assert checkpoint is not None
    size = repository.head_size(session)
    assert checkpoint.tree_size == size
    assert checkpoint.root_hash == repository.root_at(session, size)
    verified = verifier.verify_checkpoint(checkpoint.note, ring.vkeys, "mindlinks.local/ledger")
    assert verified.tree_size == size
    assert verified.root_hash == checkpoint.root_hash
    assert checkpoint.key_id == ring.active.key_id
    assert "issued-at " in checkpoint.note


def test_no_new_checkpoint_until_the_tree_grows(session, app_context):
    append_n(session, 2)
    ring = keyring_for(app_context)
    first = issue_checkpoint(session, app_context.settings, ring)
    assert first is not None
    assert issue_checkpoint(session, app_context.settings, ring) is None
    append_n(session, 1)
    second = issue_checkpoint(session, app_context.settings, ring)
    assert second is not None
    assert second.tree_size == first.tree_size + 1
    assert latest_checkpoint(session).tree_size == second.tree_size
    proof = repository.consistency_proof(session, first.tree_size, second.tree_size)
    verifier.verify_checkpoint_consistency(
        first.note, second.note, [p.hex() for p in proof], ring.vkeys
    )


def test_the_periodic_job_issues_checkpoints(session, app_context):
    from mindlinks.jobs.service import PERIODIC, enqueue

    assert "ledger.issue_checkpoint" in PERIODIC
    assert PERIODIC["ledger.issue_checkpoint"].every_seconds(app_context.settings) == 5
    append_n(session, 3)
    enqueue(session, "ledger.issue_checkpoint", key="checkpoint-test")
    run_jobs(session, app_context, names=("ledger.issue_checkpoint",))
    assert latest_checkpoint(session).tree_size == repository.head_size(session)
    assert issue_checkpoint_job is not None


def test_with_a_tsa_configured_each_checkpoint_carries_a_verifiable_token(
    session, app_context, monkeypatch
):
    from tests.ledger.tsa import running_tsa

    with running_tsa() as tsa:
        monkeypatch.setattr(app_context.settings, "tsa_url", tsa.url)
        append_n(session, 2)
        checkpoint = issue_checkpoint(session, app_context.settings, keyring_for(app_context))
    assert checkpoint is not None
    assert checkpoint.timestamp_token
    when = verify_timestamp(checkpoint.timestamp_token, checkpoint.note.encode(), tsa.pki.ca_pem)
    assert when.tzinfo is not None


def test_on_sqlite_the_entries_are_fsynced_before_their_checkpoint_is_signed(
    session, app_context, monkeypatch
):
    """SQLite commits under synchronous=NORMAL do not fsync: a checkpoint signed
    over entries still only in the OS's cache could outlive them."""
    append_n(session, 3)
    events: list[str] = []
    real_sync, real_sign = sqlite_wal.sync_committed, note.sign_note

    def sync(engine):
        events.append("sync")
        return real_sync(engine)

    def sign(*args, **kwargs):
        events.append("sign")
        return real_sign(*args, **kwargs)

    monkeypatch.setattr(sqlite_wal, "sync_committed", sync)
    monkeypatch.setattr(note, "sign_note", sign)
    assert issue_checkpoint(session, app_context.settings, keyring_for(app_context)) is not None
    assert events == ["sync", "sign"]


def test_syncing_committed_sqlite_writes_fsyncs_the_wal(tmp_path, monkeypatch):
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        synced: list[str] = []
        real_fsync = os.fsync
        monkeypatch.setattr(
            os,
            "fsync",
            lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)),
        )
        assert sqlite_wal.sync_committed(engine)
        assert synced == [f"{tmp_path / 'app.db'}-wal"]
    finally:
        engine.dispose()
    assert not sqlite_wal.sync_committed(make_engine("postgresql+psycopg://x@127.0.0.1/none"))

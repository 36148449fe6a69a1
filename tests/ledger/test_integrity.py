"""`verify_ledger` end to end: entries rewritten behind the database's back with their
hashes made to match (so only the form or the columns give them away), the payloads
the fast check leaves to the reference, worker processes, checkpoint signatures.

The tamper tests switch a trigger off inside the test's rolled-back transaction;
the worker tests need committed rows, in a database of their own (`scratch_engine`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.orm import Session

from mindlinks.ledger import integrity, merkle, note, repository, verify_range
from mindlinks.ledger.integrity import verify_ledger
from mindlinks.ledger.models import LedgerCheckpoint
from mindlinks.ledger.service import NewEntry, append_entries
from tests.ledger.db_helpers import add_checkpoint, append_n, dialect, lift_guard

ORIGIN = "mindlinks.test/ledger"


def entry_bytes(session: Session, seq: int) -> bytes:
    return bytes(
        session.execute(
            text("SELECT entry_bytes FROM ledger_entries WHERE seq = :s"), {"s": seq}
        ).scalar_one()
    )


def rewrite_last(session: Session, data: bytes) -> int:
    """New bytes for the last entry, its leaf hash made to match: only the form and
    the fields of the bytes can be wrong (no later entry chains to it)."""
    seq = repository.head_size(session) - 1
    lift_guard(session, "ledger_entries", "update")
    session.execute(
        text("UPDATE ledger_entries SET entry_bytes = :b, leaf_hash = :h WHERE seq = :s"),
        {"b": data, "h": merkle.leaf_hash(data), "s": seq},
    )
    return seq


def respelled(data: bytes, how: str) -> bytes:
    obj = json.loads(data)
    compact = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    if how == "spaces":
        return json.dumps(obj, sort_keys=True).encode()
    if how == "escape":
        return compact.replace('"ids":["id', '"ids":["\\u0069d').encode()
    if how == "float":
        return compact.replace('"n":', '"n":1.5,"o":', 1).encode()
    if how == "huge integer":
        obj["payload"]["n"] = 2**53 + 1
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    if how == "unsorted":
        obj["payload"] = dict(reversed(obj["payload"].items()))
        return json.dumps(obj, separators=(",", ":")).encode()
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["spaces", "escape", "float", "huge integer", "unsorted"])
def test_a_non_canonical_entry_whose_hashes_match_is_named(session, how):
    append_n(session, 20)
    seq = repository.head_size(session) - 1
    seq = rewrite_last(session, respelled(entry_bytes(session, seq), how))
    report = verify_ledger(session)
    assert (report.ok, report.first_bad_seq, report.entries_checked) == (False, seq, seq)
    assert report.reason.startswith(f"entry {seq}: ")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "user:someone-else"),
        ("kind", 'test."appended'),
        ("recorded_at", datetime(2030, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_changed_column_is_named(session, column, value):
    append_n(session, 9)
    seq = repository.head_size(session) - 4
    lift_guard(session, "ledger_entries", "update")
    session.execute(
        text(f"UPDATE ledger_entries SET {column} = :v WHERE seq = :s"),
        {
            "v": value
            if column != "recorded_at"
            else value.replace(tzinfo=None)
            if dialect(session) == "sqlite"
            else value,
            "s": seq,
        },
    )
    report = verify_ledger(session)
    assert (report.first_bad_seq, report.entries_checked) == (seq, seq)
    assert "columns" in report.reason


def test_entries_the_fast_check_leaves_to_the_reference_verify(session):
    """Non-ASCII text, nested values, escapes, spaces: sound, and accepted."""
    append_entries(
        session,
        [
            NewEntry("test.unicode", "contract:U1", "user:tester", {"name": "Zoë", "e": "😀"}),
            NewEntry("test.nested", "contract:N1", "user:tester", {"a": [{"b": None}], "c": {}}),
            NewEntry("test.escaped", "contract:E1", "user:tester", {"q": 'say "hi"\\n'}),
            NewEntry("test.spaced", "contract:S1", "user:tester", {"s": "a b", "n": -7}),
        ]
        * 3,
    )
    append_n(session, 5)
    report = verify_ledger(session, chunk_level=3)
    assert (report.ok, report.reason) == (True, None)
    assert report.entries_checked == repository.head_size(session)


def test_a_level_concatenated_out_of_order_is_read_again_before_it_is_reported(
    session, monkeypatch
):
    """SQLite's group_concat follows its ordered subquery, but nothing promises that:
    a level whose concatenation comes in another order is read row by row, and passes;
    a wrong node is still named."""
    append_n(session, 80)
    read = verify_range.Source.node_hashes

    def reversed_hashes(self: verify_range.Source, level: int, low: int, high: int) -> bytes:
        joined = read(self, level, low, high)
        return b"".join(reversed([joined[i : i + 32] for i in range(0, len(joined), 32)]))

    monkeypatch.setattr(verify_range.Source, "node_hashes", reversed_hashes)
    report = verify_ledger(session, chunk_level=3)
    assert (report.ok, report.reason) == (True, None)

    lift_guard(session, "ledger_nodes", "update")
    session.execute(
        text("UPDATE ledger_nodes SET hash = :h WHERE level = 4 AND idx = 3"), {"h": bytes(32)}
    )
    report = verify_ledger(session, chunk_level=6)
    assert (report.first_bad_seq, report.reason) == (63, "tree node (4, 3) has a wrong hash")


def test_workers_are_not_used_inside_the_callers_transaction(session):
    """Another connection could not see these uncommitted rows: one process checks."""
    append_n(session, 40)
    report = verify_ledger(session, workers=2, chunk_level=3)
    assert (report.ok, report.entries_checked) == (True, repository.head_size(session))


# -- worker processes (committed rows) ---------------------------------------------------


def signed(size: int, root: bytes, key: Ed25519PrivateKey) -> LedgerCheckpoint:
    return LedgerCheckpoint(
        tree_size=size,
        root_hash=root,
        issued_at=datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        key_id=note.key_id(ORIGIN, key.public_key()),
        note=note.sign_checkpoint(ORIGIN, size, root, key),
        timestamp_token=None,
    )


@pytest.fixture
def committed(scratch_engine):
    """A committed ledger of 700 entries with signed checkpoints at sizes inside,
    at the end of, and across ranges of 2^5 entries."""
    key = Ed25519PrivateKey.generate()
    with Session(scratch_engine) as session, session.begin():
        append_n(session, 700)
        for size in (1, 31, 32, 33, 64, 400, 699, 700):
            session.add(signed(size, repository.root_at(session, size), key))
    return scratch_engine, key


def verify(engine, **kwargs):
    seen: list[tuple[int, int]] = []
    with Session(engine) as session:
        report = verify_ledger(session, lambda done, total: seen.append((done, total)), **kwargs)
    return report, seen


def test_worker_processes_verify_a_committed_ledger(committed, monkeypatch):
    engine, key = committed
    opened = []
    real_open_pool = integrity.open_pool

    def spy(*args):
        pool = real_open_pool(*args)
        opened.append(pool)
        return pool

    monkeypatch.setattr(integrity, "open_pool", spy)
    report, seen = verify(engine, workers=2, chunk_level=5)
    assert opened and opened[0] is not None, "the ranges were not given to workers"
    assert (report.ok, report.reason, report.entries_checked) == (True, None, 700)
    assert report.checkpoints_checked == 8
    assert seen[-1] == (700, 700) and len(seen) == 22
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)

    vkey = note.vkey(ORIGIN, key.public_key())
    signed_report, _ = verify(engine, workers=2, chunk_level=5, trusted_keys=[vkey])
    assert signed_report.ok


def test_workers_and_one_process_name_the_same_first_bad_seq(committed):
    engine, _ = committed
    with Session(engine) as session, session.begin():
        lift_guard(session, "ledger_entries", "update")
        data = bytearray(entry_bytes(session, 517))
        data[data.index(b'"n":') + 4] ^= 1
        session.execute(
            text("UPDATE ledger_entries SET entry_bytes = :b WHERE seq = 517"), {"b": bytes(data)}
        )
        session.execute(text("UPDATE ledger_entries SET kind = 'test.other' WHERE seq = 600"))
        if dialect(session) == "postgresql":
            session.execute(
                text("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_no_update")
            )
    parallel, _ = verify(engine, workers=2, chunk_level=5)
    alone, _ = verify(engine, workers=1, chunk_level=5)
    assert parallel == alone
    assert (parallel.ok, parallel.first_bad_seq, parallel.entries_checked) == (False, 517, 517)
    assert "leaf hash" in parallel.reason


def test_workers_find_a_bad_node_above_the_ranges(committed):
    engine, _ = committed
    with Session(engine) as session, session.begin():
        lift_guard(session, "ledger_nodes", "update")
        session.execute(
            text("UPDATE ledger_nodes SET hash = :h WHERE level = 7 AND idx = 2"),
            {"h": bytes(32)},
        )
        if dialect(session) == "postgresql":
            session.execute(text("ALTER TABLE ledger_nodes ENABLE TRIGGER ledger_nodes_no_update"))
    report, _ = verify(engine, workers=2, chunk_level=5)
    assert report.first_bad_seq == (3 << 7) - 1
    assert "tree node (7, 2) has a wrong hash" in report.reason


def test_a_checkpoint_signed_by_another_key_is_named(committed):
    engine, key = committed
    stranger = Ed25519PrivateKey.generate()
    with Session(engine) as session, session.begin():
        append_n(session, 3)
        session.add(signed(703, repository.root_at(session, 703), stranger))
    trusted = [note.vkey(ORIGIN, key.public_key())]
    report, _ = verify(engine, workers=2, chunk_level=5, trusted_keys=trusted)
    assert (report.ok, report.first_bad_seq) == (False, 702)
    assert "checkpoint 703: its signature does not verify" in report.reason
    unchecked, _ = verify(engine, workers=2, chunk_level=5)
    assert unchecked.ok


def test_an_unsigned_checkpoint_note_fails_the_signature_check(session):
    append_n(session, 4)
    head = repository.head_size(session)
    add_checkpoint(session, head, repository.root_at(session, head))  # placeholder signature
    trusted = [note.vkey(ORIGIN, Ed25519PrivateKey.generate().public_key())]
    report = verify_ledger(session, trusted_keys=trusted)
    assert (report.first_bad_seq, report.ok) == (head - 1, False)
    assert "signature" in report.reason
    assert verify_ledger(session).ok


# -- the command ---------------------------------------------------------------------------


def test_the_verify_command_checks_checkpoint_signatures(scratch_engine, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mindlinks.cli import app

    monkeypatch.setenv(
        "MINDLINKS_DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("MINDLINKS_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    with Session(scratch_engine) as session, session.begin():
        append_n(session, 12)
    assert runner.invoke(app, ["ledger", "checkpoint"]).exit_code == 0
    ours = runner.invoke(app, ["ledger", "verify"])
    assert ours.exit_code == 0, ours.output
    assert "ok: 12 entries checked" in ours.output

    with Session(scratch_engine) as session, session.begin():
        append_n(session, 2)
        session.add(signed(14, repository.root_at(session, 14), Ed25519PrivateKey.generate()))
    forged = runner.invoke(app, ["ledger", "verify"])
    assert forged.exit_code == 1
    assert "FAILED at seq 13 after 14 entries checked: checkpoint 14" in forged.output
    assert "signature" in forged.output


def test_when_workers_cannot_connect_one_process_verifies_everything(committed, monkeypatch):
    from mindlinks.ledger import verify_range

    def refuse(*args):
        raise OSError("no connection for workers today")

    monkeypatch.setattr(verify_range, "_connect", refuse)  # the forked workers inherit it
    report, seen = verify(committed[0], workers=2, chunk_level=5)
    assert (report.ok, report.entries_checked, report.checkpoints_checked) == (True, 700, 8)
    assert seen[-1] == (700, 700)

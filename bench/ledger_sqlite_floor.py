"""Where a single SQLite append's time goes: the same transaction, built up in steps.

Each step runs N single-entry transactions through the app's `sessionmaker` on a fresh
SQLite file opened with the app's `make_engine`, in this order, twice (the table shows
the faster pass of each step, so drift on a shared machine shows as a spread):

- `empty`: open a session, begin (`BEGIN IMMEDIATE`), commit, close;
- `plain row`: the benchmark's plain baseline, one row through a Core INSERT into a
  table without index (what `bench.ledger` compares appends with);
- `entry row`: one ready-made ledger row (bytes, hashes, chained) inserted with the
  driver into `ledger_entries`: its two indexes and its chain trigger, no Python work;
- `+ tree nodes`: the same, and the complete subtrees the entry finishes;
- `append_entries`: the real append (validation, RFC 8785 encoding, hashing, the
  frontier, the same two inserts).

So `entry row` minus `empty` is what SQLite charges for a ledger row, `+ tree nodes` adds
the tree, and `append_entries` minus `+ tree nodes` is the Python of an append.

With `BENCH_FLOOR_BATCH=100`, transactions of 100 entries, and instead of `empty` and
`entry row` two diagnostics: `bare entry rows` (the ready-made rows into a
`ledger_entries` without its indexes and chain trigger, no tree nodes) and `- subject
index` (everything but the `(subject, seq)` index). Figures are per entry.

    PYTHONPATH=. .venv/bin/python -m bench.ledger_sqlite_floor   # BENCH_FLOOR_N=10000
    BENCH_FLOOR_BATCH=100 BENCH_FLOOR_N=30000 PYTHONPATH=. .venv/bin/python \
        -m bench.ledger_sqlite_floor
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from sqlalchemy.orm import Session

from bench.ledger import PLAIN, PLAIN_DDL, entries, plain_rows, sqlite_database
from mindlinks.db import make_session_factory
from mindlinks.ledger import canonical, merkle, service, store
from mindlinks.ledger.models import LOWEST_STORED_LEVEL
from mindlinks.ledger.service import NewEntry, append_entries
from mindlinks.platform.clock import now

N = int(os.environ.get("BENCH_FLOOR_N", "10000"))
WARM_UP = 1000


def ledger_rows(items: list[NewEntry]) -> tuple[list[tuple[Any, ...]], list[list[Any]]]:
    """The rows `append_entries` would write for `items` on an empty ledger."""
    prev, frontier = bytes(32), []
    recorded = now()
    stamp, bound = canonical.format_recorded_at(recorded), recorded.isoformat(" ")
    rows, nodes = [], []
    for seq, item in enumerate(items):
        _, head, tail = service._encoded(item)
        data = canonical.assemble_entry(head, prev, stamp, seq, tail)
        leaf = hashlib.sha256(b"\x00" + data).digest()
        rows.append((seq, item.kind, item.subject, item.actor, bound, data, leaf, prev))
        created, frontier = merkle.extend_frontier(seq, frontier, [leaf], LOWEST_STORED_LEVEL)
        nodes.append(created)
        prev = leaf
    return rows, nodes


# Diagnostics for batches: the ready-made rows into a ledger_entries stripped of what
# the name says (the app's schema needs all of it).
STRIPPED = {
    "- subject index": ["DROP INDEX ix_ledger_entries_subject_seq"],
    "bare entry rows": [
        "DROP INDEX ix_ledger_entries_subject_seq",
        "DROP INDEX ix_ledger_entries_kind_seq",
        "DROP TRIGGER ledger_entries_chain",
    ],
}


def measure(name: str, batch: int = 1) -> float:
    """Microseconds per entry of step `name`, in transactions of `batch` entries (after
    a warm-up)."""
    with sqlite_database() as engine:
        factory = make_session_factory(engine)
        items = entries(N + WARM_UP, seed=7)
        rows, nodes = ledger_rows(items)
        plain = plain_rows(items, seed=7)
        with factory.begin() as session:
            session.connection().exec_driver_sql(PLAIN_DDL["sqlite"])
            for ddl in STRIPPED.get(name, []):
                session.connection().exec_driver_sql(ddl)
        insert = PLAIN.insert()

        def work(session: Session, first: int) -> None:
            part = slice(first, first + batch)
            if name == "append_entries":
                append_entries(session, items[part])
                return
            if name == "plain row":
                session.connection().execute(insert, plain[part])
                return
            if name == "empty":
                session.connection()
                return
            raw = session.connection().connection.driver_connection
            raw.executemany(store._INSERT_ENTRIES, rows[part])
            if name == "entry row" or name == "bare entry rows":
                return
            created = [node for completed in nodes[part] for node in completed]
            # as `store.write_integration` writes them
            if len(created) == 1:
                raw.execute(store._INSERT_NODES, created[0])
            elif created:
                raw.executemany(store._INSERT_NODES, created)

        def run(first: int) -> None:
            session = factory()
            try:
                work(session, first)
                session.commit()
            finally:
                session.close()

        for first in range(0, WARM_UP, batch):
            run(first)
        started = time.perf_counter()
        for first in range(WARM_UP, WARM_UP + N, batch):
            run(first)
        return (time.perf_counter() - started) / N * 1e6


STEPS = ("empty", "plain row", "entry row", "+ tree nodes", "append_entries")
BATCH_STEPS = ("plain row", "bare entry rows", "- subject index", "+ tree nodes", "append_entries")


def main(batch: int = 1) -> dict[str, list[float]]:
    steps = STEPS if batch == 1 else BATCH_STEPS
    found: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(2):
        for name in steps:
            found[name].append(measure(name, batch))
    what = "single-entry transactions" if batch == 1 else f"transactions of {batch} entries"
    print(f"SQLite {what}, {N} entries each, load {os.getloadavg()[0]:.2f}")
    print(f"{'step':16s} {'µs/entry':>10s} {'per s':>8s}   both passes")
    for name, times in found.items():
        best = min(times)
        both = " / ".join(f"{t:.1f}" for t in times)
        print(f"{name:16s} {best:10.1f} {1e6 / best:8,.0f}   {both}")
    return found


if __name__ == "__main__":
    main(int(os.environ.get("BENCH_FLOOR_BATCH", "1")))

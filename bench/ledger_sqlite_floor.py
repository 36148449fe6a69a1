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

    PYTHONPATH=. .venv/bin/python -m bench.ledger_sqlite_floor   # BENCH_FLOOR_N=10000
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
        created, frontier = merkle.extend_frontier(seq, frontier, [leaf])
        nodes.append(created)
        prev = leaf
    return rows, nodes


def measure(name: str) -> float:
    """Microseconds per transaction of step `name` (after a warm-up)."""
    with sqlite_database() as engine:
        factory = make_session_factory(engine)
        items = entries(N + WARM_UP, seed=7)
        rows, nodes = ledger_rows(items)
        plain = plain_rows(items, seed=7)
        with factory.begin() as session:
            session.connection().exec_driver_sql(PLAIN_DDL["sqlite"])
        insert = PLAIN.insert()

        def work(session: Session, i: int) -> None:
            if name == "append_entries":
                append_entries(session, [items[i]])
                return
            if name == "plain row":
                session.connection().execute(insert, [plain[i]])
                return
            raw = session.connection().connection.driver_connection
            if name in ("entry row", "+ tree nodes"):
                raw.execute(store._INSERT_ENTRIES, rows[i])
            if name == "+ tree nodes" and nodes[i]:
                # as `store.write_integration` writes them
                if len(nodes[i]) == 1:
                    raw.execute(store._INSERT_NODES, nodes[i][0])
                else:
                    raw.executemany(store._INSERT_NODES, nodes[i])

        def run(i: int) -> None:
            session = factory()
            try:
                work(session, i)
                session.commit()
            finally:
                session.close()

        for i in range(WARM_UP):
            run(i)
        started = time.perf_counter()
        for i in range(WARM_UP, WARM_UP + N):
            run(i)
        return (time.perf_counter() - started) / N * 1e6


STEPS = ("empty", "plain row", "entry row", "+ tree nodes", "append_entries")


def main() -> dict[str, list[float]]:
    found: dict[str, list[float]] = {name: [] for name in STEPS}
    for _ in range(2):
        for name in STEPS:
            found[name].append(measure(name))
    print(f"SQLite single-entry transactions, {N} each, load {os.getloadavg()[0]:.2f}")
    print(f"{'step':16s} {'µs (best)':>10s} {'per s':>8s}   both passes")
    for name, times in found.items():
        best = min(times)
        both = " / ".join(f"{t:.1f}" for t in times)
        print(f"{name:16s} {best:10.1f} {1e6 / best:8,.0f}   {both}")
    return found


if __name__ == "__main__":
    main()

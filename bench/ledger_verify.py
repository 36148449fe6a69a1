"""Full ledger verification against raw SHA-256 over the same bytes (issue 3).

For PostgreSQL and for SQLite, each in a fresh database of its own (PostgreSQL:
`mindlinks_bench_verify`, created here and dropped afterwards; SQLite: a temporary
file), migrated with `mindlinks.migrations.runner.upgrade`:

1. a ledger of BENCH_LEDGER_SIZE entries (default 10^6) is built with
   `append_entries` in batches of BENCH_VERIFY_BATCH (default 5,000) per transaction;
2. the baseline, exactly as `bench.ledger` measures it: every `entry_bytes` is
   fetched into memory first, then a bare `hashlib.sha256(b"\\x00" + data).digest()`
   loop over them is timed;
3. `verify_ledger` with its defaults (worker processes for a ledger this size,
   one per core) and in one process (`workers=1`), each timed from the call to its
   report, each on a fresh session, BENCH_VERIFY_REPEAT times (default 1) in turn.

The ratio is verify entries/s over baseline entries/s, both measured in the same
run on the same machine. The machine's load average is recorded with the figures:
the baseline runs on one core and verification on all of them, so other work on
the machine moves the ratio. Each run also records the CPU time this process and
its worker processes used (`getrusage`, self and children), per entry: other work
on the machine moves it much less than the wall time (the database server's CPU
is not in it).

Run alone with `python -m bench.ledger_verify` (results in
bench/results/ledger_verify.json), or with everything else via `make bench`.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bench.ledger import postgres_database, raw_hash_baseline, sqlite_database
from mindlinks.db import make_session_factory, transaction
from mindlinks.ledger import repository, sequencer
from mindlinks.ledger.integrity import verify_ledger
from mindlinks.ledger.service import NewEntry, append_entries

"""The server, without a database: `postgres` is used to create and drop ours."""
PG_DATABASE = "mindlinks_bench_verify"
LEDGER_SIZE = int(os.environ.get("BENCH_LEDGER_SIZE", "1000000"))
BATCH = int(os.environ.get("BENCH_VERIFY_BATCH", "5000"))
REPEAT = int(os.environ.get("BENCH_VERIFY_REPEAT", "1"))
RESULTS = Path(__file__).parent / "results"
console = Console(width=int(os.environ.get("COLUMNS", "150")))

KINDS = ("contract.signed", "payment.received", "invoice.issued", "mandate.granted")


def new_entry(rng: random.Random) -> NewEntry:
    """A realistic entry (~420 bytes encoded), as in `bench.ledger`: subject and actor
    ids, a document hash, an amount in minor units, a currency and a version."""
    return NewEntry(
        kind=rng.choice(KINDS),
        subject=f"contract:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        actor=f"user:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        payload={
            "document_sha256": rng.randbytes(32).hex(),
            "amount_minor": rng.randrange(100, 10_000_000),
            "currency": "EUR",
            "version": rng.randrange(1, 20),
        },
    )


# -- databases ----------------------------------------------------------------------


# -- measuring ----------------------------------------------------------------------


@dataclass
class VerifyRun:
    mode: str
    workers: int | None
    seconds: float
    entries_per_s: float
    ok: bool
    entries_checked: int
    ratio: float
    cpu_us_per_entry: float
    """This process and its workers (getrusage self + children), not the database server."""
    load_after: float


@dataclass
class DatabaseResult:
    database: str
    size: int
    build_seconds: float
    build_per_s: float
    mean_entry_bytes: float
    sha256_seconds: float
    sha256_per_s: float
    load_before: tuple[float, float, float]
    runs: list[VerifyRun] = field(default_factory=list)


def build(factory: sessionmaker[Session], size: int, label: str) -> float:
    rng = random.Random(7)
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"building a {size:,}-entry {label} ledger", total=size)
        done = 0
        while done < size:
            chunk = [new_entry(rng) for _ in range(min(BATCH, size - done))]
            with transaction(factory) as session:
                append_entries(session, chunk)
                session.expunge_all()
            done += len(chunk)
            progress.update(task, completed=done)
    # PostgreSQL: the clock stops when the sequencer has integrated everything.
    sequencer.wait_integrated(factory.kw["bind"], timeout=600)
    seconds = time.perf_counter() - started
    with factory() as session:
        head = repository.head_size(session)
    if head != size:
        raise RuntimeError(f"built {head} entries, not {size}")
    return seconds


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, once reaped
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_verify(
    factory: sessionmaker[Session], mode: str, workers: int | None, sha_per_s: float
) -> VerifyRun:
    with factory() as session:
        cpu = _cpu_seconds()
        started = time.perf_counter()
        report = verify_ledger(session, workers=workers)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
        session.rollback()
    rate = report.entries_checked / seconds
    return VerifyRun(
        mode,
        workers,
        round(seconds, 2),
        rate,
        report.ok,
        report.entries_checked,
        rate / sha_per_s,
        round(cpu / max(report.entries_checked, 1) * 1e6, 3),
        round(os.getloadavg()[0], 2),
    )


def measure(database: str, engine: Engine, size: int) -> DatabaseResult:
    factory = make_session_factory(engine)
    build_seconds = build(factory, size, database)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE ledger_entries")
            conn.exec_driver_sql("VACUUM ANALYZE ledger_nodes")
    load = os.getloadavg()
    count, sha_seconds, mean_bytes = raw_hash_baseline(factory)
    result = DatabaseResult(
        database,
        count,
        round(build_seconds, 1),
        size / build_seconds,
        mean_bytes,
        round(sha_seconds, 3),
        count / sha_seconds,
        (round(load[0], 2), round(load[1], 2), round(load[2], 2)),
    )
    for _ in range(REPEAT):
        for mode, workers in (("default (parallel)", None), ("one process", 1)):
            console.print(f"verifying the {database} ledger: {mode} …")
            result.runs.append(timed_verify(factory, mode, workers, result.sha256_per_s))
    return result


# -- output -------------------------------------------------------------------------


def print_table(results: list[DatabaseResult]) -> None:
    table = Table(title="Full verification vs raw hashlib SHA-256 over the same bytes")
    columns = (
        "database",
        "entries",
        "mode",
        "ok",
        "seconds",
        "verify/s",
        "sha256/s",
        "ratio",
        "CPU µs/entry",
        "load after",
    )
    for name in columns:
        table.add_column(name, justify="left" if name in ("database", "mode") else "right")
    for r in results:
        for run in r.runs:
            table.add_row(
                r.database,
                f"{r.size:,}",
                run.mode,
                str(run.ok),
                f"{run.seconds}",
                f"{run.entries_per_s:,.0f}",
                f"{r.sha256_per_s:,.0f}",
                f"{run.ratio:.3f}",
                f"{run.cpu_us_per_entry:.2f}",
                f"{run.load_after:.2f}",
            )
    console.print(table)
    for r in results:
        console.print(
            f"{r.database}: built in {r.build_seconds:.1f} s ({r.build_per_s:,.0f} entries/s, "
            f"{BATCH} per transaction); mean entry {r.mean_entry_bytes:.0f} bytes; "
            f"load average before the baseline {r.load_before}"
        )


def save(results: list[DatabaseResult]) -> dict[str, Any]:
    record = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "batch": BATCH,
        "results": [asdict(r) for r in results],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger_verify.json").write_text(json.dumps(record, indent=2))
    return record


def main(size: int = LEDGER_SIZE) -> list[DatabaseResult]:
    results = []
    with postgres_database(PG_DATABASE) as engine:
        results.append(measure("postgresql", engine, size))
    with sqlite_database() as engine:
        results.append(measure("sqlite", engine, size))
    print_table(results)
    save(results)
    return results


if __name__ == "__main__":
    main()

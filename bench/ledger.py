"""The ledger: append throughput, proof time and size, full verification throughput.

Every figure comes with a baseline measured in the same run on the same database,
so the ratio is the number that travels across machines:

- appends (`append_entries`, one committed transaction per append or per batch of
  100; durable: `synchronous_commit` on for PostgreSQL, and on PostgreSQL a
  transaction's commit returns only once its entries are integrated, i.e. have
  their seq) against plain INSERTs of rows of the same size (same entry byte
  length, the same columns) into an unindexed table without a primary key,
  committed the same way by the same number of writers, on PostgreSQL and on
  SQLite. Single appends on PostgreSQL run with 1, 4 and 8 concurrent writers
  (threads of one process, like the app's request threads; BENCH_PG_WRITERS),
  whose commits group; SQLite, one writer at a time by design, with one. Each
  measurement alternates two halves of ledger and plain work, so drift on a
  shared machine hits both. Integration lag is the time from a caller's commit to
  its entries having their seq (PostgreSQL's after-commit integration);
- inclusion and consistency proofs read from the database with a session, on a
  ledger of BENCH_LEDGER_SIZE entries (default 10^6) built with large batches;
- `verify_ledger` over that ledger against a bare `hashlib.sha256` loop over the
  same entry bytes, already in memory.

Each part uses a fresh database of its own (PostgreSQL: created and dropped here;
SQLite: a temporary file), migrated with `mindlinks.migrations.runner.upgrade`.

Run alone with `python -m bench.ledger`, or with everything else via `make bench`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table as RichTable
from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy import text as sql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from mindlinks.db import UTCDateTime, make_engine, make_session_factory, transaction
from mindlinks.ledger import repository
from mindlinks.ledger.canonical import encode_entry, format_recorded_at
from mindlinks.ledger.service import NewEntry, append_entries, entry_object, verify_ledger
from mindlinks.migrations.runner import upgrade
from mindlinks.platform.clock import now

ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BENCH_DB = os.environ.get("BENCH_PG_DB", "mindlinks_bench_ledger")
LEDGER_SIZE = int(os.environ.get("BENCH_LEDGER_SIZE", "1000000"))
RESULTS = Path(__file__).parent / "results"
console = Console()

# -- databases ----------------------------------------------------------------------


@contextmanager
def postgres_database(name: str = BENCH_DB) -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sql(f"CREATE DATABASE {name}"))
    engine = make_engine(ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def sqlite_database() -> Iterator[Engine]:
    """A fresh, migrated SQLite file (WAL, synchronous=NORMAL, as the app runs it)."""
    with tempfile.TemporaryDirectory(prefix="mindlinks-bench-") as folder:
        engine = make_engine(f"sqlite:///{folder}/ledger.db")
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


# -- entries and their plain twins ------------------------------------------------------

KINDS = ("contract.signed", "payment.received", "invoice.issued", "mandate.granted")


def new_entry(rng: random.Random) -> NewEntry:
    """A realistic entry (~420 bytes encoded): the subject and actor ids, a document
    hash, an amount in minor units, a currency and a version."""
    contract = uuid.UUID(int=rng.getrandbits(128), version=4)
    return NewEntry(
        kind=rng.choice(KINDS),
        subject=f"contract:{contract}",
        actor=f"user:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        payload={
            "document_sha256": rng.randbytes(32).hex(),
            "amount_minor": rng.randrange(100, 10_000_000),
            "currency": "EUR",
            "version": rng.randrange(1, 20),
        },
    )


def entries(n: int, seed: int) -> list[NewEntry]:
    rng = random.Random(seed)
    return [new_entry(rng) for _ in range(n)]


PLAIN = Table(
    "bench_plain",
    MetaData(),
    Column("seq", BigInteger),
    Column("kind", String(64)),
    Column("subject", String(200)),
    Column("actor", String(200)),
    Column("recorded_at", UTCDateTime()),
    Column("entry_bytes", LargeBinary),
    Column("leaf_hash", LargeBinary),
    Column("prev_hash", LargeBinary),
)
INDEXED = Table(
    "bench_indexed",
    MetaData(),
    *(Column(c.name, c.type) for c in PLAIN.columns),
)
# A diagnostic, not the baseline: the same rows into a table with ledger_entries'
# primary key and indexes, to show how much of the gap is index maintenance that
# the ledger's schema needs (listing by subject and by kind).
INDEXED_DDL = [
    "CREATE TABLE bench_indexed (seq {seq} PRIMARY KEY, kind varchar(64), subject varchar(200),"
    " actor varchar(200), recorded_at {time}, entry_bytes {blob}, leaf_hash {blob},"
    " prev_hash {blob})",
    "CREATE INDEX bench_indexed_subject ON bench_indexed (subject, seq)",
    "CREATE INDEX bench_indexed_kind ON bench_indexed (kind, seq)",
]
INDEXED_TYPES = {
    "postgresql": {"seq": "bigint", "time": "timestamptz", "blob": "bytea"},
    "sqlite": {"seq": "INTEGER", "time": "DATETIME", "blob": "BLOB"},
}
PLAIN_DDL = {
    "postgresql": "CREATE TABLE bench_plain (seq bigint, kind varchar(64), subject varchar(200),"
    " actor varchar(200), recorded_at timestamptz, entry_bytes bytea, leaf_hash bytea,"
    " prev_hash bytea)",
    "sqlite": "CREATE TABLE bench_plain (seq INTEGER, kind VARCHAR(64), subject VARCHAR(200),"
    " actor VARCHAR(200), recorded_at DATETIME, entry_bytes BLOB, leaf_hash BLOB,"
    " prev_hash BLOB)",
}


def plain_rows(items: list[NewEntry], seed: int) -> list[dict[str, Any]]:
    """Rows shaped like ledger rows, entry_bytes as long as the ledger's encoding."""
    rng = random.Random(seed)
    recorded = now()
    stamp = format_recorded_at(recorded)
    rows = []
    for seq, item in enumerate(items):
        length = len(encode_entry(entry_object(seq, item, stamp, bytes(32))))
        rows.append(
            {
                "seq": seq,
                "kind": item.kind,
                "subject": item.subject,
                "actor": item.actor,
                "recorded_at": recorded,
                "entry_bytes": rng.randbytes(length),
                "leaf_hash": rng.randbytes(32),
                "prev_hash": rng.randbytes(32),
            }
        )
    return rows


# -- append throughput ----------------------------------------------------------------

PG_WRITERS = tuple(int(w) for w in os.environ.get("BENCH_PG_WRITERS", "1,4,8").split(","))
COMMITTED_AT = "bench.committed_at"


@dataclass
class AppendResult:
    database: str
    mode: str  # "single" or "batch of 100"
    writers: int
    n: int
    ledger_per_s: float
    plain_per_s: float
    mean_entry_bytes: float
    # From the caller's commit to its entries having a seq (PostgreSQL: the
    # after-commit integration; SQLite integrates inside the transaction: 0).
    lag_p50_ms: float
    lag_p99_ms: float
    # Diagnostic (batches only): plain rows into a table indexed like ledger_entries.
    indexed_per_s: float | None = None
    ratio: float = field(init=False)

    def __post_init__(self) -> None:
        self.ratio = self.ledger_per_s / self.plain_per_s if self.plain_per_s else 0.0


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _stamp_commit(session: Session) -> None:
    # Runs before the ledger's own after-commit listener (inserted first): the
    # moment the caller's data is committed, before its integration starts.
    if not session.in_nested_transaction():
        session.info[COMMITTED_AT] = time.perf_counter()


def _run_writers(writers: int, work: list[list[Any]], run: Callable[[list[Any]], None]) -> float:
    """Each of `writers` threads runs its share of the chunks, one transaction each;
    answers the wall-clock seconds from the common start to the last commit."""
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def writer(share: list[list[Any]]) -> None:
        start.wait()
        try:
            for chunk in share:
                run(chunk)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(work[w::writers],)) for w in range(writers)]
    for t in threads:
        t.start()
    start.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return seconds


def measure_appends(
    engine: Engine, database: str, n: int, batch: int, writers: int = 1
) -> AppendResult:
    """`n` entries appended by `writers` concurrent writers in committed transactions
    of `batch` entries, then `n` plain rows of the same sizes inserted the same way
    (same writers, same transactions) into the same database, in two alternating
    halves so that drift on a shared machine hits both alike."""
    factory = make_session_factory(engine)
    indexed = batch > 1
    with transaction(factory) as session:
        for table in (PLAIN, INDEXED):
            session.connection().exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")
        session.connection().exec_driver_sql(PLAIN_DDL[database])
        if indexed:
            for ddl in INDEXED_DDL:
                session.connection().exec_driver_sql(ddl.format(**INDEXED_TYPES[database]))
    items = entries(n, seed=batch * 100 + writers)
    rows = plain_rows(items, seed=batch)
    insert = PLAIN.insert()
    insert_indexed = INDEXED.insert()
    lags: list[float] = []

    def ledger(chunk: list[NewEntry]) -> None:
        session = factory()
        try:
            append_entries(session, chunk)
            session.commit()  # PostgreSQL: the entries have their seq when this returns
            lags.append(time.perf_counter() - session.info.pop(COMMITTED_AT))
        finally:
            session.close()

    def plain(chunk: list[dict[str, Any]]) -> None:
        with transaction(factory) as s:
            s.connection().execute(insert, chunk)

    def plain_indexed(chunk: list[dict[str, Any]]) -> None:
        with transaction(factory) as s:
            s.connection().execute(insert_indexed, chunk)

    with factory() as session:
        ledger_before = repository.head_size(session)
    # warm up both paths (connection pool, statement caches) outside the timing
    with transaction(factory) as s:
        append_entries(s, entries(10, seed=0))
        s.connection().execute(insert, rows[:10])
    ledger_chunks, plain_chunks = list(_chunks(items, batch)), list(_chunks(rows, batch))
    half = len(ledger_chunks) // 2
    ledger_seconds = plain_seconds = indexed_seconds = 0.0
    for part in (slice(0, half), slice(half, None)):
        ledger_seconds += _run_writers(writers, ledger_chunks[part], ledger)
        plain_seconds += _run_writers(writers, plain_chunks[part], plain)
        if indexed:
            indexed_seconds += _run_writers(writers, plain_chunks[part], plain_indexed)
    with factory() as session:
        # every append has its seq (the warm-up's 10 included)
        assert repository.head_size(session) == n + 10 + ledger_before
    mean_bytes = statistics.fmean(len(r["entry_bytes"]) for r in rows)
    mode = "single" if batch == 1 else f"batch of {batch}"
    lag_ms = [lag * 1000 for lag in lags] if database == "postgresql" else [0.0]
    return AppendResult(
        database,
        mode,
        writers,
        n,
        n / ledger_seconds,
        n / plain_seconds,
        mean_bytes,
        round(_percentile(lag_ms, 0.50), 3),
        round(_percentile(lag_ms, 0.99), 3),
        n / indexed_seconds if indexed else None,
    )


def append_benchmarks() -> list[AppendResult]:
    plan = [
        *(("postgresql", int(os.environ.get("BENCH_PG_SINGLE", "6000")), 1, w) for w in PG_WRITERS),
        ("postgresql", int(os.environ.get("BENCH_PG_BATCHED", "50000")), 100, 1),
        ("sqlite", int(os.environ.get("BENCH_SQLITE_SINGLE", "20000")), 1, 1),
        ("sqlite", int(os.environ.get("BENCH_SQLITE_BATCHED", "50000")), 100, 1),
    ]
    event.listen(Session, "after_commit", _stamp_commit, insert=True)
    results = []
    try:
        for database, n, batch, writers in plan:
            opener = postgres_database if database == "postgresql" else sqlite_database
            with opener() as engine:
                console.print(
                    f"appending {n} entries to {database}, {batch} per transaction, "
                    f"{writers} writer(s) …"
                )
                results.append(measure_appends(engine, database, n, batch, writers))
    finally:
        event.remove(Session, "after_commit", _stamp_commit)
    return results


# -- the big ledger: proofs and verification ------------------------------------------


@dataclass
class ProofResult:
    kind: str
    tree_size: int
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    max_hashes: int


@dataclass
class VerifyResult:
    entries: int
    seconds: float
    entries_per_s: float
    sha256_per_s: float
    mean_entry_bytes: float
    ok: bool
    ratio: float = field(init=False)

    def __post_init__(self) -> None:
        self.ratio = self.entries_per_s / self.sha256_per_s if self.sha256_per_s else 0.0


@dataclass
class BigLedgerResult:
    size: int
    batch: int
    build_seconds: float
    build_per_s: float
    proofs: list[ProofResult]
    verify: VerifyResult


def build_ledger(factory: sessionmaker[Session], size: int, batch: int) -> float:
    rng = random.Random(7)
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"building a {size:,}-entry ledger", total=size)
        done = 0
        while done < size:
            chunk = [new_entry(rng) for _ in range(min(batch, size - done))]
            with transaction(factory) as s:
                append_entries(s, chunk)
                s.expunge_all()
            done += len(chunk)
            progress.update(task, completed=done)
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_proofs(
    factory: sessionmaker[Session], size: int, inclusions: int, consistencies: int
) -> list[ProofResult]:
    rng = random.Random(11)
    results = []
    with factory() as session:
        head = repository.head_size(session)
        assert head == size, (head, size)
        session.rollback()
        for kind, count in (("inclusion", inclusions), ("consistency", consistencies)):
            timings: list[float] = []
            longest = 0
            for _ in range(count):
                if kind == "inclusion":
                    seq = rng.randrange(head)
                    started = time.perf_counter()
                    proof = repository.inclusion_proof(session, seq, head)
                else:
                    first = rng.randrange(1, head)
                    started = time.perf_counter()
                    proof = repository.consistency_proof(session, first, head)
                timings.append((time.perf_counter() - started) * 1000)
                longest = max(longest, len(proof))
            results.append(
                ProofResult(
                    kind,
                    head,
                    count,
                    round(_percentile(timings, 0.50), 3),
                    round(_percentile(timings, 0.99), 3),
                    round(max(timings), 3),
                    longest,
                )
            )
            session.rollback()
    return results


def time_verification(factory: sessionmaker[Session], size: int) -> VerifyResult:
    with factory() as session:
        started = time.perf_counter()
        report = verify_ledger(session)
        seconds = time.perf_counter() - started
        session.rollback()
    with factory() as session:
        blobs = [
            bytes(b)
            for (b,) in session.connection().exec_driver_sql(
                "SELECT entry_bytes FROM ledger_entries ORDER BY seq"
            )
        ]
        session.rollback()
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for data in blobs:
        sha256(b"\x00" + data).digest()
    hash_seconds = time.perf_counter() - started
    mean_bytes = statistics.fmean(len(b) for b in blobs)
    return VerifyResult(
        report.entries_checked,
        round(seconds, 2),
        report.entries_checked / seconds,
        len(blobs) / hash_seconds,
        mean_bytes,
        report.ok,
    )


def big_ledger_benchmark(size: int = LEDGER_SIZE, batch: int = 5000) -> BigLedgerResult:
    with postgres_database() as engine:
        factory = make_session_factory(engine)
        build = build_ledger(factory, size, batch)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE ledger_entries")
            conn.exec_driver_sql("VACUUM ANALYZE ledger_nodes")
        proofs = time_proofs(factory, size, inclusions=2000, consistencies=500)
        console.print("verifying the whole ledger …")
        verify = time_verification(factory, size)
    return BigLedgerResult(size, batch, round(build, 1), size / build, proofs, verify)


# -- output -------------------------------------------------------------------------


def print_tables(appends: list[AppendResult], big: BigLedgerResult) -> None:
    table = RichTable(title="Ledger appends vs plain INSERTs (same run, same database)")
    columns = ("database", "mode", "writers", "n", "entry bytes", "ledger/s", "plain/s")
    for name in (*columns, "ratio", "lag p50 ms", "lag p99 ms", "indexed plain/s"):
        table.add_column(name, justify="left" if name in ("database", "mode") else "right")
    for r in appends:
        table.add_row(
            r.database,
            r.mode,
            str(r.writers),
            str(r.n),
            f"{r.mean_entry_bytes:.0f}",
            f"{r.ledger_per_s:,.0f}",
            f"{r.plain_per_s:,.0f}",
            f"{r.ratio:.2f}",
            f"{r.lag_p50_ms}",
            f"{r.lag_p99_ms}",
            "" if r.indexed_per_s is None else f"{r.indexed_per_s:,.0f}",
        )
    console.print(table, width=150)
    console.print(
        f"built a {big.size:,}-entry PostgreSQL ledger in {big.build_seconds:.1f} s "
        f"({big.build_per_s:,.0f} entries/s, {big.batch} per transaction)"
    )
    proofs = RichTable(title=f"Proofs from the database at tree size {big.size:,}")
    for name in ("proof", "count", "p50 ms", "p99 ms", "max ms", "max hashes"):
        proofs.add_column(name, justify="left" if name == "proof" else "right")
    for p in big.proofs:
        proofs.add_row(
            p.kind, str(p.count), f"{p.p50_ms}", f"{p.p99_ms}", f"{p.max_ms}", str(p.max_hashes)
        )
    console.print(proofs)
    v = big.verify
    verify = RichTable(title="Full verification vs raw hashlib SHA-256 over the same bytes")
    for name in ("entries", "ok", "seconds", "verify entries/s", "sha256 entries/s", "ratio"):
        verify.add_column(name, justify="right")
    verify.add_row(
        f"{v.entries:,}",
        str(v.ok),
        f"{v.seconds}",
        f"{v.entries_per_s:,.0f}",
        f"{v.sha256_per_s:,.0f}",
        f"{v.ratio:.3f}",
    )
    console.print(verify)


def save(appends: list[AppendResult], big: BigLedgerResult) -> dict[str, Any]:
    record = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "appends": [asdict(r) for r in appends],
        "big_ledger": asdict(big),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger.json").write_text(json.dumps(record, indent=2))
    return record


def main() -> tuple[list[AppendResult], BigLedgerResult]:
    appends = append_benchmarks()
    big = big_ledger_benchmark()
    print_tables(appends, big)
    save(appends, big)
    return appends, big


if __name__ == "__main__":
    main()

"""The ledger: append throughput, proof time and size, full verification throughput.

Every figure comes with a baseline measured in the same run on the same database,
so the ratio is the number that travels across machines:

- appends (`append_entries`, one committed transaction per append or per batch of
  100) against plain INSERTs of rows of the same size (same entry byte length, the
  same columns) into an unindexed table without a primary key, committed the same
  way by the same number of writers, on PostgreSQL and on SQLite. Durable: on
  PostgreSQL `synchronous_commit` is on and the caller's commit is fsynced; the
  engine's sequencer thread then gives the entries their seq, and an entry counts
  only once it has one (the clock stops when the sequencer has caught up). SQLite
  runs as the app runs it (`synchronous=NORMAL`) and with `synchronous=FULL`
  (BENCH_SQLITE_SYNC). Single appends on PostgreSQL run with 1, 8, 16 and 32
  concurrent writers (threads of one process, like the app's request threads;
  BENCH_PG_WRITERS), whose commits group; SQLite, one writer at a time by design,
  with one. Each measurement alternates two halves of ledger and plain work, so
  drift on a shared machine hits both. Integration lag is the time from a caller's
  commit to the end of the sequencer pass that gave its entries their seq;
- inclusion and consistency proofs read from the database with a session, on a
  ledger of BENCH_LEDGER_SIZE entries (default 10^6) built with large batches;
- `verify_ledger` over that ledger against a bare `hashlib.sha256` loop over the
  same entry bytes, already in memory.

Each part uses a fresh database of its own (PostgreSQL: created and dropped here;
SQLite: a temporary file), migrated with `mindlinks.migrations.runner.upgrade`.

Run alone with `python -m bench.ledger [--part appends|proofs] [--only WORDS]`, or
with everything else via `make bench`.
"""

from __future__ import annotations

import argparse
import bisect
import collections
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
from mindlinks.ledger import repository, sequencer
from mindlinks.ledger.canonical import encode_entry, format_recorded_at
from mindlinks.ledger.service import NewEntry, append_entries, entry_object, verify_ledger
from mindlinks.migrations.runner import upgrade
from mindlinks.platform.clock import now
from mindlinks.platform.ids import id_at

ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BENCH_DB = os.environ.get("BENCH_PG_DB", "mindlinks_bench_ledger")
LEDGER_SIZE = int(os.environ.get("BENCH_LEDGER_SIZE", "1000000"))
RESULTS = Path(__file__).parent / "results"
console = Console(width=int(os.environ.get("COLUMNS", "180")))

# -- databases ----------------------------------------------------------------------


@contextmanager
def postgres_database(name: str = BENCH_DB, pool_size: int = 10) -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sql(f"CREATE DATABASE {name}"))
    engine = make_engine(ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", pool_size=pool_size)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def sqlite_database(configure: Callable[[Engine], None] | None = None) -> Iterator[Engine]:
    """A fresh, migrated SQLite file (WAL, synchronous=NORMAL, as the app runs it;
    `configure` may change the engine before its first connection)."""
    with tempfile.TemporaryDirectory(prefix="mindlinks-bench-") as folder:
        engine = make_engine(f"sqlite:///{folder}/ledger.db")
        if configure is not None:
            configure(engine)
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


SUBJECTS = os.environ.get("BENCH_SUBJECTS", "app")
"""How the append benchmarks pick subjects: `app` (contracts as the app names them,
see `entries`) or `random` (a random UUID per entry: every subject-index insert
lands on a random page, the worst case, which the app's ids never produce)."""
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "1000"))
LIFECYCLE = 5  # contract.sent, contract.signed twice, contract.activated, contract.sealed


def entries(n: int, seed: int) -> list[NewEntry]:
    """`n` entries for the append benchmarks. With BENCH_SUBJECTS=app (the default)
    their subjects are contracts named as the app names them, `contract:<new_id>`
    (`platform.ids`: 48 bits of milliseconds, then 80 random bits), each getting the
    LIFECYCLE entries a contract gets, interleaved with those of the other
    IN_FLIGHT contracts being signed at the same time (BENCH_IN_FLIGHT, default
    1,000): each entry is the next step of a random one of them, and a contract that
    took its last step is followed by a new one, named one millisecond later than
    the one before. Everything else as `new_entry`."""
    rng = random.Random(seed)
    if SUBJECTS == "random":
        return [new_entry(rng) for _ in range(n)]
    millis = 1_796_000_000_000  # 2026-11
    in_flight: list[list[Any]] = []  # [subject, steps left]
    items = []
    for _ in range(n):
        item = new_entry(rng)
        if len(in_flight) < IN_FLIGHT:
            millis += 1
            in_flight.append([f"contract:{id_at(millis, rng.getrandbits(80))}", LIFECYCLE])
        slot = rng.randrange(len(in_flight))
        contract = in_flight[slot]
        contract[1] -= 1
        if contract[1] == 0:
            in_flight[slot] = in_flight[-1]
            in_flight.pop()
        items.append(NewEntry(item.kind, contract[0], item.actor, item.payload))
    return items


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

PG_WRITERS = tuple(int(w) for w in os.environ.get("BENCH_PG_WRITERS", "1,8,16,32").split(","))
SQLITE_SYNC = tuple(os.environ.get("BENCH_SQLITE_SYNC", "NORMAL,FULL").split(","))


@dataclass
class AppendResult:
    database: str
    mode: str  # "single" or "batch of 100"
    writers: int
    n: int
    # Entries appended AND integrated per second: the clock stops when the last
    # entry has its seq (PostgreSQL: when the sequencer has caught up).
    ledger_per_s: float
    plain_per_s: float
    mean_entry_bytes: float
    # From the caller's commit to its entries having a seq (PostgreSQL: the
    # background sequencer; SQLite integrates inside the transaction: 0).
    lag_p50_ms: float
    lag_p99_ms: float
    # Diagnostic (batches only): plain rows into a table indexed like ledger_entries.
    indexed_per_s: float | None = None
    # The callers' view: appends whose commit had returned, per second.
    committed_per_s: float = 0.0
    # PostgreSQL's sequencer: passes run, mean entries per pass, entries per second
    # of pass time (its capacity; it keeps up while this exceeds ledger_per_s).
    passes: int = 0
    mean_batch: float = 0.0
    sequencer_per_s: float = 0.0
    sqlite_synchronous: str | None = None
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    ratio: float = field(init=False)

    def __post_init__(self) -> None:
        self.ratio = self.ledger_per_s / self.plain_per_s if self.plain_per_s else 0.0


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


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


def _lags(
    commits: list[tuple[int, float]], history: list[tuple[int, float, float, int]]
) -> list[float]:
    """Per committed append (its sequencer ticket, commit time): the seconds until the
    end of the first sequencer pass that covered its ticket."""
    covered = [target for target, _, _, _ in history]
    lags = []
    for ticket, committed in commits:
        at = bisect.bisect_left(covered, ticket)
        if at < len(history):
            lags.append(history[at][2] - committed)
    return lags


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
    queues = database == "postgresql"
    worker = sequencer.background(engine) if queues else None
    commits: list[tuple[int, float]] = []

    def ledger(chunk: list[NewEntry]) -> None:
        session = factory()
        try:
            append_entries(session, chunk)
            session.commit()  # PostgreSQL: returns before the sequencer's pass
            committed = time.perf_counter()
            if queues:
                commits.append((session.info[sequencer.TICKET_KEY], committed))
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
    if worker is not None:
        worker.wait(timeout=60)
        worker.history = collections.deque()
    passes_before = worker.passes if worker else 0
    ledger_chunks, plain_chunks = list(_chunks(items, batch)), list(_chunks(rows, batch))
    half = len(ledger_chunks) // 2
    ledger_seconds = committed_seconds = plain_seconds = indexed_seconds = 0.0
    for part in (slice(0, half), slice(half, None)):
        started = time.perf_counter()
        committed_seconds += _run_writers(writers, ledger_chunks[part], ledger)
        if worker is not None:  # the clock stops when every entry has its seq
            assert worker.wait(timeout=120), "the sequencer did not catch up"
        ledger_seconds += time.perf_counter() - started
        plain_seconds += _run_writers(writers, plain_chunks[part], plain)
        if indexed:
            indexed_seconds += _run_writers(writers, plain_chunks[part], plain_indexed)
    with factory() as session:
        # every append has its seq (the warm-up's 10 included)
        assert repository.head_size(session) == n + 10 + ledger_before
    mean_bytes = statistics.fmean(len(r["entry_bytes"]) for r in rows)
    mode = "single" if batch == 1 else f"batch of {batch}"
    passes = mean_batch = sequencer_rate = 0.0
    lag_ms = [0.0]
    if worker is not None and worker.history is not None:
        history = list(worker.history)
        worker.history = None
        lag_ms = [lag * 1000 for lag in _lags(commits, history)]
        passes = worker.passes - passes_before
        busy = sum(end - begin for _, begin, end, _ in history)
        counted = sum(count for *_, count in history)
        mean_batch = counted / passes if passes else 0.0
        sequencer_rate = counted / busy if busy else 0.0
    synchronous = None
    if database == "sqlite":
        with engine.connect() as conn:
            level = int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
            synchronous = ("OFF", "NORMAL", "FULL", "EXTRA")[level]
    load = os.getloadavg()
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
        committed_per_s=n / committed_seconds,
        passes=int(passes),
        mean_batch=round(mean_batch, 1),
        sequencer_per_s=round(sequencer_rate),
        sqlite_synchronous=synchronous,
        load=(round(load[0], 2), round(load[1], 2), round(load[2], 2)),
    )


SQLITE_AUTOCHECKPOINT = os.environ.get("BENCH_SQLITE_AUTOCHECKPOINT")
"""A `wal_autocheckpoint` (pages) to try instead of SQLite's default 1,000 (a
`mindlinks.db` setting: a diagnostic, off by default)."""


def _sqlite_synchronous(level: str) -> Callable[[Engine], None]:
    pragmas = [f"PRAGMA synchronous={level}"]
    if SQLITE_AUTOCHECKPOINT:
        pragmas.append(f"PRAGMA wal_autocheckpoint={int(SQLITE_AUTOCHECKPOINT)}")

    def configure(dbapi: Any, _record: Any) -> None:
        for pragma in pragmas:
            dbapi.execute(pragma)

    def apply(engine: Engine) -> None:
        # After the app's own connect listener (which sets NORMAL): the variant.
        event.listen(engine, "connect", configure)

    return apply


def append_plan() -> list[tuple[str, int, int, int, str | None]]:
    """(database, entries, entries per transaction, writers, SQLite synchronous)."""
    single = int(os.environ.get("BENCH_PG_SINGLE", "6000"))
    sqlite_single = int(os.environ.get("BENCH_SQLITE_SINGLE", "20000"))
    sqlite_batched = int(os.environ.get("BENCH_SQLITE_BATCHED", "50000"))
    return [
        *(("postgresql", single * max(1, w // 8), 1, w, None) for w in PG_WRITERS),
        ("postgresql", int(os.environ.get("BENCH_PG_BATCHED", "50000")), 100, 1, None),
        *(("sqlite", sqlite_single, 1, 1, level) for level in SQLITE_SYNC),
        *(("sqlite", sqlite_batched, 100, 1, level) for level in SQLITE_SYNC),
    ]


def append_benchmarks(only: str | None = None) -> list[AppendResult]:
    """Every append measurement (or those whose label contains `only`)."""
    results = []
    for database, n, batch, writers, level in append_plan():
        label = f"{database} {'single' if batch == 1 else 'batch'} w{writers} {level or ''}"
        if only and not all(word in label for word in only.split()):
            continue
        if database == "postgresql":
            # Every writer holds a pooled connection; the sequencer takes one more.
            opener = postgres_database(pool_size=writers + 4)
        else:
            opener = sqlite_database(configure=_sqlite_synchronous(level or "NORMAL"))
        with opener as engine:
            console.print(
                f"appending {n} entries to {database}, {batch} per transaction, "
                f"{writers} writer(s){f', synchronous={level}' if level else ''} "
                f"(load {os.getloadavg()[0]:.2f}) …"
            )
            result = measure_appends(engine, database, n, batch, writers)
            results.append(result)
            print_appends([result])
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
    load: float = 0.0


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
    verify: VerifyResult | None


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
    # PostgreSQL: the clock stops when the sequencer has integrated everything.
    sequencer.wait_integrated(factory.kw["bind"], timeout=600)
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
                    round(os.getloadavg()[0], 2),
                )
            )
            session.rollback()
    return results


def raw_hash_baseline(factory: sessionmaker[Session]) -> tuple[int, float, float]:
    """(entries, seconds, mean bytes): every entry_bytes fetched into memory first,
    then a bare hashlib loop over them, timed."""
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
    seconds = time.perf_counter() - started
    return len(blobs), seconds, statistics.fmean(len(b) for b in blobs)


def time_verification(factory: sessionmaker[Session], size: int) -> VerifyResult:
    with factory() as session:
        started = time.perf_counter()
        report = verify_ledger(session)
        seconds = time.perf_counter() - started
        session.rollback()
    count, hash_seconds, mean_bytes = raw_hash_baseline(factory)
    return VerifyResult(
        report.entries_checked,
        round(seconds, 2),
        report.entries_checked / seconds,
        count / hash_seconds,
        mean_bytes,
        report.ok,
    )


def big_ledger_benchmark(
    size: int = LEDGER_SIZE, batch: int = 5000, *, verify: bool = True
) -> BigLedgerResult:
    with postgres_database() as engine:
        factory = make_session_factory(engine)
        build = build_ledger(factory, size, batch)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE ledger_entries")
            conn.exec_driver_sql("VACUUM ANALYZE ledger_nodes")
        proofs = time_proofs(factory, size, inclusions=2000, consistencies=500)
        verified = None
        if verify:
            console.print("verifying the whole ledger …")
            verified = time_verification(factory, size)
    return BigLedgerResult(size, batch, round(build, 1), size / build, proofs, verified)


# -- output -------------------------------------------------------------------------


def print_appends(appends: list[AppendResult]) -> None:
    table = RichTable(title="Ledger appends vs plain INSERTs (same run, same database)")
    columns = ("database", "mode", "writers", "n", "ledger/s", "committed/s", "plain/s")
    more = ("ratio", "lag p50/p99 ms", "passes", "batch", "sequencer/s", "indexed/s", "load")
    for name in (*columns, *more):
        table.add_column(name, justify="left" if name in ("database", "mode") else "right")
    for r in appends:
        database = r.database
        if r.sqlite_synchronous is not None:
            database += f" ({r.sqlite_synchronous})"
        table.add_row(
            database,
            r.mode,
            str(r.writers),
            str(r.n),
            f"{r.ledger_per_s:,.0f}",
            f"{r.committed_per_s:,.0f}",
            f"{r.plain_per_s:,.0f}",
            f"{r.ratio:.2f}",
            f"{r.lag_p50_ms} / {r.lag_p99_ms}",
            str(r.passes or ""),
            f"{r.mean_batch}" if r.passes else "",
            f"{r.sequencer_per_s:,.0f}" if r.passes else "",
            "" if r.indexed_per_s is None else f"{r.indexed_per_s:,.0f}",
            f"{r.load[0]:.2f}",
        )
    console.print(table, width=170)


def print_big(big: BigLedgerResult) -> None:
    console.print(
        f"built a {big.size:,}-entry PostgreSQL ledger in {big.build_seconds:.1f} s "
        f"({big.build_per_s:,.0f} entries/s, {big.batch} per transaction)"
    )
    proofs = RichTable(title=f"Proofs from the database at tree size {big.size:,}")
    for name in ("proof", "count", "p50 ms", "p99 ms", "max ms", "max hashes", "load"):
        proofs.add_column(name, justify="left" if name == "proof" else "right")
    for p in big.proofs:
        proofs.add_row(
            p.kind,
            str(p.count),
            f"{p.p50_ms}",
            f"{p.p99_ms}",
            f"{p.max_ms}",
            str(p.max_hashes),
            f"{p.load:.2f}",
        )
    console.print(proofs)
    if big.verify is None:
        return
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


def save(appends: list[AppendResult], big: BigLedgerResult | None) -> dict[str, Any]:
    record = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "appends": [asdict(r) for r in appends],
        "big_ledger": None if big is None else asdict(big),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger.json").write_text(json.dumps(record, indent=2))
    return record


def main(argv: list[str] | None = None) -> tuple[list[AppendResult], BigLedgerResult | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__)
    parser.add_argument(
        "--part",
        choices=("all", "appends", "proofs"),
        default="all",
        help="appends only, the big ledger (proofs and verification) only, or both",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="append measurements whose label has all these words, e.g. "
        "'postgresql single w16' or 'sqlite batch FULL' (implies --part appends)",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the big ledger's full verification"
    )
    args = parser.parse_args(argv)
    if args.only:
        args.part = "appends"
    appends = append_benchmarks(args.only) if args.part in ("all", "appends") else []
    big = None
    if args.part in ("all", "proofs") and LEDGER_SIZE:
        big = big_ledger_benchmark(verify=not args.no_verify)
    if appends:
        print_appends(appends)
    if big is not None:
        print_big(big)
    save(appends, big)
    return appends, big


if __name__ == "__main__":
    main()

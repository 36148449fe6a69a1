"""SQLite's WAL checkpoints, run on a thread of their own instead of in commits.

In WAL mode a commit appends pages to the `-wal` file; a checkpoint copies them back
into the database file, and with `synchronous=NORMAL` it is also the moment the WAL
is fsynced. By default SQLite runs one inside whichever commit pushes the WAL past
1,000 pages: that commit pays for copying the pages and for two fsyncs (measured:
a sixth of the ledger's commits took over a millisecond, up to 7.5 ms, about 30 µs
per commit on average, docs/benchmarks.md "Ledger"). SQLite's documentation offers
the alternative used here: turn the automatic checkpoint down to a backstop and run
checkpoints "in a separate thread" (https://sqlite.org/wal.html, "Application-
initiated checkpoints").

`WalCheckpointer` runs a PASSIVE checkpoint every `interval` seconds on a connection
of its own. PASSIVE never waits for a lock and never blocks a writer: it copies what
no open read transaction still needs. sqlite3 releases the GIL while SQLite works,
so the copying and the fsyncs overlap the app's own work.

Durability, with `synchronous=NORMAL`: a committed transaction survives a process
crash at once, and a power loss once a checkpoint has synced the WAL after it.
With the default that moment came after 1,000 pages of writes, however long they
took (hours on a quiet system); here it comes within about `interval` seconds.
Where that is not soon enough (a ledger checkpoint is signed over entries that
must not be lost afterwards), `sync_committed` makes it now.
The connections' own automatic checkpoint stays as a backstop, at `BACKSTOP_PAGES`,
for a WAL the thread does not keep up with.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref

import structlog
from sqlalchemy import event
from sqlalchemy.engine import Engine

log = structlog.get_logger(__name__)

INTERVAL_SECONDS = 0.1
BACKSTOP_PAGES = 10_000
"""`wal_autocheckpoint` of the app's connections: SQLite's own checkpoint runs in a
commit only once the WAL holds this many pages (40 MB at 4 KiB pages)."""


class WalCheckpointer:
    """One database file's checkpoint thread (started by `attach`, stopped when the
    engine is disposed or the process exits)."""

    def __init__(self, path: str, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Held through each pass, and by a fork (see `_hold_for_fork`).
        self._pass = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"sqlite-wal-checkpoint:{self.path}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, frames in the WAL, frames checkpointed)."""
        row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.passes += 1
        return int(row[0]), int(row[1]), int(row[2])

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.exception("sqlite_wal_checkpointer_failed", path=self.path)
            return
        try:
            while not self._stop.wait(self.interval):
                try:
                    with self._pass:
                        self.checkpoint(connection)
                except sqlite3.Error:
                    # A locked or busy file this time (a schema change, a backup):
                    # the next pass tries again; the backstop covers the meantime.
                    log.warning("sqlite_wal_checkpoint_skipped", path=self.path)
        finally:
            connection.close()


def database_file(engine: Engine) -> str | None:
    """The path of the engine's SQLite database file; None for another database, an
    in-memory one, or a URI (whose file name is not the path)."""
    if engine.dialect.name != "sqlite":
        return None
    path = engine.url.database or ""
    if path in ("", ":memory:") or path.startswith("file:"):
        return None
    return path


def sync_committed(engine: Engine) -> bool:
    """Make every transaction committed so far survive a power loss, whatever the
    connections' `synchronous` level: fsync the WAL (SQLite, a database file).

    What is not in the WAL is in the database file, which a checkpoint fsyncs
    before SQLite lets the WAL start over, so the WAL's fsync is the one missing.
    fsync is per file, not per descriptor: a descriptor of our own flushes the
    frames every connection wrote. Answers whether there was a WAL to sync."""
    path = database_file(engine)
    if path is None:
        return False
    try:
        descriptor = os.open(f"{path}-wal", os.O_RDONLY)
    except FileNotFoundError:
        return False  # no WAL: everything is in the database file
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return True


_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def checkpointer_of(engine: Engine) -> WalCheckpointer | None:
    return _CHECKPOINTERS.get(engine)


def attach(engine: Engine) -> None:
    """Run the checkpoints of `engine`'s database file (if it has one) on a thread
    from its first connection on, with the connections' automatic checkpoint turned
    down to the backstop."""
    path = database_file(engine)
    if path is None:
        return
    checkpointer = WalCheckpointer(path, INTERVAL_SECONDS)
    with _guard:
        _CHECKPOINTERS[engine] = checkpointer

    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        checkpointer.start()

    def on_dispose(_engine: Engine) -> None:
        checkpointer.stop()

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "engine_disposed", on_dispose)
    # An engine dropped without dispose() (a script, a test) stops its thread too:
    # nothing of the thread refers to the engine.
    weakref.finalize(engine, checkpointer.stop, 0)


def _hold_for_fork() -> None:
    # No pass may be inside SQLite when the process forks: a child inherits the
    # state of SQLite's mutexes but not the thread that would release them, and
    # `ledger verify`'s forked workers open the same file.
    for checkpointer in list(_CHECKPOINTERS.values()):
        checkpointer._pass.acquire()


def _release_after_fork() -> None:
    for checkpointer in list(_CHECKPOINTERS.values()):
        if checkpointer._pass.locked():
            checkpointer._pass.release()


def _forget_in_child() -> None:
    # A forked child has none of the parent's threads: its engines start their own
    # on their next connection, if they ever connect.
    for checkpointer in list(_CHECKPOINTERS.values()):
        checkpointer._thread = None
        checkpointer._lock = threading.Lock()
        checkpointer._pass = threading.Lock()


os.register_at_fork(
    before=_hold_for_fork, after_in_parent=_release_after_fork, after_in_child=_forget_in_child
)

"""Contracts and signing: the lifecycle's server time, sealing, signatures per second.

Everything runs against the real app served by uvicorn in a subprocess (`uvicorn
mindlinks.app:create_app --factory`, what `mindlinks serve` runs, here with the
in-process worker OFF), on PostgreSQL in a database of its own (`bench_contracts`
at 127.0.0.1:5432, dropped and created with `dropdb`/`createdb`, migrated and the
shipped templates published with `upgrade_and_publish`), or with `--sqlite` on the
embedded default (a SQLite file in a temporary data dir).

Data is seeded through the services in this process before the server starts:
clients with a verified company (sandbox registry), each with a linked contractor
whose KYC session is approved, and an access token for each (minted with
`identity.service.start_session`, so argon2 sign-in is not on the measured path).

1. Lifecycle, one contract at a time (one more before them warms the server and
   is not counted), on the shipped `direct-services` template (sequential: client
   then contractor; fixed EUR 5,000 a month for 12 months, so activation creates a
   12-item schedule): `POST /api/contracts`, `POST /api/contracts/{id}/send`
   (renders and freezes the PDF), `POST /api/contracts/{id}/sign` by the client
   (typed), then by the contractor (drawn PNG; answers `active`, the schedule made
   in the same transaction). Each request's figure is the wall time of the HTTP
   call on loopback, measured by the client: server time plus a loopback round
   trip and httpx's own cost (~1 ms). Then the sealing job the activation queued
   (`esign.seal_contract`) is claimed by key and run by the real `Worker.execute`
   in this process against the same database, timed as a whole (its transaction,
   handler, `done` update and commit) and in spans: the steps of
   `seal_job.seal_contract` (gather, issue certificates, certificate of completion
   rendering, PDF signing, store) and inside the PDF signing the completion
   attachment, each signer's PAdES signature and the platform seal. The worker is
   off in the server so that sealing, CPU-bound, does not run on the same two cores
   while the next contract's requests are timed, and so its steps can be timed.
   The total per contract is the sum of its four requests and its sealing job.
2. Signatures per second with `--signers` (16) concurrent signers: each is a
   thread with its own httpx client and its own token (half clients, half their
   contractors), signing contracts of a parallel-order copy of `direct-services`
   (published under the key `bench-direct-parallel`) that were sent beforehand
   through the services. Phase "first": every signer signs `--per-signer` (20)
   contracts, all different; phase "activating": each signs the other half of
   its pair's contracts, so every signature in it activates a contract (status,
   schedule, `contract.activated`, seal job queued). Reported per phase and
   together: signatures/s (successful signatures / the phase's wall time),
   latency p50/p99, errors (any answer but 200), and the CPU used per signature
   by the server's processes, by PostgreSQL and by this client (from /proc).
   Run with one uvicorn process and with `--workers 2`, each on contracts of its
   own.

The machine has 2 cores shared by the server, PostgreSQL and this client, so
each figure comes with the 1-minute load average and with the share of the cores
that other processes used meanwhile (/proc/stat less ours); before each part the
run waits (`--settle`, 90 s at most) for the load to fall under 1.5. The send's
rendering time is the server's own (`render_ms` of its `contract_sent` log line,
the lifecycle's server logs at INFO). `--profile` adds cProfile runs of one more
contract's send rendering and sealing, and times the certificate of completion's
rendering alone: as shipped, with `table-layout: fixed`, both after `gc.freeze()`.

Run: `.venv/bin/python -m bench.contracts [--contracts 50] [--signers 16] [--sqlite]`
(also from `make bench`). Results: `bench/results/contracts.json`
(`contracts-sqlite.json` with `--sqlite`; `--part lifecycle|throughput` adds
`-lifecycle`/`-throughput` to the name).
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table as RichTable
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bench.me_rps import free_port, wait_until_up
from mindlinks.companies.providers.sandbox import SandboxRegistry
from mindlinks.companies.service import link_contractor, register_company
from mindlinks.config import Settings
from mindlinks.contracts.drafts import create_draft
from mindlinks.contracts.models import Contract, ContractDocument, ContractTemplate
from mindlinks.contracts.service import send_contract
from mindlinks.contracts.templates import TEMPLATE_DIR, sync_templates
from mindlinks.db import make_engine, transaction
from mindlinks.esign.disclosure import current_disclosure
from mindlinks.esign.models import ContractSignature
from mindlinks.esign.notices import seal_key
from mindlinks.identity.auth import Actor
from mindlinks.identity.models import User
from mindlinks.identity.service import create_user
from mindlinks.identity.service import start_session as start_sign_in
from mindlinks.jobs.models import Job
from mindlinks.jobs.registry import load_task_modules
from mindlinks.jobs.worker import ClaimedJob, Worker
from mindlinks.kyc import lifecycle as kyc_lifecycle
from mindlinks.kyc.providers import sandbox_provider_for
from mindlinks.kyc.sealing import keyring_for
from mindlinks.kyc.service import start_verification
from mindlinks.ledger.models import LedgerEntry
from mindlinks.migrations.publish import upgrade_and_publish
from mindlinks.payments.models import PaymentScheduleItem
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext, build_context
from mindlinks.platform.logging import configure_logging
from mindlinks.platform.ratelimit import RateLimiter
from mindlinks.platform.runtime import freeze_startup_heap

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_DB = os.environ.get("BENCH_CONTRACTS_DB", "bench_contracts")
PG_URL = f"postgresql+psycopg://postgres@{PG_HOST}:5432/{PG_DB}"
PASSWORD = "benchmark passphrase 42"
DIRECT_KEY = "direct-services"
PARALLEL_KEY = "bench-direct-parallel"
TERMS: dict[str, Any] = {
    "type": "fixed",
    "amount_minor": 500_000,
    "currency": "EUR",
    "cycle": "monthly",
}
START, END = date(2027, 1, 1), date(2027, 12, 31)
SCOPE = (
    "Design, build and maintain the payments API: endpoints, tests, documentation "
    "and on-call support for incidents in the Contractor's working hours."
)
# Names in several scripts: the PDFs embed Latin, Polish and CJK glyphs.
CONTRACTOR_NAMES = ("Zoë Łukasiewicz", "张伟", "Amara Okafor", "José Álvarez")
LIFECYCLE_TARGET_MS = 1000.0
SEALING_TARGET_MS = 300.0
console = Console(width=int(os.environ.get("COLUMNS", "150")))


def load() -> float:
    return round(os.getloadavg()[0], 2)


def settle(limit_seconds: float, below: float = 1.5) -> None:
    """Wait (at most `limit_seconds`) for the 1-minute load to fall under `below`:
    seeding and sending leave it high for a minute after they stop."""
    deadline = time.monotonic() + limit_seconds
    while load() >= below and time.monotonic() < deadline:
        time.sleep(5)
    console.print(f"load {load()}")


# -- statistics -------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Summary:
    median_ms: float
    p95_ms: float
    max_ms: float
    min_ms: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        if not values:
            return cls(0.0, 0.0, 0.0, 0.0)
        return cls(
            round(statistics.median(values), 1),
            round(percentile(values, 0.95), 1),
            round(max(values), 1),
            round(min(values), 1),
        )


# -- the database, the data dir and the seed ----------------------------------------------


@dataclass
class Place:
    """Where the run's data lives: the data dir (keys, blobs) and the database."""

    data_dir: Path
    database: str  # "postgresql" or "sqlite"
    database_url: str


@contextmanager
def bench_place(use_sqlite: bool, keep: bool) -> Iterator[Place]:
    data_dir = Path(tempfile.mkdtemp(prefix="mindlinks-bench-contracts-"))
    if use_sqlite:
        place = Place(data_dir, "sqlite", f"sqlite:///{data_dir / 'mindlinks.db'}")
    else:
        admin = ["-h", PG_HOST, "-U", "postgres"]
        subprocess.run(["dropdb", *admin, "--if-exists", "--force", PG_DB], check=True)
        subprocess.run(["createdb", *admin, PG_DB], check=True)
        place = Place(data_dir, "postgresql", PG_URL)
    try:
        yield place
    finally:
        if keep:
            console.print(f"kept {data_dir}" + ("" if use_sqlite else f" and database {PG_DB}"))
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
            if not use_sqlite:
                subprocess.run(
                    ["dropdb", "-h", PG_HOST, "-U", "postgres", "--if-exists", "--force", PG_DB],
                    check=False,
                )


def settings_for(place: Place) -> Settings:
    return Settings(
        data_dir=place.data_dir,
        database_url=place.database_url if place.database == "postgresql" else None,
        run_worker_in_process=False,
        log_level="WARNING",
        # The tokens are minted before the measurements and must outlive them.
        access_token_ttl_seconds=6 * 3600,
    )


@dataclass
class Pair:
    """A client (owner of a verified company) and its linked contractor, KYC
    approved, each with an access token."""

    client_id: str
    contractor_id: str
    client_name: str
    contractor_name: str
    client_headers: dict[str, str]
    contractor_headers: dict[str, str]


def _new_user(session: Session, role: str, email: str, name: str) -> User:
    user = create_user(
        session,
        email=email,
        password=PASSWORD,
        full_name=name,
        role=role,
        verified=True,
        allowed_roles=(role,),
    )
    session.flush()
    return user


def _bearer(session: Session, ctx: AppContext, user: User) -> dict[str, str]:
    pair = start_sign_in(session, ctx.settings, ctx.signing_key, user)
    return {"Authorization": f"Bearer {pair.access_token}"}


def seed_pairs(ctx: AppContext, count: int) -> list[Pair]:
    pairs: list[Pair] = []
    with progress_bar() as progress:
        task = progress.add_task(f"seeding {count} clients and contractors", total=count)
        for i in range(count):
            with transaction(ctx.session_factory) as session:
                client = _new_user(
                    session, "client", f"bench-client-{i}@example.com", f"Clara Client {i}"
                )
                company = register_company(
                    session,
                    Actor(user=client, family_id="bench-seed"),
                    legal_name=f"Bench Client {i} Ltd",
                    jurisdiction_code="gb",
                    registration_number=f"{10_000_000 + i}",
                    country="GB",
                    registry=SandboxRegistry(),
                )
                if company.verification_status != "verified":
                    raise RuntimeError(f"company {i} is {company.verification_status}")
                name = CONTRACTOR_NAMES[i % len(CONTRACTOR_NAMES)]
                contractor = _new_user(
                    session, "contractor", f"bench-contractor-{i}@example.com", name
                )
                link_contractor(session, company.id, contractor.id)
                kyc = start_verification(
                    session,
                    Actor(user=contractor, family_id="bench-seed"),
                    provider=sandbox_provider_for(ctx),
                    settings=ctx.settings,
                    limiter=RateLimiter(None),
                    keyring=keyring_for(ctx),
                ).session
                session.flush()
                kyc_lifecycle.move(
                    session,
                    kyc,
                    "approved",
                    actor_ref="bench",
                    reason_code="provider_approved",
                    reason="Approved by the benchmark seed",
                )
                pairs.append(
                    Pair(
                        client.id,
                        contractor.id,
                        client.full_name,
                        contractor.full_name,
                        _bearer(session, ctx, client),
                        _bearer(session, ctx, contractor),
                    )
                )
            progress.update(task, advance=1)
    return pairs


def publish_parallel_template(ctx: AppContext) -> str:
    """The shipped direct template with parallel signing, published as its own key."""
    text = (TEMPLATE_DIR / f"{DIRECT_KEY}.html").read_text(encoding="utf-8")
    parallel = text.replace('"signing_order": "sequential"', '"signing_order": "parallel"', 1)
    if parallel == text:
        raise RuntimeError(f"{DIRECT_KEY}.html no longer names its signing order")
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, f"{PARALLEL_KEY}.html").write_text(parallel, encoding="utf-8")
        with transaction(ctx.session_factory) as session:
            (template,) = sync_templates(session, Path(folder))
            return template.id


def template_id(ctx: AppContext, key: str) -> str:
    with ctx.session_factory() as session:
        found = session.scalar(
            select(ContractTemplate.id)
            .where(ContractTemplate.key == key)
            .order_by(ContractTemplate.version.desc())
            .limit(1)
        )
    if found is None:
        raise RuntimeError(f"template {key} is not published")
    return found


def canvas_png(seed: int) -> bytes:
    """A drawn signature as a browser canvas exports it: strokes on transparency."""
    image = Image.new("RGBA", (480, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = [(20 + 40 * k, 80 + (37 * (k + seed)) % 70 - 35) for k in range(12)]
    draw.line(points, fill=(10, 10, 60, 255), width=4, joint="curve")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def sign_body(pair: Pair, role: str, disclosure_version: int, seed: int = 0) -> dict[str, Any]:
    if role == "client":
        signature = {"type": "typed", "value": pair.client_name}
    else:
        signature = {"type": "drawn", "value": base64.b64encode(canvas_png(seed)).decode("ascii")}
    return {"consent": True, "signature": signature, "disclosure_version": disclosure_version}


def contract_body(template: str, pair: Pair, i: int) -> dict[str, Any]:
    return {
        "template_id": template,
        "contractor_id": pair.contractor_id,
        "title": f"Payments API development #{i}",
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        "payment_terms": dict(TERMS),
        "scope": SCOPE,
        "variables": {"governing_law": "England and Wales"},
    }


# -- the server ---------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    pid: int  # uvicorn's; with --workers its children serve
    log_path: Path


@contextmanager
def app_server(place: Place, workers: int, log_level: str = "WARNING") -> Iterator[Server]:
    """The app under uvicorn (`workers` processes), in-process worker off; its
    JSON log lines (at `log_level`) go to a file in the data dir."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MINDLINKS_DATA_DIR": str(place.data_dir),
        "MINDLINKS_PUBLIC_URL": url,
        "MINDLINKS_RUN_WORKER_IN_PROCESS": "false",
        "MINDLINKS_LOG_LEVEL": log_level,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("MINDLINKS_DATABASE_URL", None)
    if place.database == "postgresql":
        env["MINDLINKS_DATABASE_URL"] = place.database_url
    log_path = place.data_dir / f"server-{workers}-{port}.log"
    log_file = log_path.open("wb")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "mindlinks.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log_file, stderr=log_file)
    try:
        wait_until_up(f"{url}/api/health", timeout=60)
        yield Server(url, proc.pid, log_path)
    except BaseException:
        log_file.flush()
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        console.print("server log (last lines):", *tail, sep="\n", markup=False)
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log_file.close()


def expect(answer: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if answer.status_code != status:
        raise RuntimeError(f"{what} answered {answer.status_code}: {answer.text[:500]}")
    body: dict[str, Any] = answer.json()
    return body


# -- sealing spans --------------------------------------------------------------------------

# (module, attribute, span name): wrapped for the run so each sealing job's time
# splits into its steps. Top-level spans add up to the handler; the `sign.` ones
# are inside `pdf_signing`.
SEAL_SPANS = (
    ("mindlinks.esign.seal_runs", "record_ledger_seqs", "ledger_seqs"),
    ("mindlinks.esign.seal_job", "gather_seal_inputs", "gather"),
    ("mindlinks.esign.seal_job", "load_signing_authority", "authority"),
    ("mindlinks.esign.seal_job", "issue_signer_certificates", "certificates"),
    ("mindlinks.esign.seal_job", "render_completion_pdf", "completion_render"),
    ("mindlinks.esign.seal_job", "seal_document", "pdf_signing"),
    ("mindlinks.esign.sealing", "_attach_completion", "sign.attach_completion"),
    ("mindlinks.esign.sealing", "_sign_field", "sign.signers"),
    ("mindlinks.esign.sealing", "_seal", "sign.platform_seal"),
    ("mindlinks.esign.seal_job", "store_sealed", "store"),
)
TOP_SPANS = (
    "ledger_seqs",
    "gather",
    "authority",
    "certificates",
    "completion_render",
    "pdf_signing",
    "store",
)


@contextmanager
def seal_spans() -> Iterator[dict[str, float]]:
    """Time the sealing steps (in this process) into the yielded dict, in ms."""
    import importlib

    spans: dict[str, float] = defaultdict(float)
    saved: list[tuple[Any, str, Any]] = []

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans[name] += (time.perf_counter() - started) * 1000

        return wrapper

    for module_name, attribute, name in SEAL_SPANS:
        module = importlib.import_module(module_name)
        original = getattr(module, attribute, None)
        if original is None:  # renamed since: that span is simply missing
            continue
        saved.append((module, attribute, original))
        setattr(module, attribute, timed(name, original))
    try:
        yield spans
    finally:
        for module, attribute, original in saved:
            setattr(module, attribute, original)


def run_seal_job(worker: Worker, contract_id: str) -> float:
    """Claim the activation's seal job by its key and run it as the worker does;
    answers the run's wall time in ms (claim excluded)."""
    with worker.factory() as session, session.begin():
        row = session.execute(
            update(Job)
            .where(Job.idempotency_key == seal_key(contract_id, 0), Job.status == "queued")
            .values(
                status="running",
                locked_by=worker.worker_id,
                locked_until=now() + timedelta(seconds=worker.lease_seconds),
                attempts=Job.attempts + 1,
            )
            .returning(Job.id, Job.name, Job.payload, Job.attempts, Job.max_attempts)
        ).one()
    claimed = ClaimedJob(row[0], row[1], row[2], row[3], row[4], seal_key(contract_id, 0))
    started = time.perf_counter()
    worker.execute(claimed)
    elapsed = (time.perf_counter() - started) * 1000
    with worker.factory() as session:
        contract = session.get(Contract, contract_id)
        job = session.get(Job, claimed.id)
        assert contract is not None
        assert job is not None
        if contract.sealed_at is None or job.status != "done":
            raise RuntimeError(
                f"contract {contract_id} was not sealed: job {job.status}, "
                f"seal_error {contract.seal_error!r}, last_error {job.last_error!r}"
            )
    return elapsed


# -- 1. the lifecycle ---------------------------------------------------------------------


STEPS = ("create", "send", "sign_client", "sign_contractor")


@dataclass
class ContractTiming:
    contract_id: str
    create_ms: float
    send_ms: float
    sign_client_ms: float
    sign_contractor_ms: float
    seal_ms: float
    spans: dict[str, float]
    load: float

    @property
    def requests_ms(self) -> float:
        return self.create_ms + self.send_ms + self.sign_client_ms + self.sign_contractor_ms

    @property
    def total_ms(self) -> float:
        return self.requests_ms + self.seal_ms


@dataclass
class LifecycleResult:
    database: str
    contracts: int
    warmup_total_ms: float
    steps: dict[str, Summary]
    requests: Summary
    seal_job: Summary
    total: Summary
    seal_spans: dict[str, Summary]
    # From the server's own `contract_sent` log line: the PDF rendering inside send.
    send_render: Summary
    send_other: Summary
    sent_pdf_bytes: int
    sealed_pdf_bytes: int
    completion_pdf_bytes: int
    schedule_items_per_contract: int
    checks_ok: bool
    load_start: float
    load_end: float
    load_max: float
    # Share of the 2 cores used by other processes during the lifecycle part.
    others_busy: float
    per_contract: list[dict[str, Any]] = field(default_factory=list)


def one_lifecycle(
    client: httpx.Client, worker: Worker, pair: Pair, template: str, disclosure: int, i: int
) -> ContractTiming:
    def timed_post(path: str, headers: dict[str, str], body: Any, status: int) -> tuple[Any, float]:
        started = time.perf_counter()
        answer = client.post(path, headers=headers, json=body)
        elapsed = (time.perf_counter() - started) * 1000
        return expect(answer, status, f"POST {path}"), elapsed

    created, create_ms = timed_post(
        "/api/contracts", pair.client_headers, contract_body(template, pair, i), 201
    )
    cid = created["id"]
    sent, send_ms = timed_post(f"/api/contracts/{cid}/send", pair.client_headers, None, 200)
    assert sent["status"] == "sent", sent["status"]
    signed, sign_client_ms = timed_post(
        f"/api/contracts/{cid}/sign",
        pair.client_headers,
        sign_body(pair, "client", disclosure),
        200,
    )
    assert signed["status"] == "partially_signed", signed["status"]
    active, sign_contractor_ms = timed_post(
        f"/api/contracts/{cid}/sign",
        pair.contractor_headers,
        sign_body(pair, "contractor", disclosure, seed=i),
        200,
    )
    if active["status"] != "active":
        raise RuntimeError(f"the last signature answered {active['status']}, not active")
    with seal_spans() as spans:
        seal_ms = run_seal_job(worker, cid)
    return ContractTiming(
        cid,
        round(create_ms, 2),
        round(send_ms, 2),
        round(sign_client_ms, 2),
        round(sign_contractor_ms, 2),
        round(seal_ms, 2),
        {k: round(v, 2) for k, v in spans.items()},
        load(),
    )


def check_contracts(ctx: AppContext, ids: list[str]) -> tuple[bool, int]:
    """Every contract active with two signatures, one schedule, one activation entry;
    answers (all good, schedule items of the first)."""
    with ctx.session_factory() as session:
        statuses = dict(
            session.execute(select(Contract.id, Contract.status).where(Contract.id.in_(ids))).all()
        )
        signatures = dict(
            session.execute(
                select(ContractSignature.contract_id, func.count())
                .where(ContractSignature.contract_id.in_(ids))
                .group_by(ContractSignature.contract_id)
            ).all()
        )
        items = dict(
            session.execute(
                select(PaymentScheduleItem.contract_id, func.count())
                .where(PaymentScheduleItem.contract_id.in_(ids))
                .group_by(PaymentScheduleItem.contract_id)
            ).all()
        )
        activations = dict(
            session.execute(
                select(LedgerEntry.subject, func.count())
                .where(
                    LedgerEntry.kind == "contract.activated",
                    LedgerEntry.subject.in_([f"contract:{i}" for i in ids]),
                )
                .group_by(LedgerEntry.subject)
            ).all()
        )
    expected_items = items.get(ids[0], 0) if ids else 0
    found = {
        i: (statuses.get(i), signatures.get(i), items.get(i), activations.get(f"contract:{i}"))
        for i in ids
    }
    bad = {i: f for i, f in found.items() if f != ("active", 2, expected_items, 1)}
    if bad:
        console.print(f"[red]inconsistent (status, signatures, items, activations): {bad}")
    ok = not bad
    return ok and expected_items > 0, expected_items


def document_sizes(ctx: AppContext, ids: list[str]) -> dict[str, int]:
    with ctx.session_factory() as session:
        rows = session.execute(
            select(ContractDocument.kind, func.avg(ContractDocument.size_bytes))
            .where(ContractDocument.contract_id.in_(ids))
            .group_by(ContractDocument.kind)
        ).all()
    return {kind: round(float(size)) for kind, size in rows}


def send_render_ms(log_path: Path) -> dict[str, float]:
    """`render_ms` of each `contract_sent` line the server logged, by contract id."""
    found: dict[str, float] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        if '"contract_sent"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "contract_sent" and "render_ms" in event:
            found[str(event["contract_id"])] = float(event["render_ms"])
    return found


def measure_lifecycle(
    ctx: AppContext,
    server: Server,
    place: Place,
    pairs: list[Pair],
    template: str,
    disclosure: int,
) -> LifecycleResult:
    worker = Worker(ctx)
    # As `mindlinks worker` and the app's lifespan do once started.
    freeze_startup_heap()
    timings: list[ContractTiming] = []
    load_start = load()
    cpu_before, clock = cpu_seconds(server.pid), time.perf_counter()
    with (
        httpx.Client(base_url=server.url, timeout=120.0, trust_env=False) as client,
        progress_bar() as progress,
    ):
        # The first contract warms the server and this process (imports, fonts,
        # the signing CA, pools) and is not counted.
        warm = one_lifecycle(client, worker, pairs[0], template, disclosure, 0)
        task = progress.add_task(
            f"lifecycle of {len(pairs) - 1} contracts ({place.database})", total=len(pairs) - 1
        )
        for i, pair in enumerate(pairs[1:], start=1):
            timings.append(one_lifecycle(client, worker, pair, template, disclosure, i))
            progress.update(task, advance=1)
    cpu_after, elapsed = cpu_seconds(server.pid), time.perf_counter() - clock
    cpu_used = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
    ids = [t.contract_id for t in timings]
    ok, items = check_contracts(ctx, ids)
    sizes = document_sizes(ctx, ids)
    rendered = send_render_ms(server.log_path)
    render = [rendered[t.contract_id] for t in timings if t.contract_id in rendered]
    send_other = [t.send_ms - rendered[t.contract_id] for t in timings if t.contract_id in rendered]
    span_names = [name for _, _, name in SEAL_SPANS] + ["other"]
    span_values: dict[str, list[float]] = {name: [] for name in span_names}
    for t in timings:
        for name in span_names[:-1]:
            span_values[name].append(t.spans.get(name, 0.0))
        top = sum(t.spans.get(name, 0.0) for name in TOP_SPANS)
        span_values["other"].append(max(0.0, t.seal_ms - top))
    return LifecycleResult(
        database=place.database,
        contracts=len(timings),
        warmup_total_ms=round(warm.total_ms, 1),
        steps={
            "create": Summary.of([t.create_ms for t in timings]),
            "send": Summary.of([t.send_ms for t in timings]),
            "sign_client": Summary.of([t.sign_client_ms for t in timings]),
            "sign_contractor": Summary.of([t.sign_contractor_ms for t in timings]),
        },
        requests=Summary.of([t.requests_ms for t in timings]),
        seal_job=Summary.of([t.seal_ms for t in timings]),
        total=Summary.of([t.total_ms for t in timings]),
        seal_spans={name: Summary.of(v) for name, v in span_values.items()},
        send_render=Summary.of(render),
        send_other=Summary.of(send_other),
        sent_pdf_bytes=sizes.get("sent", 0),
        sealed_pdf_bytes=sizes.get("sealed", 0),
        completion_pdf_bytes=sizes.get("completion", 0),
        schedule_items_per_contract=items,
        checks_ok=ok,
        load_start=load_start,
        load_end=load(),
        load_max=max([t.load for t in timings] or [0.0]),
        others_busy=others_busy(cpu_used, elapsed),
        per_contract=[
            {**asdict(t), "requests_ms": round(t.requests_ms, 2), "total_ms": round(t.total_ms, 2)}
            for t in timings
        ],
    )


# The certificate's table rule as shipped, and the same with fixed table layout
# (column widths from the first row and the CSS, no min/max-content pass).
TABLE_CSS = "table { width: 100%; border-collapse: collapse; }"
TABLE_CSS_FIXED = "table { width: 100%; border-collapse: collapse; table-layout: fixed; }"


def diagnose_completion(ctx: AppContext, contract_id: str, rounds: int = 15) -> dict[str, Any]:
    """What the certificate of completion's rendering costs, in this process, for
    one sealed contract: as shipped and with `table-layout: fixed`, interleaved,
    then both again after `gc.freeze()`; with the time spent in full (generation
    2) garbage collections during the renders."""
    import gc

    from weasyprint import HTML  # type: ignore[import-untyped]
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    from mindlinks.esign import seal_job
    from mindlinks.esign.completion import render_completion_html
    from mindlinks.esign.pki import load_signing_authority
    from mindlinks.esign.sealing import issue_signer_certificates

    with ctx.session_factory() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        inputs = seal_job.gather_seal_inputs(session, ctx, contract)
        authority = load_signing_authority(ctx.settings)
        seals = [seal_job.signer_seal(contract, record) for record in inputs.signers]
        issued = issue_signer_certificates(authority, seals)
        html = render_completion_html(seal_job.completion_data(inputs, issued, authority))
    variants = {"as shipped": html}
    if TABLE_CSS in html:
        variants["table-layout: fixed"] = html.replace(TABLE_CSS, TABLE_CSS_FIXED)
    fetcher = URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    pauses: list[float] = []
    started_at: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started_at[:] = [time.perf_counter()]
        elif started_at:
            pauses.append((time.perf_counter() - started_at[0]) * 1000)

    def render(text: str) -> tuple[float, float]:
        pauses.clear()
        started = time.perf_counter()
        HTML(string=text, url_fetcher=fetcher).write_pdf()
        return (time.perf_counter() - started) * 1000, sum(pauses)

    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for text in variants.values():
        render(text)  # warm
    gc.callbacks.append(on_gc)
    try:
        for _ in range(rounds):
            for name, text in variants.items():
                timings[name].append(render(text))
        gc.collect()
        gc.freeze()
        for name in variants:
            timings[f"{name}, after gc.freeze()"] = []
        for _ in range(rounds):
            for name, text in variants.items():
                timings[f"{name}, after gc.freeze()"].append(render(text))
    finally:
        gc.unfreeze()
        gc.callbacks.remove(on_gc)
    return {
        name: {
            "renders": len(values),
            "median_ms": round(statistics.median(v[0] for v in values), 1),
            "p95_ms": round(percentile([v[0] for v in values], 0.95), 1),
            "max_ms": round(max(v[0] for v in values), 1),
            "full_gc_ms_total": round(sum(v[1] for v in values), 1),
            "full_gc_ms_max": round(max(v[1] for v in values), 1),
        }
        for name, values in timings.items()
    }


def profile_one(
    ctx: AppContext, server: Server, pair: Pair, template: str, disclosure: int, top: int = 25
) -> dict[str, str]:
    """One more contract, not counted: its four requests, then under cProfile, in
    this process, the rendering that its send did in the server (same HTML, same
    function) and its sealing job. Answers each profile's top entries by
    cumulative time; the raw profiles go to bench/results/contracts-*.pstats."""
    import cProfile
    import pstats

    from mindlinks.contracts import repository
    from mindlinks.contracts.rendering import render_contract_html, render_contract_pdf
    from mindlinks.contracts.templates import signing_roles

    worker = Worker(ctx)
    with httpx.Client(base_url=server.url, timeout=120.0, trust_env=False) as client:
        created = expect(
            client.post(
                "/api/contracts",
                headers=pair.client_headers,
                json=contract_body(template, pair, 9999),
            ),
            201,
            "POST /api/contracts",
        )
        cid = created["id"]
        for path, headers, body in (
            (f"/api/contracts/{cid}/send", pair.client_headers, None),
            (
                f"/api/contracts/{cid}/sign",
                pair.client_headers,
                sign_body(pair, "client", disclosure),
            ),
            (
                f"/api/contracts/{cid}/sign",
                pair.contractor_headers,
                sign_body(pair, "contractor", disclosure, seed=9999),
            ),
        ):
            expect(client.post(path, headers=headers, json=body), 200, f"POST {path}")
    profiles: dict[str, str] = {}
    RESULTS.mkdir(exist_ok=True)

    def report(name: str, profiler: cProfile.Profile) -> None:
        profiler.dump_stats(RESULTS / f"contracts-{name}.pstats")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
        profiles[name] = out.getvalue()

    with ctx.session_factory() as session:
        contract = session.get(Contract, cid)
        assert contract is not None
        roles = signing_roles(repository.template_of(session, contract).kind)
        # Once unprofiled first: this process has not rendered a contract yet
        # (cffi parses HarfBuzz's declarations on first use, ~0.3 s).
        render_contract_pdf(render_contract_html(session, contract), roles)
        profiler = cProfile.Profile()
        profiler.enable()
        render_contract_pdf(render_contract_html(session, contract), roles)
        profiler.disable()
        report("send-render", profiler)
    profiler = cProfile.Profile()
    profiler.enable()
    run_seal_job(worker, cid)
    profiler.disable()
    report("seal", profiler)
    return profiles


# -- 2. signatures per second ---------------------------------------------------------------


@dataclass
class Signer:
    """One concurrent signer: a user's token, and per phase the contracts it signs."""

    name: str
    headers: dict[str, str]
    body: dict[str, Any]
    warmup: list[str]
    phases: dict[str, list[str]]


@dataclass
class PhaseResult:
    phase: str
    workers: int
    signers: int
    signatures: int
    errors: int
    seconds: float
    signatures_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    load_start: float
    load_end: float
    # CPU used during the phase per successful signature: the server's processes,
    # every PostgreSQL process on the machine, this client process.
    server_cpu_ms_per_signature: float
    postgres_cpu_ms_per_signature: float
    client_cpu_ms_per_signature: float
    # All of that CPU over the phase's wall time and the machine's cores.
    cpu_busy: float
    # What every other process used meanwhile (other work on the machine).
    others_busy: float


@dataclass
class ThroughputResult:
    database: str
    workers: int
    signers: int
    per_signer: int
    phases: list[PhaseResult]
    checks_ok: bool
    prepare_seconds: float


def prepare_signers(
    ctx: AppContext,
    pairs: list[Pair],
    template: str,
    per_signer: int,
    disclosure: int,
    label: str,
) -> list[Signer]:
    """Sent contracts of the parallel template through the services: per pair one
    warm-up contract and 2 x `per_signer`; its client signs the first half in
    phase "first", its contractor the second half, and the other way round in
    phase "activating"."""
    per_pair = 1 + 2 * per_signer
    ids: dict[int, list[str]] = {}
    with progress_bar() as progress:
        task = progress.add_task(
            f"sending {per_pair * len(pairs)} contracts for {label}", total=per_pair * len(pairs)
        )
        for p, pair in enumerate(pairs):
            ids[p] = []
            for k in range(per_pair):
                with transaction(ctx.session_factory) as session:
                    client = session.get(User, pair.client_id)
                    assert client is not None
                    actor = Actor(user=client, family_id="bench-seed")
                    body = contract_body(template, pair, k)
                    draft = create_draft(
                        session,
                        actor,
                        template_id=template,
                        contractor_id=pair.contractor_id,
                        title=body["title"],
                        scope=SCOPE,
                        start_date=START,
                        end_date=END,
                        payment_terms=dict(TERMS),
                        variables=body["variables"],
                    )
                    send_contract(session, ctx, actor, draft)
                    ids[p].append(draft.id)
                progress.update(task, advance=1)
    signers: list[Signer] = []
    for p, pair in enumerate(pairs):
        warm, first, second = (
            ids[p][:1],
            ids[p][1 : 1 + per_signer],
            ids[p][1 + per_signer :],
        )
        signers.append(
            Signer(
                f"client {p}",
                pair.client_headers,
                sign_body(pair, "client", disclosure),
                warm,
                {"first": first, "activating": second},
            )
        )
        signers.append(
            Signer(
                f"contractor {p}",
                pair.contractor_headers,
                sign_body(pair, "contractor", disclosure, seed=p),
                warm,
                {"first": second, "activating": first},
            )
        )
    return signers


def _sign_all(
    url: str,
    jobs: list[tuple[Signer, list[str]]],
) -> tuple[list[float], Counter[str], float]:
    """Each signer in its own thread with its own client signs its contracts; all
    start together. Answers the latencies (s), the statuses and the wall time."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    ready = threading.Barrier(len(jobs) + 1)
    ends: list[float] = []

    def run(signer: Signer, contract_ids: list[str]) -> None:
        mine: list[float] = []
        seen: Counter[str] = Counter()
        with httpx.Client(base_url=url, timeout=120.0, trust_env=False) as client:
            ready.wait()
            for cid in contract_ids:
                started = time.perf_counter()
                try:
                    answer = client.post(
                        f"/api/contracts/{cid}/sign", headers=signer.headers, json=signer.body
                    )
                    seen[str(answer.status_code)] += 1
                except httpx.HTTPError as exc:
                    seen[type(exc).__name__] += 1
                mine.append(time.perf_counter() - started)
            finished = time.perf_counter()
        with lock:
            latencies.extend(mine)
            statuses.update(seen)
            ends.append(finished)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, statuses, max(ends) - started


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server's process tree, of all PostgreSQL
    processes, and of this process (every thread)."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    postgres = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _proc_stat(int(entry))
        if stat is None:
            continue
        parents[int(entry)], used[int(entry)] = stat
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                postgres += stat[1]
        except OSError:
            continue
    tree, frontier = {server_pid}, [server_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    with open("/proc/stat") as stat_file:
        ticks = [int(x) for x in stat_file.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait
    machine = (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS
    return {
        "server": sum(used.get(pid, 0.0) for pid in tree),
        "postgres": postgres,
        "client": time.process_time(),
        "machine": machine,
    }


def others_busy(cpu: dict[str, float], seconds: float) -> float:
    """The share of the machine's cores that everything else used meanwhile."""
    ours = cpu["server"] + cpu["postgres"] + cpu["client"]
    return round(max(0.0, cpu["machine"] - ours) / (seconds * (os.cpu_count() or 1)), 2)


@dataclass
class Measured:
    """One phase's raw figures (two add up to both phases as one run)."""

    latencies: list[float]
    statuses: Counter[str]
    seconds: float
    cpu: dict[str, float]
    load_start: float
    load_end: float

    def __add__(self, other: Measured) -> Measured:
        return Measured(
            self.latencies + other.latencies,
            self.statuses + other.statuses,
            self.seconds + other.seconds,
            {k: self.cpu[k] + other.cpu[k] for k in self.cpu},
            self.load_start,
            other.load_end,
        )


def measure_phase(url: str, server_pid: int, jobs: list[tuple[Signer, list[str]]]) -> Measured:
    load_start = load()
    before = cpu_seconds(server_pid)
    latencies, statuses, seconds = _sign_all(url, jobs)
    after = cpu_seconds(server_pid)
    cpu = {k: after[k] - before[k] for k in before}
    return Measured(latencies, statuses, seconds, cpu, load_start, load())


def measure_throughput(
    ctx: AppContext,
    place: Place,
    server: Server,
    workers: int,
    signers: list[Signer],
    per_signer: int,
    prepare_seconds: float,
) -> ThroughputResult:
    # Warm-up, not counted: clients first, then contractors (activating), so
    # every code path has run in the server before the clock starts.
    for role in ("client", "contractor"):
        chosen = [(s, s.warmup) for s in signers if s.name.startswith(role)]
        _, statuses, _ = _sign_all(server.url, chosen)
        if set(statuses) != {"200"}:
            raise RuntimeError(f"warm-up signatures answered {dict(statuses)}")
    first, activating = (
        measure_phase(server.url, server.pid, [(s, s.phases[phase]) for s in signers])
        for phase in ("first", "activating")
    )
    results = [
        _phase(name, workers, len(signers), m)
        for name, m in (("first", first), ("activating", activating), ("both", first + activating))
    ]
    ids = [cid for s in signers if s.name.startswith("client") for cid in s.phases["first"]]
    ids += [cid for s in signers if s.name.startswith("client") for cid in s.phases["activating"]]
    ok_all, _ = check_contracts(ctx, ids)
    return ThroughputResult(
        place.database, workers, len(signers), per_signer, results, ok_all, prepare_seconds
    )


def _phase(phase: str, workers: int, signers: int, m: Measured) -> PhaseResult:
    ok = m.statuses.get("200", 0)
    ms = [x * 1000 for x in m.latencies]

    def per_signature(seconds: float) -> float:
        return round(seconds * 1000 / ok, 1) if ok else 0.0

    return PhaseResult(
        phase=phase,
        workers=workers,
        signers=signers,
        signatures=ok,
        errors=sum(n for s, n in m.statuses.items() if s != "200"),
        seconds=round(m.seconds, 2),
        signatures_per_s=round(ok / m.seconds, 1),
        p50_ms=round(percentile(ms, 0.50), 1),
        p99_ms=round(percentile(ms, 0.99), 1),
        max_ms=round(max(ms), 1),
        statuses=dict(m.statuses),
        load_start=m.load_start,
        load_end=m.load_end,
        server_cpu_ms_per_signature=per_signature(m.cpu["server"]),
        postgres_cpu_ms_per_signature=per_signature(m.cpu["postgres"]),
        client_cpu_ms_per_signature=per_signature(m.cpu["client"]),
        cpu_busy=round(
            (m.cpu["server"] + m.cpu["postgres"] + m.cpu["client"])
            / (m.seconds * (os.cpu_count() or 1)),
            2,
        ),
        others_busy=others_busy(m.cpu, m.seconds),
    )


# -- output -------------------------------------------------------------------------------


def progress_bar() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


STEP_LABELS = {
    "create": "POST /api/contracts",
    "send": "POST /api/contracts/{id}/send (render + freeze PDF)",
    "sign_client": "POST /api/contracts/{id}/sign (client, typed)",
    "sign_contractor": "POST /api/contracts/{id}/sign (contractor, drawn; activates)",
}
SPAN_LABELS = {
    "ledger_seqs": "  record ledger seqs",
    "gather": "  gather inputs (rows, sent PDF from the blob store)",
    "authority": "  load signing authority (cached)",
    "certificates": "  issue the signers' one-use certificates",
    "completion_render": "  certificate of completion rendering (WeasyPrint)",
    "pdf_signing": "  PDF signing (pyHanko), of which:",
    "sign.attach_completion": "    attach the completion PDF",
    "sign.signers": "    signers' PAdES signatures (2)",
    "sign.platform_seal": "    platform seal",
    "store": "  store sealed + completion, ledger entry",
    "other": "  job transaction, done update, commit",
}


def _row(table: RichTable, label: str, s: Summary, *extra: str) -> None:
    table.add_row(label, f"{s.median_ms:.1f}", f"{s.p95_ms:.1f}", f"{s.max_ms:.1f}", *extra)


def print_lifecycle(r: LifecycleResult) -> None:
    table = RichTable(
        title=f"Contract lifecycle, {r.contracts} contracts, {r.database} "
        f"(HTTP wall time on loopback; sealing job in process)"
    )
    for name in ("step", "median ms", "p95 ms", "max ms"):
        table.add_column(name, justify="left" if name == "step" else "right")
    for step in STEPS:
        _row(table, STEP_LABELS[step], r.steps[step])
        if step == "send":
            _row(table, "  of which PDF rendering (server's render_ms)", r.send_render)
            _row(table, "  of which the rest (store, ledger, commit, HTTP)", r.send_other)
    _row(table, "the four requests", r.requests)
    _row(table, "sealing job (esign.seal_contract)", r.seal_job)
    for name in [n for _, _, n in SEAL_SPANS] + ["other"]:
        _row(table, SPAN_LABELS[name], r.seal_spans[name])
    _row(table, "[bold]total per contract (requests + sealing)", r.total)
    console.print(table)
    console.print(
        f"checks {'ok' if r.checks_ok else 'FAILED'}: every contract active, 2 signatures, "
        f"{r.schedule_items_per_contract} schedule items, one contract.activated; PDFs: sent "
        f"{r.sent_pdf_bytes / 1000:.0f} kB, sealed {r.sealed_pdf_bytes / 1000:.0f} kB, "
        f"completion {r.completion_pdf_bytes / 1000:.0f} kB; warm-up contract "
        f"{r.warmup_total_ms:.0f} ms; load {r.load_start}..{r.load_end} (max {r.load_max}); "
        f"other processes used {r.others_busy:.0%} of the cores meanwhile"
    )


def print_completion(found: dict[str, Any]) -> None:
    if not found:
        return
    table = RichTable(title="Certificate of completion rendering alone, in this process")
    for name in ("variant", "renders", "median ms", "p95 ms", "max ms", "full GC ms (max)"):
        table.add_column(name, justify="left" if name == "variant" else "right")
    for name, r in found.items():
        table.add_row(
            name,
            str(r["renders"]),
            f"{r['median_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['max_ms']:.1f}",
            f"{r['full_gc_ms_total']:.0f} ({r['full_gc_ms_max']:.0f})",
        )
    console.print(table)


def print_throughput(results: list[ThroughputResult]) -> None:
    if not results:
        return
    table = RichTable(
        title=f"Signatures per second, {results[0].signers} concurrent signers "
        f"({results[0].database})"
    )
    columns = ("uvicorn workers", "phase", "signatures", "seconds", "sig/s", "p50 ms")
    cpu = ("CPU ms/sig server", "PostgreSQL", "client", "CPU busy", "others")
    for name in (*columns, "p99 ms", "max ms", "errors", *cpu, "load"):
        table.add_column(name, justify="left" if name == "phase" else "right")
    for r in results:
        for p in r.phases:
            table.add_row(
                str(r.workers),
                p.phase,
                str(p.signatures),
                f"{p.seconds:.2f}",
                f"{p.signatures_per_s:.1f}",
                f"{p.p50_ms:.1f}",
                f"{p.p99_ms:.1f}",
                f"{p.max_ms:.1f}",
                str(p.errors),
                f"{p.server_cpu_ms_per_signature:.1f}",
                f"{p.postgres_cpu_ms_per_signature:.1f}",
                f"{p.client_cpu_ms_per_signature:.1f}",
                f"{p.cpu_busy:.0%}",
                f"{p.others_busy:.0%}",
                f"{p.load_start}..{p.load_end}",
            )
    console.print(table)
    for r in results:
        console.print(
            f"workers={r.workers}: checks {'ok' if r.checks_ok else 'FAILED'} (every contract "
            f"active with 2 signatures, its schedule and one activation); contracts sent in "
            f"{r.prepare_seconds:.0f} s"
        )


def save(
    place: Place,
    args: argparse.Namespace,
    lifecycle: LifecycleResult | None,
    throughput: list[ThroughputResult],
    completion: dict[str, Any],
) -> Path:
    record: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "database": place.database,
        "command": "python -m bench.contracts " + " ".join(sys.argv[1:]),
        "contracts": args.contracts,
        "signers": args.signers,
        "per_signer": args.per_signer,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "lifecycle": None if lifecycle is None else asdict(lifecycle),
        "throughput": [asdict(r) for r in throughput],
        "completion_rendering_diagnosis": completion or None,
    }
    if lifecycle is not None:
        record["targets"] = {
            "lifecycle_total_median_below_ms": LIFECYCLE_TARGET_MS,
            "lifecycle_met": lifecycle.total.median_ms < LIFECYCLE_TARGET_MS,
            "lifecycle_p95_met": lifecycle.total.p95_ms < LIFECYCLE_TARGET_MS,
            "sealing_below_ms": SEALING_TARGET_MS,
            "sealing_median_met": lifecycle.seal_job.median_ms < SEALING_TARGET_MS,
            "sealing_p95_met": lifecycle.seal_job.p95_ms < SEALING_TARGET_MS,
        }
    RESULTS.mkdir(exist_ok=True)
    name = "contracts" + ("-sqlite" if place.database == "sqlite" else "")
    path = RESULTS / f"{name}{'' if args.part == 'all' else '-' + args.part}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    return path


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.contracts", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--contracts", type=int, default=50, help="lifecycles measured")
    parser.add_argument("--signers", type=int, default=16, help="concurrent signers (even)")
    parser.add_argument(
        "--per-signer", type=int, default=20, help="signatures per signer in each phase"
    )
    parser.add_argument(
        "--workers", default="1,2", help="uvicorn worker counts for signatures/s, e.g. 1,2"
    )
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite default")
    parser.add_argument(
        "--part", choices=("all", "lifecycle", "throughput"), default="all", help="what to run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dir and database")
    parser.add_argument(
        "--settle",
        type=float,
        default=90.0,
        help="before each part, wait up to this many seconds for the load to fall under 1.5",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the lifecycle, cProfile one more contract's send rendering and sealing, "
        "and time the certificate of completion's rendering alone (as shipped, with "
        "table-layout: fixed, and both after gc.freeze())",
    )
    args = parser.parse_args(argv)
    if args.signers < 2 or args.signers % 2:
        parser.error("--signers must be even: half clients, half their contractors")
    if args.contracts < 1 or args.per_signer < 1:
        parser.error("--contracts and --per-signer must be at least 1")
    return args


def main(argv: list[str] | None = None) -> tuple[LifecycleResult | None, list[ThroughputResult]]:
    args = parse_args(argv)
    configure_logging("WARNING")
    load_task_modules()
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    lifecycle: LifecycleResult | None = None
    throughput: list[ThroughputResult] = []
    profiles: dict[str, str] = {}
    completion: dict[str, Any] = {}
    with bench_place(args.sqlite, args.keep) as place:
        settings = settings_for(place)
        engine = make_engine(settings.resolved_database_url)
        upgrade_and_publish(engine)
        ctx = build_context(settings, engine)
        console.print(
            f"contracts benchmark on {place.database} (data {place.data_dir}), load {load()}"
        )
        lifecycle_pairs = args.contracts + 1 + int(args.profile) if args.part != "throughput" else 0
        pair_count = max(lifecycle_pairs, args.signers // 2)
        pairs = seed_pairs(ctx, pair_count)
        direct = template_id(ctx, DIRECT_KEY)
        parallel = publish_parallel_template(ctx)
        with ctx.session_factory() as session:
            disclosure = current_disclosure(session).version
        if args.part in ("all", "lifecycle"):
            settle(args.settle)
            # INFO: the server logs each send's rendering time (`contract_sent`).
            with app_server(place, 1, log_level="INFO") as server:
                lifecycle = measure_lifecycle(
                    ctx, server, place, pairs[: args.contracts + 1], direct, disclosure
                )
                if args.profile:
                    profiles = profile_one(
                        ctx, server, pairs[args.contracts + 1], direct, disclosure
                    )
            if args.profile:
                completion = diagnose_completion(ctx, lifecycle.per_contract[-1]["contract_id"])
            print_lifecycle(lifecycle)
            print_completion(completion)
            for name, text in profiles.items():
                console.print(f"cProfile, {name} (top by cumulative time):", markup=False)
                console.print(text, markup=False, highlight=False)
        if args.part in ("all", "throughput"):
            signer_pairs = pairs[: args.signers // 2]
            for workers in worker_counts:
                started = time.perf_counter()
                signers = prepare_signers(
                    ctx,
                    signer_pairs,
                    parallel,
                    args.per_signer,
                    disclosure,
                    f"{args.signers} signers, {workers} worker(s)",
                )
                prepared = time.perf_counter() - started
                settle(args.settle)
                with app_server(place, workers) as server:
                    console.print(
                        f"{args.signers} concurrent signers, uvicorn --workers {workers}, "
                        f"load {load()} …"
                    )
                    throughput.append(
                        measure_throughput(
                            ctx, place, server, workers, signers, args.per_signer, prepared
                        )
                    )
            print_throughput(throughput)
        engine.dispose()
        path = save(place, args, lifecycle, throughput, completion)
    console.print(f"results: {path.relative_to(ROOT)}")
    return lifecycle, throughput


if __name__ == "__main__":
    main()

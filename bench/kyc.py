"""KYC: time from a sandbox capture to its committed decision, and upload memory.

Both parts run the real embedded server (`mindlinks serve`: one uvicorn process,
SQLite in a temporary data dir, the sandbox provider, the in-process worker on) with
`MINDLINKS_PUBLIC_URL` set to its own loopback address, so the sandbox's decision
travels as the product sends it: a queued job POSTs a signed webhook over real HTTP
to `/api/webhooks/kyc/sandbox` on the same server.

1. Decision latency. BENCH_KYC_SESSIONS (default 50) verified contractors, and one
   more whose capture warms the server and is not counted, are created with the
   identity service in the migrated database before the server starts. All log in
   first (BENCH_KYC_LOGIN_EACH=1: each right before its capture instead). Then, for
   each in turn: `POST /api/kyc/sessions`, `POST /api/kyc/sandbox/{id}/submit` with
   three generated JPEGs (1600x1000 ID front and back, an 800x800 selfie) and an
   ordinary document number (approved), then poll `GET /api/kyc/sessions/{id}` every
   BENCH_KYC_POLL_MS (default 10) until the status is final. Reported: the database's
   `decided_at - submitted_at` of every session, the client's time from the submit
   answer to the first poll that saw the decision, and a breakdown from the job and
   webhook-event rows.
2. Upload memory. For each of a ~10 MB JPEG (4000 px wide, noise: incompressible, and
   it decodes) and a ~10 MB PNG (noise, stored uncompressed by nature), a fresh server
   is warmed with one ordinary capture of the same format, its peak RSS is reset
   (`/proc/<pid>/clear_refs` = 5) and read with VmRSS/VmHWM from `/proc/<pid>/status`
   around one capture whose ID front is the big file (back and selfie ordinary). The
   figure is (VmHWM after - VmRSS before) / file size; the target is under 3. Then
   each step of the capture's handling of that file (read, check, encrypt, store) is
   run alone in a fresh interpreter (`python -m bench.kyc --stage STEP WARM BIG`),
   so a miss names the step that causes it.

Run alone with `.venv/bin/python -m bench.kyc`, or with everything else via `make
bench`. Results: `bench/results/kyc.json`.
"""

from __future__ import annotations

import io
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.me_rps import free_port, wait_until_up
from mindlinks.db import make_engine, make_session_factory, transaction
from mindlinks.identity.service import create_user
from mindlinks.jobs.models import Job
from mindlinks.kyc.lifecycle import DELIVER_SANDBOX_DECISION_JOB
from mindlinks.kyc.models import KycSession, KycWebhookEvent
from mindlinks.migrations.runner import upgrade

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
SESSIONS = int(os.environ.get("BENCH_KYC_SESSIONS", "50"))
LOGIN_EACH = os.environ.get("BENCH_KYC_LOGIN_EACH", "") == "1"
POLL_SECONDS = float(os.environ.get("BENCH_KYC_POLL_MS", "10")) / 1000
UPLOAD_LIMIT = 10 * 1024 * 1024  # Settings.kyc_max_upload_bytes
BIG_FILE_TARGET = 10_000_000  # just under the limit, multipart framing included
PASSWORD = "benchmark passphrase 42"
FINAL = ("approved", "declined", "expired")
console = Console(width=None if sys.stdout.isatty() else 110)


# -- images ---------------------------------------------------------------------------


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _camera_noise(image: Image.Image, rng: random.Random, sigma: float = 24) -> Image.Image:
    # Sensor-like grain, so the JPEG has the entropy of a photo, not of a drawing.
    noise = Image.merge(
        "RGB", [Image.effect_noise(image.size, sigma + rng.uniform(-4, 4)) for _ in range(3)]
    )
    return Image.blend(image, noise, 0.12)


def document_photo(rng: random.Random, side: str, size: tuple[int, int] = (1600, 1000)) -> bytes:
    """A photographed ID card: coloured card, header band, portrait box, text, MRZ."""
    width, height = size
    paper = tuple(rng.randrange(170, 235) for _ in range(3))
    image = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(image)
    band = tuple(max(0, c - rng.randrange(60, 120)) for c in paper)
    draw.rectangle((0, 0, width, height // 6), fill=band)
    font = ImageFont.load_default(size=44)
    small = ImageFont.load_default(size=30)
    draw.text((40, 40), "REPUBLIC OF BENCHMARKIA  IDENTITY CARD", fill="white", font=font)
    if side == "front":
        box = (60, height // 4, 60 + width // 4, height // 4 + height // 2 + 60)
        draw.rectangle(box, fill=(150, 150, 160))
        cx, cy = (box[0] + box[2]) // 2, box[1] + (box[3] - box[1]) // 3
        draw.ellipse((cx - 90, cy - 110, cx + 90, cy + 110), fill=(205, 170, 140))
        draw.rectangle((box[0] + 30, cy + 120, box[2] - 30, box[3]), fill=(60, 70, 90))
        x = box[2] + 60
        for row in range(6):
            y = height // 4 + row * 90
            draw.text(
                (x, y), "SURNAME / GIVEN NAMES"[: rng.randrange(8, 22)], fill=band, font=small
            )
            draw.text((x, y + 34), f"{rng.randrange(10**8):08d}", fill=(20, 20, 20), font=font)
    else:
        for row in range(4):
            y = height // 4 + row * 80
            draw.rectangle((60, y, rng.randrange(700, width - 60), y + 40), fill=band)
        mrz = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<") for _ in range(30))
        for row in range(3):
            draw.text((60, height - 260 + row * 70), mrz[row:] + mrz[:row], fill="black", font=font)
    image = image.rotate(rng.uniform(-3, 3), expand=False, fillcolor=(40, 40, 40))
    return _jpeg(_camera_noise(image, rng))


def selfie_photo(rng: random.Random, size: tuple[int, int] = (800, 800)) -> bytes:
    """A face against a wall: vertical gradient, skin ellipse, eyes, mouth, hair."""
    width, height = size
    wall = Image.linear_gradient("L").resize(size).convert("RGB")
    tint = Image.new("RGB", size, tuple(rng.randrange(60, 200) for _ in range(3)))
    image = Image.blend(wall, tint, 0.6)
    draw = ImageDraw.Draw(image)
    cx, cy = width // 2 + rng.randrange(-40, 40), height // 2 + rng.randrange(-30, 30)
    skin = (rng.randrange(140, 230), rng.randrange(100, 180), rng.randrange(80, 150))
    draw.rectangle((cx - 260, cy + 200, cx + 260, height), fill=(30, 40, 70))
    draw.ellipse((cx - 190, cy - 280, cx + 190, cy + 40), fill=(40, 30, 20))
    draw.ellipse((cx - 170, cy - 230, cx + 170, cy + 230), fill=skin)
    for dx in (-70, 70):
        draw.ellipse((cx + dx - 25, cy - 60, cx + dx + 25, cy - 30), fill="white")
        draw.ellipse((cx + dx - 10, cy - 55, cx + dx + 10, cy - 35), fill=(40, 30, 20))
    draw.chord((cx - 70, cy + 60, cx + 70, cy + 140), 0, 180, fill=(150, 50, 60))
    return _jpeg(_camera_noise(image, rng))


def noise_jpeg(target: int, width: int = 4000) -> bytes:
    """A JPEG of random pixels close to `target` bytes (a 4000-px-wide phone photo)."""
    height = 2000
    for _ in range(4):
        pixels = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        data = _jpeg(pixels, quality=95)
        if abs(len(data) - target) < target * 0.02 and len(data) <= target:
            return data
        height = max(200, int(height * target * 0.99 / len(data)))
    return data


def noise_png(target: int, width: int = 2000) -> bytes:
    """A PNG of random RGB pixels: zlib cannot shrink it, so the file ~ w*h*3 bytes."""
    height = (target - 4096) // (width * 3 + 1)
    return _png(Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)))


def capture_files(
    front: bytes, back: bytes, selfie: bytes, kind: str = "image/jpeg"
) -> dict[str, tuple[str, bytes, str]]:
    ext = "png" if kind == "image/png" else "jpg"
    return {
        "document_front": (f"front.{ext}", front, kind),
        "document_back": ("back.jpg", back, "image/jpeg"),
        "selfie": ("selfie.jpg", selfie, "image/jpeg"),
    }


def document_number(rng: random.Random) -> str:
    return f"P{rng.randrange(10**8):08d}"  # no DECL/REVW prefix: the sandbox approves


# -- the server -----------------------------------------------------------------------


@dataclass
class Server:
    url: str
    pid: int
    data_dir: Path
    database_url: str


@contextmanager
def embedded_server(contractors: int, tag: str) -> Iterator[tuple[Server, list[str]]]:
    """A migrated SQLite data dir with `contractors` verified contractors, and the
    embedded server (`mindlinks serve`, worker in process) running on it."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"mindlinks-bench-kyc-{tag}-"))
    database_url = f"sqlite:///{data_dir / 'mindlinks.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    emails = [f"bench-kyc-{tag}-{i}@example.com" for i in range(contractors)]
    with transaction(make_session_factory(engine)) as session:
        for i, email in enumerate(emails):
            create_user(
                session,
                email=email,
                password=PASSWORD,
                full_name=f"Bench Contractor {i}",
                role="contractor",
                verified=True,
                allowed_roles=("contractor",),
            )
    engine.dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MINDLINKS_DATA_DIR": str(data_dir),
        "MINDLINKS_PUBLIC_URL": url,
        "MINDLINKS_KYC_PROVIDER": "sandbox",
        "MINDLINKS_BLOB_STORE": "local",
        "MINDLINKS_RUN_WORKER_IN_PROCESS": "true",
        "MINDLINKS_LOG_LEVEL": os.environ.get("BENCH_KYC_LOG_LEVEL", "WARNING"),
        # one client address logs in once per contractor
        "MINDLINKS_RATE_LIMIT_LOGIN_ATTEMPTS": "10000/minute",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("MINDLINKS_DATABASE_URL", None)
    log_file = (data_dir / "server.log").open("wb")
    command = [sys.executable, "-m", "mindlinks.cli", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*command, "--port", str(port)], env=env, cwd=ROOT, stdout=log_file, stderr=log_file
    )
    try:
        wait_until_up(f"{url}/api/health")
        yield Server(url, proc.pid, data_dir, database_url), emails
    except BaseException:
        log_file.flush()
        tail = (data_dir / "server.log").read_text(errors="replace").splitlines()[-30:]
        console.print("server log (last lines):", *tail, sep="\n", markup=False)
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log_file.close()
        if os.environ.get("BENCH_KYC_KEEP"):
            console.print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def login(client: httpx.Client, email: str) -> dict[str, str]:
    answer = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def start_session(client: httpx.Client, headers: dict[str, str]) -> str:
    answer = client.post("/api/kyc/sessions", headers=headers)
    if answer.status_code != 201:
        raise RuntimeError(f"POST /api/kyc/sessions answered {answer.status_code}: {answer.text}")
    return str(answer.json()["id"])


def submit(
    client: httpx.Client,
    headers: dict[str, str],
    session_id: str,
    files: dict[str, tuple[str, bytes, str]],
    number: str,
) -> None:
    answer = client.post(
        f"/api/kyc/sandbox/{session_id}/submit",
        headers=headers,
        files=files,
        data={"document_number": number},
    )
    if answer.status_code != 202:
        raise RuntimeError(f"submit answered {answer.status_code}: {answer.text}")


def wait_final(
    client: httpx.Client, headers: dict[str, str], session_id: str, timeout: float = 60.0
) -> str:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        answer = client.get(f"/api/kyc/sessions/{session_id}", headers=headers)
        answer.raise_for_status()
        status = str(answer.json()["status"])
        if status in FINAL or status == "review":
            return status
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"session {session_id} had no decision after {timeout:.0f} s")


# -- 1. decision latency ---------------------------------------------------------------


@dataclass
class Summary:
    median_ms: float
    p90_ms: float
    max_ms: float
    min_ms: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        return cls(
            round(statistics.median(values), 1),
            round(_percentile(values, 0.90), 1),
            round(max(values), 1),
            round(min(values), 1),
        )


@dataclass
class LatencyResult:
    sessions: int
    login_before_each: bool
    cold_first_capture_ms: float  # the uncounted first one: submit sent -> final seen
    approved: int
    poll_ms: float
    image_bytes_per_capture: int
    db_submitted_to_decided: Summary
    client_submit_answer_to_seen_final: Summary
    client_submit_request: Summary
    db_submitted_to_job_queued: Summary
    db_job_queued_to_webhook_received: Summary
    db_webhook_received_to_decided: Summary
    db_submitted_to_job_finished: Summary


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def read_rows(
    factory: sessionmaker[Session], ids: list[str]
) -> tuple[dict[str, KycSession], dict[str, Job], dict[str, KycWebhookEvent]]:
    """The sessions, their delivery jobs and their webhook events, by session id."""
    keys = {f"{DELIVER_SANDBOX_DECISION_JOB}:{i}": i for i in ids}
    with factory() as session:
        rows = {k.id: k for k in session.scalars(select(KycSession))}
        jobs = {
            keys[j.idempotency_key]: j
            for j in session.scalars(select(Job).where(Job.idempotency_key.in_(keys)))
        }
        events = {
            e.session_id: e
            for e in session.scalars(
                select(KycWebhookEvent).where(KycWebhookEvent.provider == "sandbox")
            )
            if e.session_id is not None
        }
    return rows, jobs, events


def measure_latency(n: int = SESSIONS) -> LatencyResult:
    rng = random.Random(4)
    client_seen: list[float] = []
    client_submit: list[float] = []
    ids: list[str] = []
    statuses: list[str] = []
    sizes: list[int] = []
    with (
        embedded_server(n + 1, "latency") as (server, emails),
        httpx.Client(base_url=server.url, timeout=60.0, trust_env=False) as client,
    ):
        # Everyone logs in first: on SQLite a login holds the write lock for its
        # password hash (~0.3 s of argon2), which stalls the worker's claims.
        # BENCH_KYC_LOGIN_EACH=1 logs in right before each capture instead.
        tokens = [{} if LOGIN_EACH else login(client, email) for email in emails]
        time.sleep(1.0)
        # One capture first, not counted: the first after start-up pays for lazy
        # imports, the first connections and the decoders' first use.
        headers = login(client, emails[0]) if LOGIN_EACH else tokens[0]
        session_id = start_session(client, headers)
        files = capture_files(
            document_photo(rng, "front"), document_photo(rng, "back"), selfie_photo(rng)
        )
        started = time.perf_counter()
        submit(client, headers, session_id, files, document_number(rng))
        wait_final(client, headers, session_id)
        cold_ms = (time.perf_counter() - started) * 1000
        for i, (email, headers) in enumerate(zip(emails[1:], tokens[1:], strict=True)):
            if LOGIN_EACH:
                headers = login(client, email)
            files = capture_files(
                document_photo(rng, "front"), document_photo(rng, "back"), selfie_photo(rng)
            )
            sizes.append(sum(len(part[1]) for part in files.values()))
            session_id = start_session(client, headers)
            started = time.perf_counter()
            submit(client, headers, session_id, files, document_number(rng))
            answered = time.perf_counter()
            statuses.append(wait_final(client, headers, session_id))
            client_seen.append((time.perf_counter() - answered) * 1000)
            client_submit.append((answered - started) * 1000)
            ids.append(session_id)
            if (i + 1) % 10 == 0:
                console.print(f"  {i + 1}/{n} sessions decided")
        # The client can see the decision before the delivery job has marked itself
        # done (that is the job's own commit, after the webhook's 200).
        engine = make_engine(server.database_url)
        deadline = time.perf_counter() + 30
        while True:
            rows, jobs, events = read_rows(make_session_factory(engine), ids)
            if all(j.finished_at for j in jobs.values()) or time.perf_counter() > deadline:
                break
            time.sleep(0.2)
        engine.dispose()
    decided, queued, delivered, handled, finished = [], [], [], [], []
    for session_id in ids:
        kyc, job, event = rows[session_id], jobs[session_id], events[session_id]
        if kyc.submitted_at is None or kyc.decided_at is None or job.finished_at is None:
            raise RuntimeError(f"session {session_id} has no decision or its job did not finish")
        decided.append(_ms(kyc.decided_at, kyc.submitted_at))
        queued.append(_ms(job.created_at, kyc.submitted_at))
        delivered.append(_ms(event.received_at, job.created_at))
        handled.append(_ms(kyc.decided_at, event.received_at))
        finished.append(_ms(job.finished_at, kyc.submitted_at))
    return LatencyResult(
        sessions=n,
        login_before_each=LOGIN_EACH,
        cold_first_capture_ms=round(cold_ms, 1),
        approved=statuses.count("approved"),
        poll_ms=POLL_SECONDS * 1000,
        image_bytes_per_capture=round(statistics.fmean(sizes)),
        db_submitted_to_decided=Summary.of(decided),
        client_submit_answer_to_seen_final=Summary.of(client_seen),
        client_submit_request=Summary.of(client_submit),
        db_submitted_to_job_queued=Summary.of(queued),
        db_job_queued_to_webhook_received=Summary.of(delivered),
        db_webhook_received_to_decided=Summary.of(handled),
        db_submitted_to_job_finished=Summary.of(finished),
    )


# -- 2. upload memory ------------------------------------------------------------------


@dataclass
class MemoryResult:
    format: str
    file_bytes: int
    width: int
    height: int
    other_bytes: int  # the back and selfie sent with it
    rss_before: int
    hwm_after_submit: int
    rss_after_submit: int
    hwm_after_decision: int
    peak_increase: int
    peak_ratio: float  # peak_increase / file_bytes; target < 3
    peak_reset: bool  # clear_refs worked: the peak is this request's alone
    submit_ms: float


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return values


def reset_peak(pid: int) -> bool:
    """Set the process's VmHWM to its current RSS (Linux 4.0+, needs the right to)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def big_image(fmt: str) -> bytes:
    big = noise_jpeg(BIG_FILE_TARGET) if fmt == "JPEG" else noise_png(BIG_FILE_TARGET)
    assert len(big) <= UPLOAD_LIMIT, len(big)
    return big


def ordinary_front(fmt: str, rng: random.Random) -> bytes:
    front = document_photo(rng, "front")
    if fmt == "PNG":
        with Image.open(io.BytesIO(front)) as image:
            front = _png(image)
    return front


def measure_memory(fmt: str, big: bytes, warm_front: bytes) -> MemoryResult:
    rng = random.Random(10)
    with Image.open(io.BytesIO(big)) as probe:
        width, height = probe.size
    kind = "image/jpeg" if fmt == "JPEG" else "image/png"
    back, selfie = document_photo(rng, "back"), selfie_photo(rng)
    with (
        embedded_server(2, f"memory-{fmt.lower()}") as (server, emails),
        httpx.Client(base_url=server.url, timeout=120.0, trust_env=False) as client,
    ):
        # Warm-up: one ordinary capture of the same format, through to its decision,
        # so imports, decoders, the key ring and connection pools are not counted.
        headers = login(client, emails[0])
        session_id = start_session(client, headers)
        files = capture_files(warm_front, back, selfie, kind)
        submit(client, headers, session_id, files, "W1")
        wait_final(client, headers, session_id)
        headers = login(client, emails[1])
        session_id = start_session(client, headers)
        files = capture_files(big, back, selfie, kind)
        time.sleep(1.0)  # let the worker finish the warm-up's jobs
        reset = reset_peak(server.pid)
        before = proc_memory(server.pid)
        started = time.perf_counter()
        submit(client, headers, session_id, files, document_number(rng))
        submit_ms = (time.perf_counter() - started) * 1000
        after = proc_memory(server.pid)
        status = wait_final(client, headers, session_id)
        assert status == "approved", status
        decided = proc_memory(server.pid)
    increase = after["VmHWM"] - before["VmRSS"]
    return MemoryResult(
        format=fmt,
        file_bytes=len(big),
        width=width,
        height=height,
        other_bytes=len(back) + len(selfie),
        rss_before=before["VmRSS"],
        hwm_after_submit=after["VmHWM"],
        rss_after_submit=after["VmRSS"],
        hwm_after_decision=decided["VmHWM"],
        peak_increase=increase,
        peak_ratio=round(increase / len(big), 2),
        peak_reset=reset,
        submit_ms=round(submit_ms, 1),
    )


@dataclass
class StagePeak:
    format: str
    stage: str
    file_bytes: int
    peak_increase: int
    ratio: float


# What each step of the capture costs, alone, in a fresh interpreter (warmed with a
# small image of the same format), so a failed target names the step that fails it.
STAGES = {
    "read": "read_limited: the upload's bytes",
    "check": "check pass: read_limited + check_image (decode, dhash)",
    "encrypt": "read_limited + AESGCM.encrypt (the ciphertext alone)",
    "seal": "read_limited + KeyRing.seal (header + ciphertext)",
    "store": "store pass: read_limited + sha256 + LocalBlobStore.put",
}


def _stage_run(stage: str, path: str) -> None:
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from mindlinks.kyc.images import check_image, read_limited
    from mindlinks.platform.blobs.keyring import KeyRing
    from mindlinks.platform.blobs.local import LocalBlobStore

    ring = KeyRing(keys={"bench": bytes(32)}, current_id="bench")
    binding = b"kyc_documents/bench/front"
    with open(path, "rb") as stream:
        if stage == "check":
            check_image(read_limited(stream, UPLOAD_LIMIT))
            return
        data = read_limited(stream, UPLOAD_LIMIT)
        if stage == "encrypt":
            AESGCM(bytes(32)).encrypt(bytes(12), data, binding)
        elif stage == "seal":
            ring.seal(data, binding)
        elif stage == "store":
            hashlib.sha256(data).hexdigest()
            with tempfile.TemporaryDirectory() as root:
                LocalBlobStore(Path(root), ring).put(
                    "kyc/bench/front", data, associated_data=binding, content_type="image/png"
                )


def _stage_child(stage: str, warm: str, big: str) -> None:
    """Child process: warm the stage on a small file, then report its peak on the big one."""
    _stage_run(stage, warm)
    pid = os.getpid()
    reset_peak(pid)
    before = proc_memory(pid)["VmRSS"]
    _stage_run(stage, big)
    print(json.dumps({"increase": proc_memory(pid)["VmHWM"] - before}))


def stage_peaks(fmt: str, big: bytes, warm: bytes) -> list[StagePeak]:
    results = []
    with tempfile.TemporaryDirectory(prefix="mindlinks-bench-kyc-stages-") as folder:
        big_path, warm_path = Path(folder, "big"), Path(folder, "warm")
        big_path.write_bytes(big)
        warm_path.write_bytes(warm)
        for stage in STAGES:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.kyc",
                    "--stage",
                    stage,
                    str(warm_path),
                    str(big_path),
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            increase = int(json.loads(out.strip().splitlines()[-1])["increase"])
            results.append(StagePeak(fmt, stage, len(big), increase, round(increase / len(big), 2)))
    return results


# -- output ---------------------------------------------------------------------------


def _mb(value: int) -> str:
    return f"{value / 1_000_000:.1f}"


def print_tables(
    latency: LatencyResult, memory: list[MemoryResult], stages: list[StagePeak]
) -> None:
    table = RichTable(
        title=f"Sandbox submission to committed decision, {latency.sessions} sessions "
        f"(in-process worker, SQLite, webhook over HTTP)"
    )
    for name in ("interval", "median ms", "p90 ms", "max ms", "min ms"):
        table.add_column(name, justify="left" if name == "interval" else "right")
    rows = [
        ("db: submitted_at -> decided_at", latency.db_submitted_to_decided),
        ("client: submit answer -> final seen", latency.client_submit_answer_to_seen_final),
        ("client: the submit request itself", latency.client_submit_request),
        ("db: submitted_at -> job queued", latency.db_submitted_to_job_queued),
        ("db: job queued -> webhook event recorded", latency.db_job_queued_to_webhook_received),
        ("db: webhook event recorded -> decided_at", latency.db_webhook_received_to_decided),
        ("db: submitted_at -> job finished", latency.db_submitted_to_job_finished),
    ]
    for label, s in rows:
        table.add_row(label, f"{s.median_ms}", f"{s.p90_ms}", f"{s.max_ms}", f"{s.min_ms}")
    console.print(table)
    console.print(
        f"{latency.approved}/{latency.sessions} approved; mean capture "
        f"{latency.image_bytes_per_capture / 1000:.0f} kB; polled every {latency.poll_ms:g} ms; "
        f"the uncounted first capture after start-up took {latency.cold_first_capture_ms:.0f} ms"
    )
    mem = RichTable(title="Upload memory: one capture with a ~10 MB ID front (server RSS)")
    for name in ("format", "file MB", "pixels", "RSS before MB", "peak MB", "increase MB"):
        mem.add_column(name, justify="left" if name == "format" else "right")
    mem.add_column("x file", justify="right")
    mem.add_column("submit ms", justify="right")
    for m in memory:
        mem.add_row(
            m.format,
            _mb(m.file_bytes),
            f"{m.width}x{m.height}",
            _mb(m.rss_before),
            _mb(m.hwm_after_submit),
            _mb(m.peak_increase),
            f"{m.peak_ratio:.2f}",
            f"{m.submit_ms:.0f}",
        )
    console.print(mem)
    steps = RichTable(title="Peak RSS increase of each capture step alone (fresh process)")
    for name in ("format", "step", "increase MB", "x file"):
        steps.add_column(name, justify="right" if name in ("increase MB", "x file") else "left")
    for st in stages:
        steps.add_row(st.format, STAGES[st.stage], _mb(st.peak_increase), f"{st.ratio:.2f}")
    console.print(steps)


def save(
    latency: LatencyResult, memory: list[MemoryResult], stages: list[StagePeak]
) -> dict[str, Any]:
    record = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        # other work on the machine moves the latency tail: note how busy it was
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "latency": asdict(latency),
        "memory": [asdict(m) for m in memory],
        "memory_steps": [asdict(st) for st in stages],
        "targets": {
            "upload_peak_ratio_below": 3.0,
            "upload_peak_met": all(m.peak_ratio < 3.0 for m in memory),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "kyc.json").write_text(json.dumps(record, indent=2))
    return record


def main() -> tuple[LatencyResult, list[MemoryResult], list[StagePeak]]:
    console.print(f"KYC decision latency over {SESSIONS} sandbox sessions …")
    latency = measure_latency()
    memory: list[MemoryResult] = []
    stages: list[StagePeak] = []
    for fmt in ("JPEG", "PNG"):
        console.print(f"KYC upload memory, {fmt} …")
        big, warm = big_image(fmt), ordinary_front(fmt, random.Random(3))
        memory.append(measure_memory(fmt, big, warm))
        stages.extend(stage_peaks(fmt, big, warm))
    print_tables(latency, memory, stages)
    save(latency, memory, stages)
    return latency, memory, stages


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stage"]:
        _stage_child(*sys.argv[2:5])
    else:
        main()

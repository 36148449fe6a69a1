"""GET /api/me on the real app (uvicorn, PostgreSQL) beside a bare FastAPI constant.

Both servers run as single uvicorn processes on loopback in the same run, and
the same load generator drives each in turn, so the ratio between them is the
figure that travels across machines.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench.loadgen import LoadResult, run_load

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BENCH_DB = "mindlinks_bench"
EMAIL = "bench-client@example.com"
PASSWORD = "benchmark passphrase 42"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database() -> str:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {BENCH_DB}"))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{BENCH_DB}"


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up")


def serve(
    app_ref: str, port: int, env: dict[str, str], *, factory: bool
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app_ref,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        command.append("--factory")
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


def main(seconds: float = 10.0, concurrency: int = 32) -> list[LoadResult]:
    database_url = fresh_database()
    data_dir = tempfile.mkdtemp(prefix="mindlinks-bench-")
    env = {
        **os.environ,
        "MINDLINKS_DATABASE_URL": database_url,
        "MINDLINKS_DATA_DIR": data_dir,
        "MINDLINKS_RUN_WORKER_IN_PROCESS": "false",
        "MINDLINKS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [sys.executable, "-m", "mindlinks.cli", "migrate"], env=env, check=True, cwd=ROOT
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mindlinks.cli",
            "admin",
            "create",
            "--email",
            EMAIL,
            "--password",
            PASSWORD,
        ],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    app_port, bare_port = free_port(), free_port()
    app_proc = serve("mindlinks.app:create_app", app_port, env, factory=True)
    bare_proc = serve("bench.bare_app:app", bare_port, env, factory=False)
    try:
        wait_until_up(f"http://127.0.0.1:{app_port}/api/health")
        wait_until_up(f"http://127.0.0.1:{bare_port}/api/me")
        token = httpx.post(
            f"http://127.0.0.1:{app_port}/api/auth/login",
            json={"email": EMAIL, "password": PASSWORD},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        results = [
            asyncio.run(
                run_load(
                    "bare FastAPI constant",
                    f"http://127.0.0.1:{bare_port}/api/me",
                    {},
                    concurrency=concurrency,
                    seconds=seconds,
                )
            ),
            asyncio.run(
                run_load(
                    "mindlinks GET /api/me (PostgreSQL)",
                    f"http://127.0.0.1:{app_port}/api/me",
                    headers,
                    concurrency=concurrency,
                    seconds=seconds,
                )
            ),
        ]
    finally:
        for proc in (app_proc, bare_proc):
            proc.terminate()
            proc.wait(timeout=10)
    return results


if __name__ == "__main__":
    out = main()
    for r in out:
        print(json.dumps(r.as_dict()))

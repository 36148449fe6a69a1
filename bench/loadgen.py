"""A small closed-loop HTTP/1.1 load generator: N keep-alive clients for T seconds.

It speaks HTTP/1.1 over asyncio streams directly: a general-purpose client
(httpx) costs more CPU per request than the servers under test, and on a
2-core machine the load generator would become the thing measured.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    name: str
    concurrency: int
    seconds: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _client_loop(
    url: str,
    headers: dict[str, str],
    deadline: float,
    latencies: list[float],
    statuses: Counter[str],
) -> None:
    parts = urlsplit(url)
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode("latin-1")
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                writer.write(request)
                status = await _read_response(reader)
                statuses[str(status)] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                statuses[type(exc).__name__] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


async def _phase(
    url: str, headers: dict[str, str], concurrency: int, seconds: float
) -> tuple[list[float], Counter[str], float]:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *[_client_loop(url, headers, deadline, latencies, statuses) for _ in range(concurrency)]
    )
    return latencies, statuses, time.perf_counter() - started


async def run_load(
    name: str,
    url: str,
    headers: dict[str, str],
    *,
    concurrency: int = 32,
    seconds: float = 10.0,
    warmup_seconds: float = 2.0,
) -> LoadResult:
    await _phase(url, headers, concurrency, warmup_seconds)
    latencies, statuses, elapsed = await _phase(url, headers, concurrency, seconds)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    return LoadResult(
        name=name,
        concurrency=concurrency,
        seconds=round(elapsed, 2),
        requests=len(latencies),
        errors=sum(n for s, n in statuses.items() if s != "200"),
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(statistics.median(ordered) * 1000, 2) if ordered else 0.0,
        p99_ms=round(p99 * 1000, 2),
        statuses=dict(statuses),
    )

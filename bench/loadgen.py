"""A small closed-loop HTTP load generator: N concurrent clients for T seconds."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import asdict, dataclass

import httpx


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

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def _client_loop(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    deadline: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            response = await client.get(url, headers=headers)
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append(time.perf_counter() - started)
        if not ok:
            errors.append(1)


async def run_load(
    name: str,
    url: str,
    headers: dict[str, str],
    *,
    concurrency: int = 32,
    seconds: float = 10.0,
    warmup_seconds: float = 2.0,
) -> LoadResult:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        warm: list[float] = []
        warm_deadline = time.perf_counter() + warmup_seconds
        await asyncio.gather(
            *[
                _client_loop(client, url, headers, warm_deadline, warm, [])
                for _ in range(concurrency)
            ]
        )
        latencies: list[float] = []
        errors: list[int] = []
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *[
                _client_loop(client, url, headers, deadline, latencies, errors)
                for _ in range(concurrency)
            ]
        )
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    return LoadResult(
        name=name,
        concurrency=concurrency,
        seconds=round(elapsed, 2),
        requests=len(latencies),
        errors=len(errors),
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(statistics.median(ordered) * 1000, 2) if ordered else 0.0,
        p99_ms=round(p99 * 1000, 2),
    )

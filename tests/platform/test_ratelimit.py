"""Rate limits: memory by default, Redis in production, client address rules."""

from __future__ import annotations

import pytest
import redis
from starlette.requests import Request

from mindlinks.platform.errors import RateLimited
from mindlinks.platform.ids import new_id
from mindlinks.platform.ratelimit import RateLimiter, client_address

REDIS_URL = "redis://127.0.0.1:6379/0"


def _limiter_budget(limiter: RateLimiter) -> None:
    key = new_id()
    limiter.hit("3/minute", "t", key)
    limiter.hit("3/minute", "t", key)
    limiter.check("3/minute", "t", key)
    limiter.hit("3/minute", "t", key)
    with pytest.raises(RateLimited) as refused:
        limiter.hit("3/minute", "t", key)
    assert 0 < int(refused.value.headers["Retry-After"]) <= 60
    with pytest.raises(RateLimited):
        limiter.check("3/minute", "t", key)
    limiter.hit("3/minute", "t", new_id())  # another key has its own budget


def test_memory_limiter_counts_and_refuses():
    _limiter_budget(RateLimiter(None))


def test_redis_limiter_counts_and_refuses_against_the_real_redis():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}; .ci/run starts it")
    limiter = RateLimiter("redis://127.0.0.1:6379/0", namespace=f"test-{new_id()}")
    _limiter_budget(limiter)
    # A second process (another limiter on the same Redis) sees the same counts.
    other = RateLimiter("redis://127.0.0.1:6379/0", namespace=limiter.namespace)
    key = new_id()
    limiter.hit("1/minute", "shared", key)
    with pytest.raises(RateLimited):
        other.hit("1/minute", "shared", key)


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request(
        {"type": "http", "client": (peer, 1234), "headers": headers, "method": "GET", "path": "/"}
    )


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy():
    assert client_address(_request("203.0.113.9", "198.51.100.1"), []) == "203.0.113.9"


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer():
    assert client_address(_request("203.0.113.9", "198.51.100.1"), ["10.0.0.0/8"]) == "203.0.113.9"


def test_the_right_most_untrusted_hop_is_the_client_behind_a_trusted_proxy():
    request = _request("10.0.0.5", "1.2.3.4, 198.51.100.7, 10.0.0.4")
    assert client_address(request, ["10.0.0.0/8"]) == "198.51.100.7"

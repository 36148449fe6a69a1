"""Rate limits with the `limits` library: Redis in production, memory by default.

Keys are namespaced per rule. The client address is the socket peer unless the
peer is a trusted proxy, in which case the right-most untrusted entry of
`X-Forwarded-For` is used (entries further left can be forged by the client).
"""

from __future__ import annotations

import ipaddress
import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from mindlinks.platform.errors import RateLimited


class RateLimiter:
    def __init__(self, storage_uri: str | None, namespace: str = "mindlinks") -> None:
        storage = storage_from_string(storage_uri) if storage_uri else MemoryStorage()
        if not isinstance(storage, Storage):  # an async storage URI (async+redis://…)
            raise ValueError(f"{storage_uri!r} names an asyncio storage; use a sync one")
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.namespace = namespace

    def _item(self, rule: str) -> RateLimitItem:
        return parse(rule)

    def _retry_after(self, item: RateLimitItem, *keys: str) -> int:
        stats = self.strategy.get_window_stats(item, self.namespace, *keys)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def hit(self, rule: str, *keys: str, detail: str | None = None) -> None:
        """Count one event; refuse with 429 when the rule's budget is spent."""
        item = self._item(rule)
        if not self.strategy.hit(item, self.namespace, *keys):
            raise RateLimited(self._retry_after(item, *keys), detail)

    def check(self, rule: str, *keys: str, detail: str | None = None) -> None:
        """Refuse with 429 if the budget is spent, without counting."""
        item = self._item(rule)
        if not self.strategy.test(item, self.namespace, *keys):
            raise RateLimited(self._retry_after(item, *keys), detail)

    def clear(self, rule: str, *keys: str) -> None:
        self.strategy.clear(self._item(rule), self.namespace, *keys)

    def reset(self) -> None:
        self.storage.reset()


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    peer = request.client.host if request.client else "unknown"
    networks = []
    for proxy in trusted_proxies:
        try:
            networks.append(ipaddress.ip_network(proxy, strict=False))
        except ValueError:
            continue

    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in networks)

    if not networks or not trusted(peer):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return hops[0] if hops else peer

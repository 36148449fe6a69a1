"""A from-scratch Merkle tree for the tests, independent of `mindlinks.ledger.merkle`.

The tree is built bottom-up over the full leaf list, promoting a lone last node to
the next level (the classic Certificate Transparency construction, which yields
the RFC 6962/9162 tree). Proofs are read off those levels or follow the RFC's
recursive PROOF definition; the verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def h_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def h_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """levels[0] = leaf hashes; each next level pairs nodes, promoting a lone last one."""
    out = [list(leaf_hashes)]
    while len(out[-1]) > 1:
        below = out[-1]
        above = [h_node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        out.append(above)
    return out


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    if not leaf_hashes:
        return hashlib.sha256(b"").digest()
    return levels(leaf_hashes)[-1][0]


def complete_subtrees(leaf_hashes: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """(level, index) -> hash of every complete subtree (no promoted nodes)."""
    table: dict[tuple[int, int], bytes] = {}
    current = list(leaf_hashes)
    level = 0
    while current:
        for i, h in enumerate(current):
            table[(level, i)] = h
        current = [h_node(current[i], current[i + 1]) for i in range(0, len(current) - 1, 2)]
        level += 1
    return table


def path(m: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Inclusion proof for leaf m: the sibling at each level, skipping promoted nodes."""
    proof = []
    index = m
    for level in levels(leaf_hashes)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index >>= 1
    return proof


def consistency(m: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) by the RFC's recursive definition, over leaf hashes."""

    def split(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def sub(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
        if m == len(d):
            return [] if complete else [root(d)]
        k = split(len(d))
        if m <= k:
            return [*sub(m, d[:k], complete), root(d[k:])]
        return [*sub(m - k, d[k:], False), root(d[:k])]

    return sub(m, leaf_hashes, True)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size or any(len(p) != 32 for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = h_node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = h_node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2 (first == second needs an empty proof and equal roots)."""
    if first == second:
        return not proof and root1 == root2
    if not 0 < first < second or not proof or any(len(p) != 32 for p in proof):
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root starts the path
        path.insert(0, root1)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = h_node(c, fr)
            sr = h_node(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = h_node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0

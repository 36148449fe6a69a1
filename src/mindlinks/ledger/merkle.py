"""The RFC 9162 §2.1 Merkle tree over the ledger, as pure functions (no database).

Hashing (RFC 9162 §2.1.1): leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ l ‖ r);
the root of the empty tree is SHA-256 of nothing.

Addressing: node `(level, index)` is the root of the COMPLETE subtree over leaves
`[index·2^level, (index+1)·2^level)`; level 0 are the leaf hashes. Every range that
the RFC's recursive definitions (MTH, PATH, PROOF) split off starts at a multiple of
the power of two above its size, so it is the concatenation of complete subtrees,
largest first (`range_nodes`), and its MTH is the right fold of their hashes with
`node_hash`. That is how any root, inclusion proof and consistency proof is computed
from the O(log n) stored complete-subtree hashes: the `*_plan` functions list which
`(level, index)` nodes are needed (so a repository can read them in one query), and
the matching functions take a `fetch(level, index) -> hash` callable.

`mth`, `reference_path` and `reference_proof` are the RFC's recursive definitions
over the full list of leaf inputs, kept as the reference the tests compare against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]
"""`(level, index)` of a complete subtree."""
Range = tuple[int, int]
"""Leaves `[start, end)`."""
Fetch = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly smaller than `size` (size ≥ 2): RFC's k."""
    return 1 << ((size - 1).bit_length() - 1)


# -- the RFC definitions over the full leaf list (reference) ----------------------------


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf inputs, exactly as RFC 9162 §2.1.1 defines it."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = _split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def reference_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 over leaf inputs."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*reference_path(m, leaves[:k]), mth(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), mth(leaves[:k])]


def reference_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 over leaf inputs (0 < m ≤ n)."""

    def subproof(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
        if m == len(d):
            return [] if complete else [mth(d)]
        k = _split(len(d))
        if m <= k:
            return [*subproof(m, d[:k], complete), mth(d[k:])]
        return [*subproof(m - k, d[k:], False), mth(d[:k])]

    return subproof(m, leaves, True)


# -- complete subtrees ------------------------------------------------------------------


def range_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees that make up leaves [start, end), largest first.

    `start` must be a multiple of the smallest power of two ≥ end - start (true of the
    whole tree and of every range the RFC recursion produces).
    """
    nodes: list[Node] = []
    pos = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            assert pos % (1 << level) == 0, "range is not aligned to its subtrees"
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def subtree_hash(hashes: Sequence[bytes]) -> bytes:
    """The hash of a complete subtree from its 2^L leaf hashes (or of any complete
    subtree from its 2^L equal-sized complete subtrees, in order)."""
    level = list(hashes)
    while len(level) > 1:
        pairs = iter(level)
        level = [node_hash(left, right) for left, right in zip(pairs, pairs, strict=True)]
    return level[0]


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of consecutive complete subtrees given largest first: a right fold."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(start: int, end: int, fetch: Fetch) -> bytes:
    """MTH(D[start:end]) from the stored complete subtrees."""
    return fold([fetch(level, index) for level, index in range_nodes(start, end)])


def root_plan(size: int) -> list[Node]:
    return range_nodes(0, size)


def root(size: int, fetch: Fetch) -> bytes:
    """The root of the tree of the first `size` leaves (any size, 0 included)."""
    return EMPTY_ROOT if size == 0 else range_hash(0, size, fetch)


# -- proofs -----------------------------------------------------------------------------


def inclusion_ranges(m: int, size: int) -> list[Range]:
    """The leaf ranges whose MTHs form PATH(m, D[size]), in proof order (leaf upward)."""
    if not 0 <= m < size:
        raise ValueError(f"leaf {m} is not in a tree of size {size}")
    ranges: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if m - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The leaf ranges whose MTHs form PROOF(first, D[second]), in proof order."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    ranges: list[Range] = []
    lo, hi, complete = 0, second, True
    while True:
        if first - lo == hi - lo:
            if not complete:
                ranges.append((lo, hi))
            break
        k = _split(hi - lo)
        if first - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            complete = False
    ranges.reverse()
    return ranges


def plan(ranges: Sequence[Range]) -> list[Node]:
    """Every complete subtree that the proof elements for these ranges are made of."""
    return [node for start, end in ranges for node in range_nodes(start, end)]


def inclusion_plan(m: int, size: int) -> list[Node]:
    return plan(inclusion_ranges(m, size))


def consistency_plan(first: int, second: int) -> list[Node]:
    return plan(consistency_ranges(first, second))


def inclusion_proof(m: int, size: int, fetch: Fetch) -> list[bytes]:
    """PATH(m, D[size]) from complete-subtree hashes."""
    return [range_hash(start, end, fetch) for start, end in inclusion_ranges(m, size)]


def consistency_proof(first: int, second: int, fetch: Fetch) -> list[bytes]:
    """PROOF(first, D[second]) from complete-subtree hashes (empty when equal)."""
    return [range_hash(start, end, fetch) for start, end in consistency_ranges(first, second)]


# -- appending --------------------------------------------------------------------------


def completed_by(leaf_index: int) -> list[Node]:
    """The complete subtrees above level 0 that appending leaf `leaf_index` completes,
    lowest first: (1, i>>1) if i is odd, then (2, i>>2) if i ≡ 3 mod 4, and so on."""
    nodes: list[Node] = []
    level = 1
    while (leaf_index + 1) % (1 << level) == 0:
        nodes.append((level, leaf_index >> level))
        level += 1
    return nodes


def frontier_needed(size: int, count: int) -> list[Node]:
    """Which complete subtrees of the tree of `size` leaves get merged when `count`
    leaves are appended: the root-decomposition nodes whose parent becomes complete."""
    return [
        (level, index)
        for level, index in range_nodes(0, size)
        if (size + count) >> (level + 1) != size >> (level + 1)
    ]


def extend(
    size: int, frontier: dict[Node, bytes], new_leaf_hashes: Sequence[bytes]
) -> list[tuple[int, int, bytes]]:
    """The `(level, index, hash)` of every complete subtree (level ≥ 1) completed by
    appending these leaves to a tree of `size` leaves. `frontier` maps the nodes of
    `frontier_needed(size, len(new_leaf_hashes))` to their hashes."""
    # The stack holds the root decomposition of the current tree: (level, hash|None),
    # None for a frontier node that will never be merged (and was not fetched).
    stack: list[tuple[int, bytes | None]] = [
        (level, frontier.get((level, index))) for level, index in range_nodes(0, size)
    ]
    created: list[tuple[int, int, bytes]] = []
    for offset, h in enumerate(new_leaf_hashes):
        index = size + offset
        level, current = 0, h
        while stack and stack[-1][0] == level:
            _, left = stack.pop()
            if left is None:
                raise LookupError(f"frontier node ({level}, {(index >> level) - 1}) is missing")
            level += 1
            current = node_hash(left, current)
            created.append((level, index >> level, current))
        stack.append((level, current))
    return created


Frontier = list[tuple[int, bytes]]
"""The root decomposition of a tree as (level, hash) pairs, largest subtree first:
the nodes `range_nodes(0, size)`, which appending merges with."""


def frontier_of(size: int, fetch: Fetch) -> Frontier:
    return [(level, fetch(level, index)) for level, index in range_nodes(0, size)]


def extend_frontier(
    size: int, frontier: Frontier, new_leaf_hashes: Sequence[bytes], from_level: int = 1
) -> tuple[list[tuple[int, int, bytes]], Frontier]:
    """`extend` for a caller that keeps the whole root decomposition (`frontier`
    of the tree of `size` leaves): the completed subtrees of level `from_level` and
    above, and the decomposition of the grown tree. Each new leaf merges with the
    equal-sized subtrees at the end of the decomposition, as a binary counter
    carries."""
    stack = list(frontier)
    created: list[tuple[int, int, bytes]] = []
    for index, current in enumerate(new_leaf_hashes, size):
        level = 0
        while stack and stack[-1][0] == level:
            current = node_hash(stack.pop()[1], current)
            level += 1
            if level >= from_level:
                created.append((level, index >> level, current))
        stack.append((level, current))
    return created, stack

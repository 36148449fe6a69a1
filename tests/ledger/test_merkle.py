"""RFC 9162 Merkle tree: published vectors, and hypothesis against a from-scratch tree.

Published vectors (transparency-dev/merkle, Apache-2.0; values only, no code):
- `testonly/constants.go` (LeafInputs, NodeHashes, RootHashes: the 8-leaf tree of
  RFC 6962's test data, every complete subtree and the roots of sizes 0..8),
  https://github.com/transparency-dev/merkle/blob/main/testonly/constants.go
- `proof/verify_test.go` (inclusionProofs, 1-based leaf numbers; consistencyProofs),
  https://github.com/transparency-dev/merkle/blob/main/proof/verify_test.go
- `proof/proof_test.go` (TestInclusion, TestConsistency: which node IDs each proof
  is made of, "rehash" groups being one incomplete subtree),
  https://github.com/transparency-dev/merkle/blob/main/proof/proof_test.go
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindlinks.ledger import merkle
from tests.ledger import reference as ref

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
NODE_HASHES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (1-based leaf, tree size, proof) from inclusionProofs
INCLUSION = [
    (1, 1, []),
    (1, 8, [NODE_HASHES[0][1], NODE_HASHES[1][1], NODE_HASHES[2][1]]),
    (6, 8, [NODE_HASHES[0][4], NODE_HASHES[1][3], NODE_HASHES[2][0]]),
    (3, 3, [NODE_HASHES[1][0]]),
    (2, 5, [NODE_HASHES[0][0], NODE_HASHES[1][1], NODE_HASHES[0][4]]),
]
# (size1, size2, proof) from consistencyProofs
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [NODE_HASHES[0][1], NODE_HASHES[1][1], NODE_HASHES[2][1]]),
    (6, 8, [NODE_HASHES[1][2], NODE_HASHES[1][3], NODE_HASHES[2][0]]),
    (2, 5, [NODE_HASHES[1][1], NODE_HASHES[0][4]]),
    (6, 7, [NODE_HASHES[1][2], NODE_HASHES[0][6], NODE_HASHES[2][0]]),
]


def vector_fetch(level: int, index: int) -> bytes:
    return bytes.fromhex(NODE_HASHES[level][index])


def test_leaf_and_node_hashes_match_the_published_tree():
    for i, data in enumerate(LEAF_INPUTS):
        assert merkle.leaf_hash(data).hex() == NODE_HASHES[0][i]
    for level in range(1, 4):
        for i, expected in enumerate(NODE_HASHES[level]):
            left, right = vector_fetch(level - 1, 2 * i), vector_fetch(level - 1, 2 * i + 1)
            assert merkle.node_hash(left, right).hex() == expected


@pytest.mark.parametrize("size", range(9))
def test_roots_of_every_size_match_the_published_roots(size):
    assert merkle.mth(LEAF_INPUTS[:size]).hex() == ROOTS[size]
    assert merkle.root(size, vector_fetch).hex() == ROOTS[size]
    assert ref.root([merkle.leaf_hash(d) for d in LEAF_INPUTS[:size]]).hex() == ROOTS[size]


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(leaf, size, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert merkle.inclusion_proof(leaf - 1, size, vector_fetch) == expected
    assert merkle.reference_path(leaf - 1, LEAF_INPUTS[:size]) == expected
    leaf_hash = merkle.leaf_hash(LEAF_INPUTS[leaf - 1])
    root = bytes.fromhex(ROOTS[size])
    assert ref.verify_inclusion(leaf - 1, size, leaf_hash, expected, root)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(first, second, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert merkle.consistency_proof(first, second, vector_fetch) == expected
    assert merkle.reference_proof(first, LEAF_INPUTS[:second]) == expected
    roots = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    assert ref.verify_consistency(first, second, *roots, expected)


# Which complete subtrees each proof element is made of (proof_test.go). An element
# with several nodes is one incomplete subtree ("rehash" there); we list its nodes
# largest first, the order in which `range_nodes` gives them.
INCLUSION_NODES = [
    (0, 7, [[(0, 1)], [(1, 1)], [(1, 2), (0, 6)]]),
    (2, 7, [[(0, 3)], [(1, 0)], [(1, 2), (0, 6)]]),
    (4, 7, [[(0, 5)], [(0, 6)], [(2, 0)]]),
    (6, 7, [[(1, 2)], [(2, 0)]]),
    (3, 5, [[(0, 2)], [(1, 0)], [(0, 4)]]),
    (4, 6, [[(0, 5)], [(2, 0)]]),
    (10, 15, [[(0, 11)], [(1, 4)], [(1, 6), (0, 14)], [(3, 0)]]),
    (81, 95, [[(0, 80)], [(1, 41)], [(2, 21)], [(2, 22), (1, 46), (0, 94)], [(4, 4)], [(6, 0)]]),
]
CONSISTENCY_NODES = [
    (1, 2, [[(0, 1)]]),
    (1, 6, [[(0, 1)], [(1, 1)], [(1, 2)]]),
    (2, 8, [[(1, 1)], [(2, 1)]]),
    (3, 7, [[(0, 2)], [(0, 3)], [(1, 0)], [(1, 2), (0, 6)]]),
    (4, 7, [[(1, 2), (0, 6)]]),
    (5, 7, [[(0, 4)], [(0, 5)], [(0, 6)], [(2, 0)]]),
    (7, 8, [[(0, 6)], [(0, 7)], [(1, 2)], [(2, 0)]]),
    (7, 7, []),
    (24, 31, [[(3, 2)], [(2, 6), (1, 14), (0, 30)], [(4, 0)]]),
    (
        81,
        95,
        [
            [(0, 80)],
            [(0, 81)],
            [(1, 41)],
            [(2, 21)],
            [(2, 22), (1, 46), (0, 94)],
            [(4, 4)],
            [(6, 0)],
        ],
    ),
]


@pytest.mark.parametrize(("index", "size", "groups"), INCLUSION_NODES)
def test_inclusion_plans_match_the_published_node_lists(index, size, groups):
    ranges = merkle.inclusion_ranges(index, size)
    assert [merkle.range_nodes(s, e) for s, e in ranges] == groups
    assert merkle.inclusion_plan(index, size) == [n for g in groups for n in g]


@pytest.mark.parametrize(("first", "second", "groups"), CONSISTENCY_NODES)
def test_consistency_plans_match_the_published_node_lists(first, second, groups):
    ranges = merkle.consistency_ranges(first, second)
    assert [merkle.range_nodes(s, e) for s, e in ranges] == groups


@pytest.mark.parametrize(("m", "n"), [(0, 0), (1, 1), (5, 3), (-1, 4)])
def test_inclusion_refuses_a_leaf_outside_the_tree(m, n):
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_ranges(m, n)


@pytest.mark.parametrize(("first", "second"), [(0, 0), (0, 5), (6, 5), (-1, 2)])
def test_consistency_refuses_bad_sizes(first, second):
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_ranges(first, second)


# -- hypothesis against the from-scratch tree over the full leaf list ------------------

MAX_SIZE = 3000
LEAVES = [merkle.leaf_hash(i.to_bytes(4, "big") + b"mindlinks") for i in range(MAX_SIZE)]
TABLE = ref.complete_subtrees(LEAVES)


def table_fetch(level: int, index: int) -> bytes:
    return TABLE[(level, index)]


def log2_ceil(n: int) -> int:
    return (n - 1).bit_length()


@st.composite
def size_and_leaf(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, MAX_SIZE))
    return n, draw(st.integers(0, n - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, MAX_SIZE))
    return draw(st.integers(1, n)), n


@settings(max_examples=150, deadline=None)
@given(st.integers(0, MAX_SIZE))
def test_root_of_any_size_matches_the_full_tree(n):
    assert merkle.root(n, table_fetch) == ref.root(LEAVES[:n])
    assert len(merkle.root_plan(n)) == n.bit_count()


@settings(max_examples=150, deadline=None)
@given(size_and_leaf())
def test_inclusion_proof_matches_the_full_tree(case):
    n, m = case
    proof = merkle.inclusion_proof(m, n, table_fetch)
    assert proof == ref.path(m, LEAVES[:n])
    assert ref.verify_inclusion(m, n, LEAVES[m], proof, ref.root(LEAVES[:n]))
    assert len(proof) <= log2_ceil(n)
    assert len(merkle.inclusion_plan(m, n)) <= 2 * log2_ceil(n)


@settings(max_examples=150, deadline=None)
@given(two_sizes())
def test_consistency_proof_matches_the_full_tree(case):
    m, n = case
    proof = merkle.consistency_proof(m, n, table_fetch)
    assert proof == ref.consistency(m, LEAVES[:n])
    assert ref.verify_consistency(m, n, ref.root(LEAVES[:m]), ref.root(LEAVES[:n]), proof)
    assert len(proof) <= log2_ceil(n) + 1
    assert len(merkle.consistency_plan(m, n)) <= 2 * log2_ceil(n) + 2


@settings(max_examples=100, deadline=None)
@given(st.integers(0, MAX_SIZE - 1), st.integers(1, 300))
def test_appending_completes_exactly_the_subtrees_of_the_full_tree(size, count):
    count = min(count, MAX_SIZE - size)
    needed = merkle.frontier_needed(size, count)
    frontier = {node: TABLE[node] for node in needed}
    created = merkle.extend(size, frontier, LEAVES[size : size + count])
    expected = [
        (level, index)
        for leaf in range(size, size + count)
        for level, index in merkle.completed_by(leaf)
    ]
    assert [(lv, ix) for lv, ix, _ in created] == expected
    assert all(TABLE[(lv, ix)] == h for lv, ix, h in created)
    assert len(needed) <= size.bit_length()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, MAX_SIZE - 1), st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_the_grown_frontier_is_the_root_decomposition_of_the_grown_tree(size, counts):
    """The sequencer caches the frontier across integrations: growing it step by
    step must give the full tree's decomposition and completed subtrees each time."""
    frontier = merkle.frontier_of(size, table_fetch)
    for count in counts:
        count = min(count, MAX_SIZE - size)
        if count == 0:
            break
        new_leaves = LEAVES[size : size + count]
        created, frontier = merkle.extend_frontier(size, frontier, new_leaves)
        needed = {node: TABLE[node] for node in merkle.frontier_needed(size, count)}
        assert created == merkle.extend(size, needed, new_leaves)
        size += count
        assert frontier == merkle.frontier_of(size, table_fetch)


def test_extend_reports_a_missing_frontier_node():
    with pytest.raises(LookupError, match="frontier node"):
        merkle.extend(3, {}, [LEAVES[3]])


def test_completed_by_lists_the_subtrees_a_leaf_finishes():
    assert merkle.completed_by(0) == []
    assert merkle.completed_by(1) == [(1, 0)]
    assert merkle.completed_by(6) == []
    assert merkle.completed_by(7) == [(1, 3), (2, 1), (3, 0)]

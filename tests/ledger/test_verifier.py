"""The offline verifier: RFC 9162 proofs, C2SP checkpoints, proof bundles, and its CLI.

Published vectors: transparency-dev/merkle, proof/verify_test.go
(https://github.com/transparency-dev/merkle/blob/main/proof/verify_test.go, commit
02194e9afb6c1d95b5381350007963aa70fff472): the RFC 6962 test leaves, the roots of
their trees of size 1..8, and inclusion / consistency proofs between them.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindlinks.ledger import note, verifier
from mindlinks.ledger.verifier import VerificationFailed

ORIGIN = "mindlinks.test/ledger"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VKEY = note.vkey(ORIGIN, KEY.public_key())
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))

# --- transparency-dev/merkle vectors -------------------------------------------------

TD_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
             "5051525354555657", "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
TD_ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
H = {  # the proof hashes of the vectors, by their first 4 hex digits
    k[:4]: bytes.fromhex(k)
    for k in (
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    )
}
TD_INCLUSION = [  # (1-based leaf, tree size, proof)
    (1, 1, []),
    (1, 8, [H["96a2"], H["5f08"], H["6b47"]]),
    (6, 8, [H["bc1a"], H["ca85"], H["d37e"]]),
    (3, 3, [H["fac5"]]),
    (2, 5, [H["6e34"], H["5f08"], H["bc1a"]]),
]
TD_CONSISTENCY = [
    (1, 1, []),
    (1, 8, [H["96a2"], H["5f08"], H["6b47"]]),
    (6, 8, [H["0ebc"], H["ca85"], H["d37e"]]),
    (2, 5, [H["5f08"], H["bc1a"]]),
    (6, 7, [H["0ebc"], H["b086"], H["d37e"]]),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
EMPTY_HASH = hashlib.sha256(b"").digest()


# --- a from-scratch RFC 9162 §2.1 reference ------------------------------------------


class Reference:
    def __init__(self, entries: list[bytes]) -> None:
        self.leaves = [verifier.leaf_hash(e) for e in entries]
        self.mth = lru_cache(maxsize=None)(self._mth)

    def _mth(self, lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return self.leaves[lo]
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        return verifier.node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if whole else [self.mth(lo, hi)]
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, whole), self.mth(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]


def test_reference_matches_the_published_roots() -> None:
    ref = Reference(TD_LEAVES)
    assert [ref.mth(0, n) for n in range(1, 9)] == TD_ROOTS


@pytest.mark.parametrize(("leaf", "size", "proof"), TD_INCLUSION)
def test_published_inclusion_vectors(leaf: int, size: int, proof: list[bytes]) -> None:
    index, root, lh = leaf - 1, TD_ROOTS[size - 1], verifier.leaf_hash(TD_LEAVES[leaf - 1])
    verifier.verify_inclusion(index, size, lh, proof, root)
    assert Reference(TD_LEAVES).path(index, 0, size) == proof
    probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, lh, proof, root),
        (index + 1, size, lh, proof, root),
        (index ^ 2, size, lh, proof, root),
        (index, size * 2, lh, proof, root),
        (index, size // 2, lh, proof, root),
        (index, size, b"WrongLeaf", proof, root),
        (index, size, lh, proof, EMPTY_HASH),
        (index, size, lh, proof, SOME_HASH),
        (index, size, lh, [*proof, b""], root),
        (index, size, lh, [*proof, root], root),
        (index, size, lh, [b"", *proof], root),
        (index, size, lh, [root, *proof], root),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, lh, bad, root))
    if proof:
        probes.append((index, size, lh, proof[:-1], root))
    if len(proof) > 1:
        probes.append((index, size, lh, [proof[0], SOME_HASH, *proof[1:]], root))
    for args in probes:
        with pytest.raises(VerificationFailed):
            verifier.verify_inclusion(*args)


@pytest.mark.parametrize(("size1", "size2", "proof"), TD_CONSISTENCY)
def test_published_consistency_vectors(size1: int, size2: int, proof: list[bytes]) -> None:
    root1, root2 = TD_ROOTS[size1 - 1], TD_ROOTS[size2 - 1]
    verifier.verify_consistency(size1, size2, proof, root1, root2)
    assert Reference(TD_LEAVES).subproof(size1, 0, size2, True) == proof
    if not proof:
        return
    probes: list[tuple[int, int, list[bytes], bytes, bytes]] = [
        (size1 - 1, size2, proof, root1, root2),
        (size1 + 1, size2, proof, root1, root2),
        (size1 ^ 2, size2, proof, root1, root2),
        (size1, size2 * 2, proof, root1, root2),
        (size1, size2 // 2, proof, root1, root2),
        (size1, size2, proof, b"WrongRoot", root2),
        (size1, size2, proof, root1, b"WrongRoot"),
        (size1, size2, proof, root2, root1),
        (size1, size2, [], root1, root2),
        (size1, size2, [*proof, b""], root1, root2),
        (size1, size2, [*proof, root1], root1, root2),
        (size1, size2, [*proof, root2], root1, root2),
        (size1, size2, [b"", *proof], root1, root2),
        (size1, size2, [root1, *proof], root1, root2),
        (size1, size2, [root2, *proof], root1, root2),
        (size1, size2, [proof[0], *proof], root1, root2),
        (size1, size2, proof[:-1], root1, root2),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((size1, size2, bad, root1, root2))
    for args in probes:
        with pytest.raises(VerificationFailed):
            verifier.verify_consistency(*args)


def test_trivial_consistency_cases() -> None:
    verifier.verify_consistency(0, 0, [], SOME_HASH, SOME_HASH)
    verifier.verify_consistency(0, 5, [], SOME_HASH, EMPTY_HASH)
    verifier.verify_consistency(3, 3, [], SOME_HASH, SOME_HASH)
    for args, check in [
        ((3, 3, [], SOME_HASH, EMPTY_HASH), "consistency-proof"),
        ((0, 1, [EMPTY_HASH], SOME_HASH, SOME_HASH), "proof-length"),
        ((2, 1, [], SOME_HASH, SOME_HASH), "tree-size"),
        ((1, 2, [], SOME_HASH, SOME_HASH), "proof-length"),
    ]:
        with pytest.raises(VerificationFailed) as info:
            verifier.verify_consistency(*args)
        assert info.value.check == check


@settings(max_examples=150, deadline=None)
@given(data=st.data(), size=st.integers(1, 300))
def test_random_trees_against_the_reference(data: st.DataObject, size: int) -> None:
    ref = Reference([b"entry %d" % i for i in range(size)])
    index = data.draw(st.integers(0, size - 1))
    proof = ref.path(index, 0, size)
    assert len(proof) == verifier.inclusion_proof_length(index, size)
    verifier.verify_inclusion(index, size, ref.leaves[index], proof, ref.mth(0, size))
    if size > 1:
        other = index + 1 if index + 1 < size else index - 1  # the proof at a neighbour's index
        with pytest.raises(VerificationFailed):
            verifier.verify_inclusion(other, size, ref.leaves[index], proof, ref.mth(0, size))
    first = data.draw(st.integers(1, size))
    cproof = ref.subproof(first, 0, size, True)
    verifier.verify_consistency(first, size, cproof, ref.mth(0, first), ref.mth(0, size))
    if cproof:
        victim = data.draw(st.integers(0, len(cproof) - 1))
        cproof[victim] = bytes(32)
        with pytest.raises(VerificationFailed):
            verifier.verify_consistency(first, size, cproof, ref.mth(0, first), ref.mth(0, size))


def test_inclusion_failures_name_the_check() -> None:
    ref = Reference([b"a", b"b", b"c", b"d", b"e"])
    root, proof = ref.mth(0, 5), ref.path(2, 0, 5)
    cases = [
        ((2, 5, ref.leaves[2], proof[:-1], root), "proof-length"),
        ((2, 5, ref.leaves[2], [*proof, root], root), "proof-length"),
        ((2, 5, ref.leaves[2], [proof[0][:31], *proof[1:]], root), "proof-element"),
        ((2, 5, ref.leaves[2], [proof[0].hex().upper(), *proof[1:]], root), "proof-element"),
        ((5, 5, ref.leaves[2], proof, root), "leaf-index"),
        ((-1, 5, ref.leaves[2], proof, root), "leaf-index"),
        ((2, 0, ref.leaves[2], proof, root), "tree-size"),
        ((2, 5, ref.leaves[3], proof, root), "inclusion-proof"),
        ((2, 5, ref.leaves[2], proof, ref.mth(0, 4)), "inclusion-proof"),
        ((2, 5, ref.leaves[2], "not a list", root), "proof-element"),
    ]
    verifier.verify_inclusion(2, 5, ref.leaves[2], [p.hex() for p in proof], root)
    for args, check in cases:
        with pytest.raises(VerificationFailed) as info:
            verifier.verify_inclusion(*args)  # type: ignore[arg-type]
        assert info.value.check == check, args


# --- checkpoints and bundles ---------------------------------------------------------


def entry_bytes(seq: int) -> bytes:
    return json.dumps({"kind": "test.entry", "payload": {"n": seq}, "seq": seq},
                      separators=(",", ":"), sort_keys=True).encode()  # fmt: skip


def make_bundle(
    seq: int = 3, size: int = 7, key: Ed25519PrivateKey = KEY, origin: str = ORIGIN
) -> dict[str, Any]:
    entries = [entry_bytes(i) for i in range(size)]
    ref = Reference(entries)
    checkpoint = note.sign_note(
        note.format_checkpoint(origin, size, ref.mth(0, size), ["issued-at 2026-11-29T10:00:00Z"]),
        origin,
        key,
    )
    return {
        "format": "mindlinks-ledger-proof/1",
        "entry": {
            "seq": seq,
            "entry": base64.b64encode(entries[seq]).decode(),
            "leaf_hash": ref.leaves[seq].hex(),
        },
        "proof": {"tree_size": size, "audit_path": [h.hex() for h in ref.path(seq, 0, size)]},
        "checkpoint": checkpoint,
        "timestamp_token": None,
    }


def failure(bundle: Any, vkeys: Any = (VKEY,), origin: str | None = None) -> str:
    with pytest.raises(VerificationFailed) as info:
        verifier.verify_proof_bundle(bundle, list(vkeys), origin)
    return info.value.check


def test_a_good_bundle_verifies() -> None:
    result = verifier.verify_proof_bundle(make_bundle(), [VKEY], ORIGIN)
    assert (result.seq, result.checkpoint.tree_size, result.checkpoint.origin) == (3, 7, ORIGIN)
    assert result.checkpoint.issued_at == "2026-11-29T10:00:00Z"
    assert result.key_id == VKEY.split("+")[1]
    assert result.entry == entry_bytes(3)


def test_every_leaf_of_every_small_tree_verifies() -> None:
    for size in range(1, 18):
        for seq in range(size):
            verifier.verify_proof_bundle(make_bundle(seq, size), [VKEY], None)


def test_bundle_failures_name_the_check() -> None:
    other_vkey = note.vkey(ORIGIN, OTHER_KEY.public_key())
    good = make_bundle()

    def mutated(path: str, value: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = json.loads(json.dumps(good))
        *parents, last = path.split(".")
        target = bundle
        for part in parents:
            target = target[part]
        target[last] = value
        return bundle

    path = good["proof"]["audit_path"]
    assert failure(good, [other_vkey]) == "unknown-key"
    assert failure(make_bundle(key=OTHER_KEY), [VKEY]) == "unknown-key"
    assert failure(good, []) == "trusted-key"
    assert failure(good, ["not a vkey"]) == "trusted-key"
    assert failure(good, [VKEY], "someone.else/log") == "origin"
    forged = note.sign_note(note.format_checkpoint("evil.example", 7, bytes(32), []),
                            ORIGIN, KEY)  # fmt: skip
    assert failure(mutated("checkpoint", forged)) == "origin"
    assert failure(mutated("proof.audit_path", path[:-1])) == "proof-length"
    assert failure(mutated("proof.audit_path", [*path, path[0]])) == "proof-length"
    assert failure(mutated("proof.audit_path", [path[1], path[0], *path[2:]])) == "inclusion-proof"
    assert failure(mutated("proof.audit_path", ["ab" * 31, *path[1:]])) == "proof-element"
    assert failure(mutated("proof.tree_size", 6)) == "tree-size"
    assert failure(mutated("entry.seq", 4)) == "entry-seq"
    assert failure(mutated("entry.leaf_hash", "00" * 32)) == "leaf-hash"
    assert failure(mutated("entry.entry", base64.b64encode(entry_bytes(4)).decode())) == "leaf-hash"
    other_root = make_bundle(size=8)  # a proof for another root
    assert failure(mutated("checkpoint", other_root["checkpoint"])) == "tree-size"
    six = make_bundle(seq=3, size=6)
    assert failure(mutated("proof", six["proof"])) == "tree-size"
    assert failure(mutated("format", "mindlinks-ledger-proof/2")) == "malformed-bundle"
    assert failure(mutated("timestamp_token", "%%%")) == "malformed-bundle"
    assert failure(mutated("checkpoint", good["checkpoint"].replace("\u2014", "-"))) == (
        "malformed-note"
    )
    sig_line = good["checkpoint"].rsplit("\n", 2)[1]
    tampered = sig_line[:-6] + ("A" if sig_line[-6] != "A" else "B") + sig_line[-5:]
    assert failure(mutated("checkpoint", good["checkpoint"].replace(sig_line, tampered))) in {
        "checkpoint-signature",
        "malformed-note",
    }
    assert failure([1, 2]) == "malformed-bundle"
    api_shaped = mutated(
        "proof", good["proof"] | {"seq": 3, "leaf_hash": good["entry"]["leaf_hash"]}
    )
    assert verifier.verify_proof_bundle(api_shaped, [VKEY], ORIGIN).seq == 3
    assert failure(mutated("proof", api_shaped["proof"] | {"seq": 2})) == "malformed-bundle"


def test_a_checkpoint_with_an_extra_unknown_signature_still_verifies() -> None:
    bundle = make_bundle()
    body = bundle["checkpoint"].split("\n\n")[0] + "\n"
    witness = note.signature_line(body, "witness.example", OTHER_KEY)
    bundle["checkpoint"] = (
        witness.join([bundle["checkpoint"][: len(body) + 1], ""])
        + (bundle["checkpoint"][len(body) + 1 :])
    )
    assert verifier.verify_proof_bundle(bundle, [VKEY], ORIGIN).seq == 3
    witness_vkey = note.vkey("witness.example", OTHER_KEY.public_key())
    result = verifier.verify_checkpoint(bundle["checkpoint"], [VKEY, witness_vkey])
    assert [k.name for k in result.signed_by] == [ORIGIN]


def test_a_key_trusted_under_another_name_does_not_count() -> None:
    renamed = note.vkey("other.example/log", KEY.public_key())
    assert failure(make_bundle(), [renamed]) == "unknown-key"


def test_trusted_keys_from_the_public_key_document() -> None:
    raw = note.raw_public_key(KEY.public_key())
    doc = {"key_id": VKEY.split("+")[1], "algorithm": "Ed25519", "key_name": ORIGIN,
           "public_key": base64.b64encode(raw).decode(), "vkey": VKEY}  # fmt: skip
    assert verifier.trusted_vkeys_from_document(doc) == [VKEY]
    assert verifier.trusted_vkeys_from_document({"keys": [doc, doc]}) == [VKEY, VKEY]
    with pytest.raises(VerificationFailed, match="trusted-key"):
        verifier.trusted_vkeys_from_document(doc | {"key_name": "x"})
    with pytest.raises(VerificationFailed, match="trusted-key"):
        verifier.trusted_vkeys_from_document(
            doc | {"public_key": base64.b64encode(bytes(32)).decode()}
        )


def test_checkpoint_consistency_between_two_signed_checkpoints() -> None:
    entries = [entry_bytes(i) for i in range(20)]
    ref = Reference(entries)
    notes = {n: note.sign_checkpoint(ORIGIN, n, ref.mth(0, n), KEY) for n in (5, 20)}
    proof = [h.hex() for h in ref.subproof(5, 0, 20, True)]
    first, second = verifier.verify_checkpoint_consistency(notes[5], notes[20], proof, [VKEY])
    assert (first.tree_size, second.tree_size) == (5, 20)
    with pytest.raises(VerificationFailed, match="consistency-proof"):
        verifier.verify_checkpoint_consistency(notes[5], notes[20], proof[::-1], [VKEY])


# --- fuzzing: malformed input raises VerificationFailed and nothing else --------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_verification_failed(fn: Any, *args: Any) -> None:
    with contextlib.suppress(VerificationFailed):
        fn(*args)


@FUZZ
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400), json_values))
def test_fuzz_arbitrary_notes(value: Any) -> None:
    only_verification_failed(verifier.verify_checkpoint, value, [VKEY], None)


@FUZZ
@given(st.data())
def test_fuzz_mutated_notes(data: st.DataObject) -> None:
    text = make_bundle()["checkpoint"]
    pos = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 4))
    insert = data.draw(st.text(max_size=4))
    mutated = text[:pos] + insert + text[pos + cut :]
    if mutated != text:
        with pytest.raises(VerificationFailed):
            verifier.verify_checkpoint(mutated, [VKEY])


@FUZZ
@given(st.integers(), st.integers(), st.one_of(json_values, st.lists(st.binary(max_size=40))),
       st.binary(max_size=40))  # fmt: skip
def test_fuzz_arbitrary_proofs(index: int, size: int, proof: Any, root: bytes) -> None:
    only_verification_failed(verifier.verify_inclusion, index, size, root, proof, root)
    only_verification_failed(verifier.verify_consistency, index, size, proof, root, root)


@FUZZ
@given(st.data(), json_values, st.lists(st.one_of(st.text(max_size=80), json_values), max_size=3))
def test_fuzz_bundles(data: st.DataObject, value: Any, vkeys: list[Any]) -> None:
    only_verification_failed(verifier.verify_proof_bundle, value, vkeys, None)
    bundle = make_bundle(2, 5)
    section = data.draw(st.sampled_from(["format", "entry", "proof", "checkpoint", "timestamp_token",
                                         "entry.seq", "entry.entry", "entry.leaf_hash",
                                         "proof.tree_size", "proof.audit_path"]))  # fmt: skip
    target, _, field = section.rpartition(".")
    (bundle[target] if target else bundle)[field] = value
    only_verification_failed(verifier.verify_proof_bundle, bundle, [VKEY], None)
    only_verification_failed(verifier.verify_proof_bundle, make_bundle(2, 5), vkeys, None)


# --- shipping alone --------------------------------------------------------------------

VERIFIER_FILE = Path(verifier.__file__)


def test_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(VERIFIER_FILE.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}


BLOCKER = """
import sys, importlib.abc
ALLOWED = set(sys.stdlib_module_names) | {"verifier", "cryptography", "_cffi_backend", "cffi"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in ALLOWED:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
import verifier
sys.exit(verifier.main(sys.argv[2:]))
"""


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(VERIFIER_FILE, folder / "verifier.py")
    return folder


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin"})  # fmt: skip


def test_the_copied_file_verifies_alone(shipped: Path, tmp_path: Path) -> None:
    bundle_file = tmp_path / "proof.json"
    bundle_file.write_text(json.dumps(make_bundle()))
    ok = run(["-c", BLOCKER, str(shipped), str(bundle_file), "--key", VKEY], shipped)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK entry seq 3" in ok.stdout
    bad_key = note.vkey(ORIGIN, OTHER_KEY.public_key())
    bad = run(["-c", BLOCKER, str(shipped), str(bundle_file), "--key", bad_key], shipped)
    assert bad.returncode == 1 and "FAILED unknown-key" in bad.stdout


def test_the_script_command_line(shipped: Path, tmp_path: Path) -> None:
    bundle_file, keys_file = tmp_path / "proof.json", tmp_path / "ledger-public-key.json"
    bundle_file.write_text(json.dumps(make_bundle()))
    keys_file.write_text(json.dumps({"vkey": VKEY, "key_name": ORIGIN, "algorithm": "Ed25519"}))
    script = str(shipped / "verifier.py")
    ok = run([script, str(bundle_file), "--keys-file", str(keys_file), "--origin", ORIGIN], shipped)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    truncated = make_bundle()
    truncated["proof"]["audit_path"].pop()
    bundle_file.write_text(json.dumps(truncated))
    bad = run([script, str(bundle_file), "--key", VKEY], shipped)
    assert bad.returncode == 1 and bad.stdout.startswith("FAILED proof-length")
    bundle_file.write_text("{not json")
    assert run([script, str(bundle_file), "--key", VKEY], shipped).returncode == 1
    assert run([script, str(bundle_file)], shipped).stdout.startswith("FAILED")


def test_main_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle_file = tmp_path / "proof.json"
    bundle = make_bundle()
    bundle["timestamp_token"] = base64.b64encode(b"token").decode()
    bundle_file.write_text(json.dumps(bundle))
    assert verifier.main([str(bundle_file), "--key", VKEY]) == 0
    assert "timestamp token present" in capsys.readouterr().out
    assert verifier.main([str(tmp_path / "missing.json"), "--key", VKEY]) == 1
    assert "FAILED malformed-bundle" in capsys.readouterr().out

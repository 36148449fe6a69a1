"""Offline verifier for Mind-Links ledger proofs: standard library + `cryptography` only.

This file ships alone (`python verifier.py proof.json --key VKEY`); it imports nothing
from Mind-Links and trusts nothing carried inside what it checks. The caller supplies
the trusted ledger keys (vkeys, or the operator's public-key JSON document); the root
and tree size are taken only from a checkpoint whose signature verifies under one of
those keys, with matching key name AND key hash, and whose origin is that key's name.

Pinned here: SHA-256; leaf = SHA-256(0x00 || entry bytes), node = SHA-256(0x01 || l || r)
(RFC 9162 §2.1.1); inclusion proofs per RFC 9162 §2.1.3.2, consistency proofs per
§2.1.4.2; checkpoints per C2SP tlog-checkpoint, signed as C2SP signed notes with
Ed25519 (key hash = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]).

Proof bundle (`ledger-proofs.json` items, `mindlinks ledger prove` output), JSON:

    {"format": "mindlinks-ledger-proof/1",
     "entry": {"seq": <int, 0-based leaf index>,
               "entry": "<base64 of the exact entry bytes that were hashed>",
               "leaf_hash": "<lowercase hex SHA-256(0x00 || entry bytes)>"},
     "proof": {"tree_size": <int, the checkpoint's tree size>,
               "audit_path": ["<lowercase hex, 32 bytes>", ...]},
     "checkpoint": "<the full C2SP signed note text>",
     "timestamp_token": "<base64 DER RFC 3161 TimeStampToken over the note>" | null}

Base64 is RFC 4648 §4 with padding. The entry bytes must be a JSON object whose `seq`
equals `entry.seq`. `proof` may also carry `seq` and `leaf_hash` (the shape of GET
/api/ledger/entries/{seq}/proof); they must then agree with `entry`. The timestamp
token (over the UTF-8 bytes of the whole checkpoint note) is carried but not checked
here, as that needs a CMS/X.509 stack: `mindlinks.ledger.timestamp.verify_timestamp`.

Every failure raises `VerificationFailed(check, detail)`; `check` is one of:
malformed-bundle, trusted-key, malformed-note, unknown-key, checkpoint-signature,
origin, tree-size, leaf-index, leaf-hash, entry-seq, proof-element, proof-length,
inclusion-proof, consistency-proof.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "mindlinks-ledger-proof/1"
HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
ED25519_TYPE = b"\x01"
KEY_HASH_SIZE = 4
ED25519_SIGNATURE_SIZE = 64
EM_DASH = "\u2014"
MAX_TREE_SIZE = 2**64 - 1
MAX_PROOF_HASHES = 128
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
ISSUED_AT = "issued-at "

_HEX32 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class VerificationFailed(Exception):
    """A named check failed; `check` says which, `detail` says why."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def b64decode_strict(text: object, what: str, check: str) -> bytes:
    """Standard base64 with padding, canonical encoding only."""
    try:
        if not isinstance(text, str) or not text.isascii():
            raise ValueError("not an ASCII string")
        raw = base64.b64decode(text, validate=True)
        if base64.b64encode(raw).decode("ascii") != text:
            raise ValueError("not canonical base64")
    except (ValueError, binascii.Error) as exc:
        raise VerificationFailed(check, f"{what} is not valid base64: {exc}") from None
    return raw


def _hex32(text: object, what: str, check: str) -> bytes:
    if not isinstance(text, str) or not _HEX32.fullmatch(text):
        raise VerificationFailed(check, f"{what} is not 64 lowercase hex digits")
    return bytes.fromhex(text)


def _size(value: object, what: str, check: str, minimum: int = 0) -> int:
    if type(value) is not int or not minimum <= value <= MAX_TREE_SIZE:
        raise VerificationFailed(check, f"{what} must be an integer in [{minimum}, 2^64-1]")
    return value


def _hashes(proof: object, check: str = "proof-element") -> list[bytes]:
    if not isinstance(proof, list | tuple):
        raise VerificationFailed(check, "the proof is not a list of hashes")
    out: list[bytes] = []
    for i, item in enumerate(proof):
        if i >= MAX_PROOF_HASHES:
            raise VerificationFailed("proof-length", f"more than {MAX_PROOF_HASHES} hashes")
        if isinstance(item, bytes | bytearray) and len(item) == HASH_SIZE:
            out.append(bytes(item))
        elif isinstance(item, str):
            out.append(_hex32(item, f"proof hash {i}", check))
        else:
            raise VerificationFailed(check, f"proof hash {i} is not {HASH_SIZE} bytes")
    return out


def inclusion_proof_length(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes | str]
) -> bytes:
    """RFC 9162 §2.1.3.2: the root the proof leads to, binding index and tree size."""
    size = _size(size, "tree size", "tree-size", minimum=1)
    index = _size(index, "leaf index", "leaf-index")
    if index >= size:
        raise VerificationFailed("leaf-index", f"leaf {index} is not in a tree of size {size}")
    if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
        raise VerificationFailed("leaf-hash", "the leaf hash is not 32 bytes")
    path = _hashes(proof)
    expected = inclusion_proof_length(index, size)
    if len(path) != expected:
        raise VerificationFailed(
            "proof-length",
            f"leaf {index} of a tree of size {size} needs {expected} hashes, got {len(path)}",
        )
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise VerificationFailed("proof-length", "the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationFailed("proof-length", "the inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes | str], root: bytes
) -> None:
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise VerificationFailed(
            "inclusion-proof", f"leaf {index} does not lead to the root of tree size {size}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes | str], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 §2.1.4.2: the tree of size2 (root2) extends the tree of size1 (root1)."""
    size1 = _size(size1, "first tree size", "tree-size")
    size2 = _size(size2, "second tree size", "tree-size")
    for name, root in (("first", root1), ("second", root2)):
        if not isinstance(root, bytes) or len(root) != HASH_SIZE:
            raise VerificationFailed("consistency-proof", f"the {name} root is not 32 bytes")
    if size1 > size2:
        raise VerificationFailed("tree-size", f"first size {size1} > second size {size2}")
    path = _hashes(proof)
    if size1 == size2 or size1 == 0:
        if path:
            raise VerificationFailed("proof-length", "a trivial consistency proof must be empty")
        if size1 == size2 and root1 != root2:
            raise VerificationFailed("consistency-proof", "equal sizes but different roots")
        return
    shift = (size1 & -size1).bit_length() - 1
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    power_of_two = size1 == 1 << shift
    expected = inner - shift + border + (0 if power_of_two else 1)
    if len(path) != expected:
        raise VerificationFailed(
            "proof-length", f"sizes {size1}->{size2} need {expected} hashes, got {len(path)}"
        )
    if power_of_two:
        path = [root1, *path]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationFailed("proof-length", "the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationFailed("proof-length", "the consistency proof is too short")
    if fr != root1:
        raise VerificationFailed("consistency-proof", f"the proof misses the root of {size1}")
    if sr != root2:
        raise VerificationFailed("consistency-proof", f"the proof misses the root of {size2}")


# --- keys and signed notes ---------------------------------------------------------


def valid_key_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(c.isspace() or ord(c) < 0x20 for c in name)
    )


def key_hash(name: str, public_key: bytes) -> bytes:
    """C2SP signed-note key ID for Ed25519: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    data = name.encode("utf-8") + b"\n" + ED25519_TYPE + public_key
    return hashlib.sha256(data).digest()[:KEY_HASH_SIZE]


def format_vkey(name: str, public_key: bytes) -> str:
    encoded = base64.b64encode(ED25519_TYPE + public_key).decode("ascii")
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


@dataclass(frozen=True)
class TrustedKey:
    name: str
    key_hash: bytes
    public_key: bytes

    @property
    def key_id(self) -> str:
        return self.key_hash.hex()

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, self.public_key)


def parse_vkey(vkey: object) -> TrustedKey:
    """`<name>+<hex key hash>+<base64(0x01 || 32-byte Ed25519 key)>`, hash re-derived."""
    parts = vkey.split("+", 2) if isinstance(vkey, str) else []
    if len(parts) != 3 or not valid_key_name(parts[0]) or not _KEY_ID.fullmatch(parts[1]):
        raise VerificationFailed("trusted-key", f"not a vkey: {str(vkey)[:80]!r}")
    name, hash_hex, encoded = parts
    raw = b64decode_strict(encoded, "the vkey's key", "trusted-key")
    if len(raw) != 1 + 32 or raw[:1] != ED25519_TYPE:
        raise VerificationFailed("trusted-key", f"vkey {name} is not an Ed25519 key")
    key = TrustedKey(name, bytes.fromhex(hash_hex), raw[1:])
    if key_hash(name, key.public_key) != key.key_hash:
        raise VerificationFailed("trusted-key", f"vkey {name}+{hash_hex} has a wrong key hash")
    return key


def trusted_vkeys_from_document(document: object) -> list[str]:
    """Vkeys from the operator's public-key JSON: one document, a list, or {"keys": [...]}."""
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        document = document["keys"]
    items = document if isinstance(document, list) else [document]
    vkeys = []
    for item in items:
        if not isinstance(item, dict) or item.get("algorithm", "Ed25519") != "Ed25519":
            raise VerificationFailed("trusted-key", "not an Ed25519 public-key document")
        key = parse_vkey(item.get("vkey"))
        for field, value in (("key_name", key.name), ("key_id", key.key_id)):
            if field in item and item[field] != value:
                raise VerificationFailed("trusted-key", f"{field} disagrees with the vkey")
        if "public_key" in item and item["public_key"] != base64.b64encode(key.public_key).decode():
            raise VerificationFailed("trusted-key", "public_key disagrees with the vkey")
        vkeys.append(key.vkey)
    return vkeys


def load_trusted_keys(vkeys: Sequence[str | TrustedKey]) -> list[TrustedKey]:
    if not isinstance(vkeys, list | tuple):
        raise VerificationFailed("trusted-key", "the trusted keys are not a list")
    keys = [vk if isinstance(vk, TrustedKey) else parse_vkey(vk) for vk in vkeys]
    if not keys:
        raise VerificationFailed("trusted-key", "no trusted key was given")
    return keys


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[NoteSignature, ...]
    note: str


def parse_signed_note(note: object) -> SignedNote:
    """Split a C2SP signed note into its text (with final newline) and signature lines."""
    try:
        if isinstance(note, bytes):
            if len(note) > MAX_NOTE_BYTES:
                raise ValueError("too large")
            note = note.decode("utf-8")
        if not isinstance(note, str) or len(note.encode("utf-8")) > MAX_NOTE_BYTES:
            raise ValueError("not a string of at most 1 MiB")
    except (ValueError, UnicodeError) as exc:
        raise VerificationFailed("malformed-note", f"the note is not UTF-8 text: {exc}") from None
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise VerificationFailed("malformed-note", "the note holds control characters")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationFailed("malformed-note", "no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise VerificationFailed("malformed-note", "the signature block must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerificationFailed("malformed-note", f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        name, _, encoded = line.removeprefix(EM_DASH + " ").partition(" ")
        if not line.startswith(EM_DASH + " ") or not valid_key_name(name):
            raise VerificationFailed("malformed-note", f"bad signature line {line[:80]!r}")
        raw = b64decode_strict(encoded, f"the signature of {name}", "malformed-note")
        if len(raw) <= KEY_HASH_SIZE:
            raise VerificationFailed("malformed-note", f"the signature of {name} is too short")
        signatures.append(NoteSignature(name, raw[:KEY_HASH_SIZE], raw[KEY_HASH_SIZE:]))
    return SignedNote(text, tuple(signatures), note)


def verify_note(note: object, trusted: Sequence[TrustedKey]) -> tuple[SignedNote, list[TrustedKey]]:
    """The parsed note and the trusted keys whose signatures verified (at least one)."""
    by_id: dict[tuple[str, bytes], TrustedKey] = {}
    for candidate in trusted:
        known = by_id.setdefault((candidate.name, candidate.key_hash), candidate)
        if known.public_key != candidate.public_key:
            raise VerificationFailed("trusted-key", f"ambiguous key {known.name}+{known.key_id}")
    parsed = parse_signed_note(note)
    message = parsed.text.encode("utf-8")
    verified: list[TrustedKey] = []
    for sig in parsed.signatures:
        key = by_id.get((sig.name, sig.key_hash))
        if key is None:
            continue  # C2SP: signatures by unknown keys are ignored
        try:
            if len(sig.signature) != ED25519_SIGNATURE_SIZE:
                raise InvalidSignature
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(sig.signature, message)
        except (InvalidSignature, ValueError):
            raise VerificationFailed(
                "checkpoint-signature", f"the signature by {key.name}+{key.key_id} is invalid"
            ) from None
        if key not in verified:
            verified.append(key)
    if not verified:
        seen = ", ".join(f"{s.name}+{s.key_hash.hex()}" for s in parsed.signatures)
        raise VerificationFailed("unknown-key", f"no signature by a trusted key (signed by {seen})")
    return parsed, verified


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    @property
    def issued_at(self) -> str | None:
        for line in self.extensions:
            if line.startswith(ISSUED_AT):
                return line[len(ISSUED_AT) :]
        return None


@dataclass(frozen=True)
class VerifiedCheckpoint(Checkpoint):
    signed_by: tuple[TrustedKey, ...] = ()
    note: str = ""


def parse_checkpoint_text(text: str) -> Checkpoint:
    """C2SP tlog-checkpoint body: origin, decimal size, base64 32-byte root, extensions."""
    lines = text[:-1].split("\n") if text.endswith("\n") else []
    if len(lines) < 3 or "" in lines:
        raise VerificationFailed("malformed-note", "a checkpoint has 3+ non-empty lines")
    origin, size, root = lines[:3]
    if not _DECIMAL.fullmatch(size) or int(size) > MAX_TREE_SIZE:
        raise VerificationFailed("malformed-note", f"bad tree size line {size[:30]!r}")
    root_hash = b64decode_strict(root, "the root hash", "malformed-note")
    if len(root_hash) != HASH_SIZE:
        raise VerificationFailed("malformed-note", "the root hash is not 32 bytes")
    return Checkpoint(origin, int(size), root_hash, tuple(lines[3:]))


def verify_checkpoint(
    note: object, trusted_vkeys: Sequence[str | TrustedKey], expected_origin: str | None = None
) -> VerifiedCheckpoint:
    """A checkpoint signed by a trusted key whose name is the checkpoint's origin."""
    keys = load_trusted_keys(trusted_vkeys)
    parsed, signers = verify_note(note, keys)
    cp = parse_checkpoint_text(parsed.text)
    if expected_origin is not None and cp.origin != expected_origin:
        raise VerificationFailed("origin", f"origin {cp.origin!r} is not {expected_origin!r}")
    by_origin = tuple(k for k in signers if k.name == cp.origin)
    if not by_origin:
        raise VerificationFailed("origin", f"no trusted key named {cp.origin!r} signed it")
    return VerifiedCheckpoint(
        cp.origin, cp.tree_size, cp.root_hash, cp.extensions, by_origin, parsed.note
    )


def verify_checkpoint_consistency(
    first_note: object,
    second_note: object,
    proof: Sequence[bytes | str],
    trusted_vkeys: Sequence[str | TrustedKey],
    expected_origin: str | None = None,
) -> tuple[VerifiedCheckpoint, VerifiedCheckpoint]:
    """Both checkpoints verify, share an origin, and the second extends the first."""
    keys = load_trusted_keys(trusted_vkeys)
    first = verify_checkpoint(first_note, keys, expected_origin)
    second = verify_checkpoint(second_note, keys, first.origin)
    verify_consistency(first.tree_size, second.tree_size, proof, first.root_hash, second.root_hash)
    return first, second


# --- proof bundles -------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedEntry:
    seq: int
    entry: bytes
    leaf_hash: bytes
    checkpoint: VerifiedCheckpoint
    timestamp_token: bytes | None

    @property
    def key_id(self) -> str:
        return self.checkpoint.signed_by[0].key_id


def _field(obj: object, name: str, where: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise VerificationFailed("malformed-bundle", f"{where} has no {name!r}")
    return obj[name]


def verify_proof_bundle(
    bundle: dict[str, Any],
    trusted_vkeys: Sequence[str | TrustedKey],
    expected_origin: str | None = None,
) -> VerifiedEntry:
    """Check an exported proof bundle (module docstring) against trusted keys only."""
    if _field(bundle, "format", "the bundle") != FORMAT:
        raise VerificationFailed("malformed-bundle", f"format is not {FORMAT!r}")
    entry_obj = _field(bundle, "entry", "the bundle")
    proof_obj = _field(bundle, "proof", "the bundle")
    seq = _size(_field(entry_obj, "seq", "entry"), "entry.seq", "malformed-bundle")
    entry = b64decode_strict(_field(entry_obj, "entry", "entry"), "entry.entry", "malformed-bundle")
    claimed = _hex32(_field(entry_obj, "leaf_hash", "entry"), "entry.leaf_hash", "leaf-hash")
    size = _size(_field(proof_obj, "tree_size", "proof"), "tree_size", "malformed-bundle", 1)
    path = _field(proof_obj, "audit_path", "proof")
    if not isinstance(path, list):
        raise VerificationFailed("malformed-bundle", "proof.audit_path is not a list")
    for name, value in (("seq", seq), ("leaf_hash", claimed.hex())):
        if isinstance(proof_obj, dict) and name in proof_obj and proof_obj[name] != value:
            raise VerificationFailed("malformed-bundle", f"proof.{name} disagrees with entry")
    note = _field(bundle, "checkpoint", "the bundle")
    token = _field(bundle, "timestamp_token", "the bundle")
    token_der = None
    if token is not None:
        token_der = b64decode_strict(token, "timestamp_token", "malformed-bundle")

    leaf = leaf_hash(entry)
    if leaf != claimed:
        raise VerificationFailed("leaf-hash", "the entry bytes do not hash to entry.leaf_hash")
    try:
        content = json.loads(entry)
    except (ValueError, RecursionError):
        content = None
    entry_seq = content.get("seq") if isinstance(content, dict) else None
    if type(entry_seq) is not int or entry_seq != seq:
        raise VerificationFailed("entry-seq", f"the entry bytes do not carry seq {seq}")

    checkpoint = verify_checkpoint(note, trusted_vkeys, expected_origin)
    if size != checkpoint.tree_size:
        raise VerificationFailed(
            "tree-size", f"proof is for size {size}, checkpoint is {checkpoint.tree_size}"
        )
    verify_inclusion(seq, size, leaf, path, checkpoint.root_hash)
    return VerifiedEntry(seq, entry, leaf, checkpoint, token_der)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verifier.py", description="Verify a Mind-Links ledger proof bundle offline."
    )
    parser.add_argument("bundle", help="proof bundle JSON (mindlinks-ledger-proof/1)")
    parser.add_argument("--key", action="append", default=[], help="trusted vkey (repeatable)")
    parser.add_argument("--keys-file", action="append", default=[], help="public-key JSON")
    parser.add_argument("--origin", default=None, help="required checkpoint origin")
    args = parser.parse_args(argv)
    try:
        vkeys: list[str] = list(args.key)
        for path in args.keys_file:
            try:
                with open(path, encoding="utf-8") as fh:
                    vkeys += trusted_vkeys_from_document(json.load(fh))
            except (OSError, ValueError, RecursionError) as exc:
                raise VerificationFailed("trusted-key", f"cannot read {path}: {exc}") from None
        try:
            with open(args.bundle, encoding="utf-8") as fh:
                bundle = json.load(fh)
        except (OSError, ValueError, RecursionError) as exc:
            raise VerificationFailed("malformed-bundle", f"cannot read the bundle: {exc}") from None
        result = verify_proof_bundle(bundle, vkeys, args.origin)
    except VerificationFailed as failure:
        print(f"FAILED {failure.check}: {failure.detail}")
        return 1
    cp = result.checkpoint
    signer = cp.signed_by[0]
    print(f"OK entry seq {result.seq}, leaf hash {result.leaf_hash.hex()}")
    print(f"   included in {cp.origin} at tree size {cp.tree_size}, root {cp.root_hash.hex()}")
    print(f"   checkpoint signed by {signer.name}+{signer.key_id}, issued at {cp.issued_at}")
    if result.timestamp_token is not None:
        print("   RFC 3161 timestamp token present (not checked by this tool)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

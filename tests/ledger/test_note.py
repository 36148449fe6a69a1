"""Signing checkpoints as C2SP signed notes, checked against Go's sumdb/note vectors.

Vectors: golang.org/x/mod sumdb/note/note_test.go
(https://github.com/golang/mod/blob/master/sumdb/note/note_test.go, commit
02c991387e35f9e4c0a9b7ce137717055f8d716d): the PeterNeumann signer key (an Ed25519
seed), its vkey, and the exact signed note of TestSign; the EnochRoot signature of
TestOpen. The checkpoint example is C2SP tlog-checkpoint.md
(https://github.com/C2SP/C2SP/blob/main/tlog-checkpoint.md).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mindlinks.ledger import note, verifier
from mindlinks.ledger.verifier import VerificationFailed

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"  # fmt: skip
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"  # fmt: skip
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"  # fmt: skip
C2SP_EXAMPLE = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)

ORIGIN = "mindlinks.test/ledger"
KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"ledger test key").digest())
ROOT = hashlib.sha256(b"root").digest()


def peter_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert raw[0] == 1  # the Ed25519 algorithm byte, then the 32-byte seed
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_reproduces_the_go_sumdb_note_signature_exactly() -> None:
    key = peter_key()
    assert note.vkey("PeterNeumann", key.public_key()) == PETER_VKEY
    assert note.key_hash("PeterNeumann", note.raw_public_key(key.public_key())).hex() == "c74f20a3"
    assert note.sign_note(TEXT, "PeterNeumann", key) == TEXT + "\n" + PETER_SIG


def test_opens_the_go_notes_with_the_right_keys() -> None:
    peter, enoch = verifier.parse_vkey(PETER_VKEY), verifier.parse_vkey(ENOCH_VKEY)
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    parsed, signers = verifier.verify_note(both, [peter])
    assert parsed.text == TEXT and signers == [peter]
    assert verifier.verify_note(both, [peter, enoch])[1] == [peter, enoch]
    with pytest.raises(VerificationFailed) as info:
        verifier.verify_note(both, [])
    assert info.value.check == "unknown-key"
    with pytest.raises(VerificationFailed) as info:
        verifier.verify_note(TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], [peter])
    assert info.value.check == "checkpoint-signature"
    with pytest.raises(VerificationFailed, match="ambiguous"):
        verifier.verify_note(both, [peter, verifier.TrustedKey("PeterNeumann", peter.key_hash,
                                                               bytes(32))])  # fmt: skip


@pytest.mark.parametrize(
    "message",
    [
        TEXT.encode(),
        (TEXT + "\n").encode(),
        (TEXT + "\n" + PETER_SIG[:-1]).encode(),
        ("\x01" + TEXT + "\n" + PETER_SIG).encode(),
        b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),  # not UTF-8
        (
            TEXT
            + "\n"
            + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ).encode(),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n").encode(),
        (TEXT + "\n" + PETER_SIG * 101).encode(),
    ],
)
def test_go_malformed_notes_are_refused(message: bytes) -> None:
    with pytest.raises(VerificationFailed) as info:
        verifier.verify_note(message, [verifier.parse_vkey(PETER_VKEY)])
    assert info.value.check == "malformed-note"


def test_go_vkey_manglings_are_refused() -> None:
    verifier.parse_vkey(ENOCH_VKEY)
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(VerificationFailed):
                    verifier.parse_vkey(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(VerificationFailed):
            verifier.parse_vkey(mangled)
    for bad in ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"):  # fmt: skip
        with pytest.raises(VerificationFailed):
            verifier.parse_vkey(bad)


def test_parses_the_c2sp_checkpoint_example() -> None:
    parsed = verifier.parse_signed_note(C2SP_EXAMPLE)
    checkpoint = verifier.parse_checkpoint_text(parsed.text)
    assert (checkpoint.origin, checkpoint.tree_size) == ("example.com/behind-the-sofa", 20852163)
    assert [s.name for s in parsed.signatures] == ["example.com/behind-the-sofa"]
    with pytest.raises(VerificationFailed) as info:  # we do not hold that log's key
        verifier.verify_checkpoint(
            C2SP_EXAMPLE, [note.vkey("example.com/behind-the-sofa", KEY.public_key())]
        )
    assert info.value.check == "unknown-key"


def test_format_checkpoint() -> None:
    body = note.format_checkpoint(ORIGIN, 42, ROOT, ["issued-at 2026-11-29T10:00:00Z"])
    assert (
        body == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\nissued-at 2026-11-29T10:00:00Z\n"
    )
    cp = verifier.parse_checkpoint_text(body)
    assert (cp.origin, cp.tree_size, cp.root_hash, cp.issued_at) == (
        ORIGIN, 42, ROOT, "2026-11-29T10:00:00Z"
    )  # fmt: skip
    empty = note.format_checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert empty.splitlines()[1] == "0"


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, []),
        ("a\nb", 1, ROOT, []),
        (ORIGIN, -1, ROOT, []),
        (ORIGIN, 2**64, ROOT, []),
        (ORIGIN, True, ROOT, []),
        (ORIGIN, 1, ROOT[:31], []),
        (ORIGIN, 1, ROOT, [""]),
        (ORIGIN, 1, ROOT, ["two\nlines"]),
    ],
)
def test_format_checkpoint_refuses_bad_input(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    with pytest.raises(ValueError):
        note.format_checkpoint(origin, size, root, extensions)


def test_sign_note_refuses_bad_names_and_bodies() -> None:
    body = note.format_checkpoint(ORIGIN, 1, ROOT)
    for name in ("", "has space", "a+b", "tab\there"):
        with pytest.raises(ValueError):
            note.sign_note(body, name, KEY)
    for bad in ("no newline", "a\n\nb\n", "\n", "ctrl\x07\n"):
        with pytest.raises(ValueError):
            note.sign_note(bad, ORIGIN, KEY)


def test_issued_at_line() -> None:
    when = datetime(2026, 11, 29, 11, 0, 0, 999, tzinfo=timezone(timedelta(hours=1)))
    assert note.issued_at_line(when) == "issued-at 2026-11-29T10:00:00Z"
    with pytest.raises(ValueError):
        note.issued_at_line(datetime(2026, 11, 29))


def test_signed_checkpoints_verify() -> None:
    when = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    signed = note.sign_checkpoint(ORIGIN, 7, ROOT, KEY, issued_at=when)
    result = verifier.verify_checkpoint(signed, [note.vkey(ORIGIN, KEY.public_key())], ORIGIN)
    assert (result.tree_size, result.root_hash, result.issued_at) == (
        7,
        ROOT,
        "2026-11-29T10:00:00Z",
    )
    assert result.signed_by[0].key_id == note.key_id(ORIGIN, KEY.public_key())
    assert result.note == signed


def test_a_single_flipped_bit_anywhere_fails() -> None:
    signed = note.sign_checkpoint(ORIGIN, 7, ROOT, KEY, issued_at=datetime.now(UTC)).encode()
    vkeys = [note.vkey(ORIGIN, KEY.public_key())]
    verifier.verify_checkpoint(signed, vkeys)
    for i in range(len(signed)):
        for bit in range(8):
            flipped = signed[:i] + bytes([signed[i] ^ (1 << bit)]) + signed[i + 1 :]
            with pytest.raises(VerificationFailed):
                verifier.verify_checkpoint(flipped, vkeys)

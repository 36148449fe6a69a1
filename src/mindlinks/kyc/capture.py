"""The sandbox capture: the contractor's images and document number, checked and kept.

`submit_sandbox_capture` (what the API and the capture page call):

1. loads the session for the actor: their own, at the sandbox provider, else 404;
   it must be `created` and unexpired, else 409 `kyc-session-not-open`;
2. checks every file (`images.py`): a JPEG, PNG or WebP of sane size that decodes
   completely, at most `kyc_max_upload_bytes` (read no further than that), and a
   selfie that is not the same picture as either document side; every problem
   answers 422 naming its field, before anything is written;
3. moves the session to `submitted` (conditional UPDATE), seals the document
   number, stores each image encrypted (associated data binds the blob to this
   session and side) and records its SHA-256 and size;
4. hands the document number to the sandbox provider, which decides, and queues
   `kyc.deliver_sandbox_decision`: the decision reaches the platform later, as a
   signed HTTP webhook, like any provider's.

Files are read twice (check, then store) rather than kept: three 10 MB images
are never all in memory at once. Streams must therefore be seekable (Starlette's
uploads are spooled files).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, BinaryIO, Final

import structlog
from sqlalchemy.orm import Session

from mindlinks.jobs.service import enqueue
from mindlinks.kyc import repository
from mindlinks.kyc.errors import KycSessionNotFound, KycSessionNotOpen, KycUploadInvalid
from mindlinks.kyc.images import CheckedImage, ImageRejected, check_image, read_limited
from mindlinks.kyc.images import same_picture as _same_picture
from mindlinks.kyc.lifecycle import DELIVER_SANDBOX_DECISION_JOB, move
from mindlinks.kyc.models import KycDocument, KycSession
from mindlinks.kyc.providers.sandbox import SandboxKycProvider
from mindlinks.kyc.sealing import (
    document_number_binding,
    image_binding,
    image_key,
    seal_text,
)
from mindlinks.platform.blobs.base import BlobStore
from mindlinks.platform.blobs.keyring import KeyRing
from mindlinks.platform.clock import now
from mindlinks.platform.errors import InvalidInput
from mindlinks.platform.ids import new_id

if TYPE_CHECKING:
    from mindlinks.identity.auth import Actor

log = structlog.get_logger(__name__)

SIDES: Final = ("front", "back", "selfie")
# The multipart field of each side (API.md).
FIELD_OF_SIDE: Final[Mapping[str, str]] = {
    "front": "document_front",
    "back": "document_back",
    "selfie": "selfie",
}
REQUIRED_SIDES: Final = ("front", "selfie")
_DOCUMENT_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9 \-/]{0,62}[A-Z0-9]|[A-Z0-9]")


def clean_document_number(value: str | None) -> str:
    """Upper-cased, trimmed; letters, digits and inner spaces, hyphens or slashes."""
    number = " ".join((value or "").split()).upper()
    if not number:
        raise InvalidInput("document_number", "enter the number printed on the document")
    if not _DOCUMENT_NUMBER.fullmatch(number):
        raise InvalidInput(
            "document_number",
            "use 1 to 64 letters and digits (spaces, hyphens and slashes may separate them)",
        )
    return number


def open_capture_session(session: Session, actor: Actor, session_id: str) -> KycSession:
    """The actor's own sandbox session, still open for a capture (404, then 409)."""
    kyc = repository.load_readable(session, actor, session_id)
    if kyc.user_id != actor.id or kyc.provider != "sandbox":
        # Admins may read it, but only its contractor captures, and only at the sandbox.
        raise KycSessionNotFound(f"No sandbox verification session {session_id} is yours.")
    if kyc.status != "created" or kyc.expires_at <= now():
        status = "expired" if kyc.status == "created" else kyc.status
        raise KycSessionNotOpen(
            f"The verification session is {status}; it accepts no more documents.",
            extra={"kyc_status": status},
        )
    return kyc


def check_uploads(files: Mapping[str, BinaryIO | None], limit: int) -> dict[str, CheckedImage]:
    """Check every given side; KycUploadInvalid listing each refused field."""
    errors: list[dict[str, str]] = []
    checked: dict[str, CheckedImage] = {}
    for side in SIDES:
        stream = files.get(side)
        field = FIELD_OF_SIDE[side]
        if stream is None:
            if side in REQUIRED_SIDES:
                errors.append({"field": field, "message": "this image is required"})
            continue
        try:
            stream.seek(0)
            checked[side] = check_image(read_limited(stream, limit))
        except ImageRejected as exc:
            errors.append({"field": field, "message": str(exc)})
    selfie = checked.get("selfie")
    if selfie is not None:
        for side in ("front", "back"):
            document = checked.get(side)
            if document is not None and _same_picture(selfie, document):
                errors.append(
                    {
                        "field": "selfie",
                        "message": f"the selfie is the same image as the document {side}; "
                        "take a photo of your face",
                    }
                )
                break
    if errors:
        raise KycUploadInvalid(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    return checked


def submit_sandbox_capture(
    session: Session,
    actor: Actor,
    session_id: str,
    *,
    files: Mapping[str, BinaryIO | None],
    document_number: str | None,
    sandbox: SandboxKycProvider,
    store: BlobStore,
    keyring: KeyRing,
    max_upload_bytes: int,
) -> KycSession:
    """Check and keep a sandbox capture; the session becomes `submitted` (see module docs).

    `files` maps "front", "back" (optional) and "selfie" to seekable binary streams.
    """
    kyc = open_capture_session(session, actor, session_id)
    number = clean_document_number(document_number)
    checked = check_uploads(files, max_upload_bytes)
    if not move(
        session,
        kyc,
        "submitted",
        actor_ref=f"user:{actor.id}",
        extra={
            "document_number_sealed": seal_text(keyring, number, document_number_binding(kyc.id))
        },
    ):
        raise KycSessionNotOpen(
            f"The verification session is {kyc.status}; it accepts no more documents.",
            extra={"kyc_status": kyc.status},
        )
    stored: list[str] = []
    try:
        for side, image in checked.items():
            stream = files[side]
            assert stream is not None
            stream.seek(0)
            data = read_limited(stream, max_upload_bytes)
            if hashlib.sha256(data).hexdigest() != image.sha256:
                raise KycUploadInvalid(
                    f"{FIELD_OF_SIDE[side]}: the file changed while it was being read",
                    errors=[{"field": FIELD_OF_SIDE[side], "message": "the file changed"}],
                )
            document_id = new_id()
            key = image_key(kyc.id, side, document_id)
            store.put(
                key,
                data,
                associated_data=image_binding(kyc.id, side),
                content_type=image.content_type,
            )
            stored.append(key)
            del data
            session.add(
                KycDocument(
                    id=document_id,
                    session_id=kyc.id,
                    side=side,
                    blob_key=key,
                    sha256=image.sha256,
                    content_type=image.content_type,
                    size_bytes=image.size,
                    width=image.width,
                    height=image.height,
                    created_at=now(),
                )
            )
        verdict = sandbox.record_capture(
            session, reference=kyc.provider_reference, session_id=kyc.id, document_number=number
        )
        enqueue(
            session,
            DELIVER_SANDBOX_DECISION_JOB,
            {
                "session_id": kyc.id,
                "reference": verdict.reference,
                "outcome": verdict.outcome,
                "reason": verdict.reason,
                "decided_at": verdict.decided_at.isoformat(),
            },
            key=f"{DELIVER_SANDBOX_DECISION_JOB}:{kyc.id}",
        )
        session.flush()
    except BaseException:
        # Nothing of this capture commits, so its blobs must not outlive it.
        for key in stored:
            with suppress(Exception):
                store.delete(key)
        raise
    log.info(
        "kyc_capture_submitted",
        session_id=kyc.id,
        sides=",".join(checked),
        bytes=sum(image.size for image in checked.values()),
    )
    return kyc

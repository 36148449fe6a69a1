"""Typed dependencies that load a verification session *for the calling actor*.

A session the actor may not see (another contractor's, or any for a client)
answers 404 before any role is checked (403), so an id reveals nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from mindlinks.identity.auth import CurrentActor, require_role
from mindlinks.kyc import repository
from mindlinks.kyc.capture import open_capture_session
from mindlinks.kyc.models import KycSession
from mindlinks.platform.context import SessionDep

KycSessionId = Annotated[str, Path(description="The verification session's id", max_length=64)]


def readable_kyc_session(
    session_id: KycSessionId, actor: CurrentActor, session: SessionDep
) -> KycSession:
    """Its contractor and admins read it; anyone else 404."""
    return repository.load_readable(session, actor, session_id)


def admin_kyc_session(
    session_id: KycSessionId, actor: CurrentActor, session: SessionDep
) -> KycSession:
    """For admins: 404 if the caller cannot see it at all, then 403 for its contractor."""
    kyc = repository.load_readable(session, actor, session_id)
    require_role(actor, "admin")
    return kyc


def capture_kyc_session(
    session_id: KycSessionId, actor: CurrentActor, session: SessionDep
) -> KycSession:
    """The caller's own open sandbox session: 404 if not theirs or not the sandbox's,
    409 if it no longer takes a capture. Checked before the upload is read."""
    return open_capture_session(session, actor, session_id)


ReadableKycSession = Annotated[KycSession, Depends(readable_kyc_session)]
AdminKycSession = Annotated[KycSession, Depends(admin_kyc_session)]
CaptureKycSession = Annotated[KycSession, Depends(capture_kyc_session)]

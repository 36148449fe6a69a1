"""KYC test data: images drawn with Pillow, and sessions built through the real services.

`document_image(seed)` draws an "ID card" (bands, a photo box, text bars) and
`selfie_image(seed)` a face-like oval on a gradient: different seeds give
different pictures, and a document never looks like a selfie to the perceptual
hash. `encode` saves one in any format; `noise_jpeg` makes a photo-like JPEG of
about the size asked for.
"""

from __future__ import annotations

import io
import os
import random
from contextlib import nullcontext
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from mindlinks.identity.auth import Actor
from mindlinks.identity.models import User
from mindlinks.kyc import service
from mindlinks.kyc.models import KycSession
from mindlinks.kyc.providers import SandboxKycProvider, sandbox_provider_for
from mindlinks.kyc.sealing import keyring_for
from mindlinks.platform.blobs import blob_store_for
from mindlinks.platform.context import AppContext
from mindlinks.platform.ratelimit import RateLimiter


def actor(user: User) -> Actor:
    return Actor(user=user, family_id="test-family")


def document_image(seed: int = 1, size: tuple[int, int] = (860, 540)) -> Image.Image:
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, (rng.randrange(150, 255), rng.randrange(150, 255), 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, height // 6), fill=(rng.randrange(0, 90), 40, 120))
    # The holder's photo box on the left, and text bars on the right.
    draw.rectangle(
        (30, height // 4, width // 3, height - 30), fill=(90, 90, rng.randrange(60, 200))
    )
    for row in range(6):
        y = height // 4 + row * (height // 10)
        length = rng.randrange(width // 5, width // 2)
        draw.rectangle((width // 3 + 40, y, width // 3 + 40 + length, y + 14), fill=(20, 20, 20))
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(5, 40)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=(rng.randrange(255), 0, 0), width=3)
    return image


def selfie_image(seed: int = 1, size: tuple[int, int] = (600, 800)) -> Image.Image:
    rng = random.Random(seed * 7919 + 13)
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top, bottom = rng.randrange(0, 120), rng.randrange(120, 255)
    for y in range(height):
        shade = top + (bottom - top) * y // height
        draw.line((0, y, width, y), fill=(shade, shade // 2, 255 - shade))
    cx, cy = width // 2 + rng.randrange(-40, 40), height // 2 + rng.randrange(-40, 40)
    draw.ellipse((cx - 170, cy - 230, cx + 170, cy + 230), fill=(224, 172, 105))
    draw.ellipse((cx - 90, cy - 70, cx - 40, cy - 30), fill=(40, 40, 40))
    draw.ellipse((cx + 40, cy - 70, cx + 90, cy - 30), fill=(40, 40, 40))
    draw.arc((cx - 80, cy + 40, cx + 80, cy + 140), 20, 160, fill=(120, 30, 30), width=8)
    draw.rectangle((0, height - 120, width, height), fill=(rng.randrange(255), 60, 60))
    return image


def encode(image: Image.Image, fmt: str = "JPEG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        options.setdefault("quality", 90)
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def document_bytes(seed: int = 1, fmt: str = "JPEG") -> bytes:
    return encode(document_image(seed), fmt)


def selfie_bytes(seed: int = 1, fmt: str = "JPEG") -> bytes:
    return encode(selfie_image(seed), fmt)


def noise_jpeg(target_bytes: int, quality: int = 95) -> bytes:
    """A JPEG of random pixels (it compresses like a detailed photo) of at most
    `target_bytes` and at least 90% of it."""
    side = 512
    for _ in range(20):
        pixels = os.urandom(side * side * 3)
        data = encode(Image.frombytes("RGB", (side, side), pixels), quality=quality)
        if 0.9 * target_bytes <= len(data) <= target_bytes:
            return data
        side = max(64, int(side * (0.97 * target_bytes / len(data)) ** 0.5))
    raise AssertionError(f"no noise JPEG near {target_bytes} bytes")


def capture_files(
    *,
    front: bytes | None = None,
    back: bytes | None = None,
    selfie: bytes | None = None,
    seed: int = 1,
) -> dict[str, tuple[str, bytes, str]]:
    """The multipart `files=` of a capture; defaults are a valid front, back and selfie."""
    files = {
        "document_front": (
            "front.jpg",
            front if front is not None else document_bytes(seed),
            "image/jpeg",
        ),
        "document_back": (
            "back.jpg",
            back if back is not None else document_bytes(seed + 1000),
            "image/jpeg",
        ),
        "selfie": (
            "selfie.jpg",
            selfie if selfie is not None else selfie_bytes(seed),
            "image/jpeg",
        ),
    }
    return files


def capture_streams(seed: int = 1, **override: bytes | None) -> dict[str, io.BytesIO | None]:
    """What the service takes: side -> seekable stream."""
    data = {
        "front": document_bytes(seed),
        "back": document_bytes(seed + 1000),
        "selfie": selfie_bytes(seed),
    }
    data.update(override)
    return {side: io.BytesIO(value) if value is not None else None for side, value in data.items()}


def start_session(session: Session, app_context: AppContext, user: User) -> KycSession:
    started = service.start_verification(
        session,
        actor(user),
        provider=sandbox_provider_for(app_context),
        settings=app_context.settings,
        limiter=RateLimiter(None),
        keyring=keyring_for(app_context),
    )
    session.flush()
    return started.session


def submit_capture(
    session: Session,
    app_context: AppContext,
    user: User,
    kyc: KycSession,
    *,
    document_number: str = "AB1234567",
    seed: int = 1,
) -> KycSession:
    return service.submit_sandbox_capture(
        session,
        actor(user),
        kyc.id,
        files=capture_streams(seed),
        document_number=document_number,
        sandbox=sandbox_provider_for(app_context),
        store=blob_store_for(app_context),
        keyring=keyring_for(app_context),
        max_upload_bytes=app_context.settings.kyc_max_upload_bytes,
    )


def reading_sandbox(app_context: AppContext, session: Session) -> SandboxKycProvider:
    """The sandbox provider reading through the test's session (its rows are uncommitted)."""
    real = sandbox_provider_for(app_context)
    return SandboxKycProvider(
        secret=real.secret,
        base_url=app_context.settings.base_url,
        read_session=lambda: nullcontext(session),
    )

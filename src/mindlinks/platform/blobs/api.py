"""`GET /api/blobs/{token}`: the plaintext of a blob behind an expiring signed URL.

No session is asked for: the token is the capability (see `urls.py`), so an admin
page can use it as an `<img src>`. The answer must never be cached or sniffed into
something executable, and is shown inline rather than downloaded.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from mindlinks.platform.blobs import blob_store_for
from mindlinks.platform.blobs.urls import open_signed_blob
from mindlinks.platform.context import ContextDep

router = APIRouter(prefix="/api", tags=["blobs"])

PROBLEM_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "The address has expired (`url-expired`)"},
    404: {"description": "The address is not valid, or the document was deleted"},
}


@router.get(
    "/blobs/{token}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **PROBLEM_RESPONSES},
)
def get_blob(token: str, ctx: ContextDep) -> Response:
    """The document behind a signed URL, with the content type it was stored with."""
    blob = open_signed_blob(ctx.settings, blob_store_for(ctx), token)
    return Response(
        content=blob.data,
        media_type=blob.content_type,
        headers={
            "Cache-Control": "no-store, private",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": "inline",
        },
    )

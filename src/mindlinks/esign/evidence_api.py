"""HTTP routes of evidence bundles and the published signing trust anchor.

- GET /api/contracts/{id}/evidence: the parties' zip (`evidence.build_evidence_bundle`);
  409 `evidence-not-ready` until the contract is sealed and a checkpoint covers
  its ledger entries.
- GET /api/esign/platform-ca.pem: public; the CA every PDF signature chains to,
  which `mindlinks evidence trust --url` pins next to GET /api/ledger/public-keys.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter
from fastapi.responses import Response

from mindlinks.contracts.auth import ReadableContract
from mindlinks.esign.evidence import build_evidence_bundle
from mindlinks.esign.pki import platform_ca_pem
from mindlinks.platform.context import ContextDep, SessionDep

router = APIRouter(prefix="/api", tags=["evidence"])

ZIP_MEDIA_TYPE: Final = "application/zip"
PEM_MEDIA_TYPE: Final = "application/x-pem-file"


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Not signed in",
        404: "Unknown, or not visible to the caller",
        409: "`evidence-not-ready`: not sealed yet, or no checkpoint covers its entries yet",
    }
    return {
        code: {"description": described[code], "content": {"application/problem+json": {}}}
        for code in codes
    }


@router.get(
    "/contracts/{contract_id}/evidence",
    response_class=Response,
    responses={
        200: {"description": "The evidence bundle", "content": {ZIP_MEDIA_TYPE: {}}},
        **_problems(401, 404, 409),
    },
)
def evidence_bundle(contract: ReadableContract, session: SessionDep, ctx: ContextDep) -> Response:
    """The contract's evidence bundle; `mindlinks evidence verify` checks it offline."""
    bundle = build_evidence_bundle(
        session, ctx, contract, platform_ca_pem=platform_ca_pem(ctx.settings)
    )
    return Response(
        bundle.data,
        media_type=ZIP_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{bundle.filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/esign/platform-ca.pem",
    response_class=Response,
    responses={200: {"description": "The signing CA (PEM)", "content": {PEM_MEDIA_TYPE: {}}}},
)
def platform_ca(ctx: ContextDep) -> Response:
    """The platform's signing CA certificate: every PDF signature chains to it."""
    return Response(
        platform_ca_pem(ctx.settings),
        media_type=PEM_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'inline; filename="platform-ca.pem"',
            "Cache-Control": "public, max-age=3600",
        },
    )

"""HTTP routes of evidence bundles and the published signing trust anchor."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["evidence"])

"""HTTP routes of the payments module (API.md, "Contracts and signatures" / "Payments")."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["payments"])

"""HTTP routes of the esign module (API.md, "Contracts and signatures" / "Payments")."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["esign"])

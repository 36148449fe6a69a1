"""The baseline: a bare FastAPI app that returns a constant, served the same way."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/api/me")
def me() -> dict[str, str]:
    return {"id": "constant", "email": "constant@example.com"}

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from mindlinks.platform.context import ContextDep
from mindlinks.platform.errors import ServiceUnavailable, problem_response

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", responses={503: {"description": "The database is unreachable"}})
def health(ctx: ContextDep) -> JSONResponse:
    try:
        with ctx.engine.connect() as conn:
            conn.execution_options(sqlite_begin="DEFERRED").execute(text("SELECT 1"))
    except SQLAlchemyError:
        problem = ServiceUnavailable("The database is unreachable.")
        problem.extra = {"database": "unreachable"}
        return problem_response(problem)
    return JSONResponse({"status": "ok", "database": "ok"})

"""`create_app(settings)`: routers, middleware, error handlers and the lifespan
that runs the in-process worker in the embedded mode."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mindlinks.config import Settings
from mindlinks.jobs.registry import load_task_modules
from mindlinks.jobs.worker import Worker, install_wake_hook
from mindlinks.platform.context import AppContext, build_context
from mindlinks.platform.errors import install_problem_handlers
from mindlinks.platform.logging import configure_logging
from mindlinks.platform.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from mindlinks.platform.runtime import freeze_startup_heap

API_DESCRIPTION = (
    "Mind-Links: hire independent contractors across borders. Errors are RFC 9457 "
    "`application/problem+json`; lists are cursor-paginated."
)


def create_app(settings: Settings | None = None, *, context: AppContext | None = None) -> FastAPI:
    settings = settings or (context.settings if context else Settings())
    configure_logging(settings.log_level)
    ctx = context or build_context(settings)
    load_task_modules()
    install_wake_hook()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        freeze_startup_heap()
        stop = threading.Event()
        thread: threading.Thread | None = None
        if settings.run_worker_in_process:
            worker = Worker(ctx)
            thread = threading.Thread(
                target=worker.run_forever,
                args=(stop, settings.worker_poll_seconds),
                name="mindlinks-worker",
                daemon=True,
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            from mindlinks.jobs.worker import WAKE

            WAKE.set()
            if thread is not None:
                thread.join(timeout=10)

    app = FastAPI(
        title="Mind-Links API",
        version="0.1.0",
        description=API_DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_problem_handlers(app)

    from mindlinks.companies.api import router as companies_router
    from mindlinks.contracts.api import router as contracts_router
    from mindlinks.esign.api import router as esign_router
    from mindlinks.esign.evidence_api import router as evidence_router
    from mindlinks.identity.api import router as identity_router
    from mindlinks.kyc.api import router as kyc_router
    from mindlinks.ledger.api import router as ledger_router
    from mindlinks.notifications.api import router as notifications_router
    from mindlinks.payments.api import router as payments_router
    from mindlinks.platform.blobs.api import router as blobs_router
    from mindlinks.platform.health import router as health_router
    from mindlinks.web.routes import STATIC_DIR
    from mindlinks.web.routes import router as web_router

    for router in (
        health_router,
        identity_router,
        companies_router,
        notifications_router,
        ledger_router,
        kyc_router,
        contracts_router,
        esign_router,
        evidence_router,
        payments_router,
        blobs_router,
    ):
        app.include_router(router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    from mindlinks.esign.api import SIGN_PATHS, sign_body_limit
    from mindlinks.esign.errors import SignatureTooLarge
    from mindlinks.kyc.api import UPLOAD_PATHS, upload_body_limit
    from mindlinks.kyc.errors import KycUploadTooLarge

    upload_limit = upload_body_limit(settings.kyc_max_upload_bytes)
    sign_limit = sign_body_limit(settings.max_signature_png_bytes)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits=[
            *((pattern, upload_limit, KycUploadTooLarge) for pattern in UPLOAD_PATHS),
            *((pattern, sign_limit, SignatureTooLarge) for pattern in SIGN_PATHS),
        ],
    )
    app.add_middleware(RequestIdMiddleware)
    return app

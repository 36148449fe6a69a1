"""The process-wide objects a request or job needs, built once per app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from mindlinks.config import Settings
from mindlinks.db import make_engine, make_session_factory
from mindlinks.platform.errors import Problem
from mindlinks.platform.keys import SigningKey, init_keys, load_token_signing_key
from mindlinks.platform.ratelimit import RateLimiter


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    limiter: RateLimiter
    signing_key: SigningKey
    verification_keys: dict[str, SigningKey] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


def build_context(settings: Settings, engine: Engine | None = None) -> AppContext:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.is_development:
        init_keys(settings)
    engine = engine or make_engine(settings.resolved_database_url)
    key = load_token_signing_key(settings)
    factory = make_session_factory(engine)
    # Code that only holds a session (e.g. a mailer inside a job) reads the
    # settings of the app that opened it.
    factory.configure(info={"settings": settings})
    return AppContext(
        settings=settings,
        engine=engine,
        session_factory=factory,
        limiter=RateLimiter(settings.redis_url),
        signing_key=key,
        verification_keys={key.kid: key},
    )


# Pure dependencies are `async def` so FastAPI calls them on the event loop;
# a sync dependency costs a thread-pool hop on every request.
async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_settings(request: Request) -> Settings:
    ctx: AppContext = request.app.state.ctx
    return ctx.settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: one commit when the handler returns."""
    ctx: AppContext = request.app.state.ctx
    session = ctx.session_factory()
    try:
        yield session
        session.commit()
    except Problem as problem:
        if problem.commit_before_raise:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ContextDep = Annotated[AppContext, Depends(get_context)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

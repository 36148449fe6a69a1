"""structlog JSON logs with PII and secrets masked before anything is written.

Masking happens in a processor that runs on every event (ours and the stdlib
loggers routed through structlog, such as uvicorn's access log), so a careless
`log.info(..., email=...)` cannot leak what it should not.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

SENSITIVE_KEYS = re.compile(
    r"(pass(word)?|secret|token|authorization|cookie|api[_-]?key|document[_-]?number|"
    r"id[_-]?number|signature|otp|credential)",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9\-]+\.)+[A-Za-z]{2,}")
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
BEARER_RE = re.compile(r"(?i)(bearer\s+)\S+")
# Long runs of URL-safe base64 or hex are secrets (invite links, refresh tokens).
LONG_SECRET_RE = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{32,}(?![A-Za-z0-9_\-])")
MASK = "***"


def mask_text(text: str) -> str:
    text = JWT_RE.sub(MASK, text)
    text = BEARER_RE.sub(r"\1" + MASK, text)
    text = EMAIL_RE.sub(lambda m: f"{m.group(1)}***@***", text)
    return LONG_SECRET_RE.sub(MASK, text)


def mask_value(key: str | None, value: Any) -> Any:
    if key is not None and SENSITIVE_KEYS.search(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(None, v) for v in value]
    return value


def mask_sensitive(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key in ("timestamp", "level", "logger", "request_id"):
            continue
        event_dict[key] = mask_value(key if key != "event" else None, event_dict[key])
    return event_dict


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """JSON lines on stderr (or `stream`), masked, with the request id bound per request."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        structlog.processors.format_exc_info,
        mask_sensitive,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared[:-1], _positional_to_message, mask_sensitive],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


def _positional_to_message(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    record = event_dict.get("_record")
    if record is not None and record.args:
        event_dict["event"] = record.getMessage()
        event_dict.pop("positional_args", None)
    return event_dict

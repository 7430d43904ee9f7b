"""One logging configuration: JSON lines (time, level, logger, message, request id, extra fields).

Used by ``kiwame serve`` for the arbiter, the worker and gunicorn's own error and access logs, so that
everything a running Kiwame writes to stderr parses the same way.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from flask import g, has_request_context
from gunicorn.glogging import Logger as GunicornLogger

# Attributes every LogRecord has: anything else on a record came from `extra=` and is logged as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def _request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line; never raises on odd values (they are rendered with ``str``)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = record.__dict__.get("request_id") or _request_id()
        if rid:
            data["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in data:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


def formatter(kind: str) -> logging.Formatter:
    return TextFormatter() if kind == "text" else JsonFormatter()


def configure(kind: str = "json", level: str = "INFO") -> None:
    """Root logger to stderr in one format; gunicorn's loggers follow via ``GunicornJsonLogger``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)


class GunicornJsonLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's error and access logs in the same format; access lines carry structured fields."""

    log_kind = "json"

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter(self.log_kind))

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.logconfig_dict or self.cfg.syslog):
            return
        if self.log_kind == "text":
            super().access(resp, req, environ, request_time)
            return
        headers = dict((k.lower(), v) for k, v in (getattr(resp, "headers", None) or []))
        status = str(getattr(resp, "status", "") or "").split(" ")[0]
        self.access_log.info("%s %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status, extra={
            "event": "http_access", "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"), "status": int(status) if status.isdigit() else status,
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "remote_addr": environ.get("REMOTE_ADDR"), "request_id": headers.get("x-request-id"),
            "bytes": getattr(resp, "sent", None)})

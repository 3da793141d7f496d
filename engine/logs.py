"""Logging for the daemon: readable lines by default, one JSON object a line with --log-format json."""

from __future__ import annotations

import datetime as dt
import logging
import sys

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry = {"time": when.isoformat(), "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        # a field never hides the line's own keys (a field named "message" would replace the message)
        entry.update({k: v for k, v in getattr(record, "fields", {}).items() if k not in entry})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line = f"{when:%Y-%m-%d %H:%M:%S} {record.levelname.lower():7} {record.getMessage()}"
        line += f" {fields}" if fields else ""
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    for name in ("nurture", "apscheduler"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    logging.getLogger("nurture").setLevel(level)
    # A tick that outlasts the interval makes the scheduler skip a run, on purpose (ticks never overlap):
    # that is not worth a warning a second. Its errors still show, in the same format as ours.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)

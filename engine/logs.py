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
        entry.update(getattr(record, "fields", {}))
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
    root = logging.getLogger("nurture")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

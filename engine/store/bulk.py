"""Bulk writes through the driver's executemany: the hot path of ingestion.

SQLAlchemy's per-value type processing costs more than SQLite's insert itself at tens of
thousands of rows a second, so values are converted here once, by column type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.store.models import UTCDateTime


def _converter(column: sa.Column, dialect: str) -> Callable[[Any], Any]:
    if isinstance(column.type, UTCDateTime):
        if dialect == "sqlite":  # the text form SQLAlchemy's SQLite DateTime reads back
            return _sqlite_time
        return lambda v: None if v is None else v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(column.type, sa.JSON):
        return lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode()
    return lambda v: v


def _sqlite_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _placeholder(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                ignore_conflicts_on: str | None = None) -> None:
    """INSERT every row (all with the same keys), optionally skipping existing unique keys."""
    if not rows:
        return
    names = list(rows[0])
    convert = [_converter(table.c[n], conn.dialect.name) for n in names]
    mark = _placeholder(conn)
    sql = (f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(mark for _ in names)})"
           + (f" ON CONFLICT ({ignore_conflicts_on}) DO NOTHING" if ignore_conflicts_on else ""))
    conn.exec_driver_sql(sql, [tuple(f(row[n]) for f, n in zip(convert, names, strict=True)) for row in rows])


def update_many(conn: Connection, table: sa.Table, rows: Iterable[dict[str, Any]], key: str = "id") -> None:
    """UPDATE rows by ``key``; every row carries the same columns."""
    rows = list(rows)
    if not rows:
        return
    names = [n for n in rows[0] if n != key]
    convert = [_converter(table.c[n], conn.dialect.name) for n in names]
    mark = _placeholder(conn)
    sql = f"UPDATE {table.name} SET {', '.join(f'{n} = {mark}' for n in names)} WHERE {key} = {mark}"
    conn.exec_driver_sql(sql, [(*(f(row[n]) for f, n in zip(convert, names, strict=True)), row[key])
                               for row in rows])


def insert_ignoring(conn: Connection, table: sa.Table, rows: list[dict], key: str,
                    returning: sa.Column | None = None) -> list[Any]:
    """Insert rows, skipping those whose ``key`` already exists; returns the inserted keys."""
    if not rows:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).on_conflict_do_nothing(index_elements=[key])
    if returning is None:
        conn.execute(stmt, rows)
        return []
    return list(conn.execute(stmt.returning(returning), rows).scalars())

"""Bulk writes through the driver's executemany: the hot path of ingestion.

SQLAlchemy's per-value type processing costs more than SQLite's insert itself at tens of
thousands of rows a second, so values are converted here once, by column type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.store.models import UTCDateTime


def _converter(column: sa.Column, dialect: str) -> Callable[[Any], Any] | None:
    """How a value of ``column`` is given to the driver (None: as it is)."""
    if isinstance(column.type, UTCDateTime):
        # the text form SQLAlchemy's SQLite DateTime reads back; remembered within one statement,
        # where the same times recur (received_at, updated_at, an event's time on its ledger lines)
        return _memo(_sqlite_time if dialect == "sqlite" else _naive_utc)
    if isinstance(column.type, sa.JSON):
        return _json_text
    return None


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _parameters(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                names: list[str]) -> list[tuple[Any, ...]]:
    """Each row's values of ``names`` in order, converted for the driver where the column needs it."""
    take = itemgetter(*names)
    convert = [(i, f) for i, n in enumerate(names) if (f := _converter(table.c[n], conn.dialect.name)) is not None]
    params: list[list[Any]] = [[take(row)] if len(names) == 1 else list(take(row)) for row in rows]
    for i, f in convert:
        for values in params:
            values[i] = f(values[i])
    return [tuple(values) for values in params]  # the driver API takes tuples


def _memo(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    seen: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = result = convert(value)
            return result
    return converted


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def _sqlite_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _placeholder(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def one_of(conn: Connection, column: str) -> str:
    """SQL for "``column`` is one of the values in one parameter" (see `values_param`): one statement
    whatever the number of values, where an expanding IN (...) is compiled anew for every length."""
    if conn.dialect.name == "sqlite":
        return f"{column} IN (SELECT value FROM json_each(?))"
    return f"{column} = ANY(%s)"


def values_param(conn: Connection, values: Iterable[Any]) -> Any:
    """The parameter `one_of` reads: a JSON array for SQLite, an array for PostgreSQL."""
    if conn.dialect.name == "sqlite":
        return orjson.dumps(list(values)).decode()
    return list(values)


_NAIVE_EPOCH = dt.datetime(1970, 1, 1)


def read_epoch(value: str | dt.datetime | None) -> float | None:
    """A stored UTC time as epoch seconds: SQLite keeps text, PostgreSQL gives a naive datetime."""
    return None if value is None else read_time(value)


def read_time(value: str | dt.datetime) -> float:
    """A stored UTC time of a column that is never NULL, as epoch seconds (see `read_epoch`)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    elif value.tzinfo is not None:  # stored times are UTC: an aware value's wall time is read as UTC
        value = value.replace(tzinfo=None)
    # subtracting the naive epoch is exact and half the cost of attaching UTC and asking for a timestamp
    return (value - _NAIVE_EPOCH).total_seconds()


def read_json(value: Any) -> Any:
    """A stored JSON value: SQLite keeps text, PostgreSQL's driver has decoded it already."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                ignore_conflicts_on: str | None = None, *, update_on_conflict: Sequence[str] = ()) -> None:
    """INSERT every row (all with the same keys), optionally skipping existing unique keys, or, with
    ``update_on_conflict``, setting those columns of the existing row instead (an upsert)."""
    if not rows:
        return
    names = list(rows[0])
    mark = _placeholder(conn)
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(mark for _ in names)})"
    if ignore_conflicts_on:
        sets = ", ".join(f"{n} = excluded.{n}" for n in update_on_conflict)
        sql += f" ON CONFLICT ({ignore_conflicts_on}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
    conn.exec_driver_sql(sql, _parameters(conn, table, rows, names))


def update_many(conn: Connection, table: sa.Table, rows: Iterable[dict[str, Any]], key: str = "id",
                count: str | None = None) -> None:
    """UPDATE rows by ``key``; every row carries the same columns. The column ``count``, if given, goes up by one."""
    rows = list(rows)
    if not rows:
        return
    names = [n for n in rows[0] if n != key]
    mark = _placeholder(conn)
    sets = [f"{n} = {mark}" for n in names] + ([f"{count} = {count} + 1"] if count else [])
    sql = f"UPDATE {table.name} SET {', '.join(sets)} WHERE {key} = {mark}"
    conn.exec_driver_sql(sql, _parameters(conn, table, rows, [*names, key]))


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

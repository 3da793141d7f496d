"""How a CRM export's columns and values become a lead's fields: renamed columns, ignored ones, placeholder
values that mean "no value", and dates in the export's own format.

A mapping file (TOML) holds what a team reuses for every export of one system:

    [columns]
    "E-mail Address" = "email"
    "Lead Source" = "lead_source"
    "Internal Notes" = ""          # an empty name drops the column

    [values]
    missing = ["Select", "N/A", "-"]

    [dates]
    format = "%d-%m-%Y"

The command line's `--map`, `--ignore-unknown` and `--date-format` add to it or override it.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dsl import ast as a
from engine.errors import ConfigError
from engine.ingest.rows import Row

#: the columns a lead row needs, after mapping
LEAD_REQUIRED = ("email",)


@dataclass(frozen=True)
class ColumnMapping:
    #: source column -> field name ("" drops the column)
    columns: dict[str, str] = field(default_factory=dict)
    #: values that mean "no value", compared without case and surrounding spaces
    missing: frozenset[str] = frozenset()
    #: how dates are written in the file (strptime), for attributes of type date
    date_format: str | None = None
    #: drop columns no attribute is declared for, instead of refusing each row
    ignore_unknown: bool = False

    @classmethod
    def from_file(cls, path: Path) -> ColumnMapping:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"cannot read the mapping file {path}: {err}") from None
        columns = data.get("columns", {})
        missing = data.get("values", {}).get("missing", [])
        date_format = data.get("dates", {}).get("format")
        if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
            raise ConfigError(f"{path}: [columns] maps a column name to a field name, e.g. \"Lead Source\" = "
                              "\"lead_source\"")
        if not isinstance(missing, list) or not all(isinstance(v, str) for v in missing):
            raise ConfigError(f"{path}: [values] missing is a list of texts, e.g. missing = [\"Select\", \"N/A\"]")
        if date_format is not None and not isinstance(date_format, str):
            raise ConfigError(f"{path}: [dates] format is a text, e.g. format = \"%d-%m-%Y\"")
        return cls(dict(columns), frozenset(v.strip().lower() for v in missing), date_format,
                   bool(data.get("ignore_unknown", False)))

    def overridden(self, pairs: Iterable[str], *, ignore_unknown: bool, date_format: str | None) -> ColumnMapping:
        """This mapping with the command line's `--map "Column=field"` pairs and flags on top."""
        columns = dict(self.columns)
        for pair in pairs:
            source, sep, target = pair.partition("=")
            if not sep or not source.strip():
                raise ConfigError(f"--map {pair!r}: write it as \"Column in the file=field\", e.g. "
                                  "--map \"Lead Source=lead_source\"")
            columns[source.strip()] = target.strip()
        return replace(self, columns=columns, ignore_unknown=self.ignore_unknown or ignore_unknown,
                       date_format=date_format or self.date_format)

    def header_problem(self, header: list[str], required: Iterable[str] = LEAD_REQUIRED) -> str | None:
        """Why no row under ``header`` can be read, said once: a required column missing after mapping."""
        mapped = {self.columns.get(name, name) for name in header}
        absent = [name for name in required if name not in mapped]
        if not absent:
            return None
        found = ", ".join(f"`{name}`" for name in header) or "none"
        return (f"the header has no {', '.join(f'`{n}`' for n in absent)} column (columns found: {found}); name the "
                f"column that holds it, e.g. --map \"E-mail Address={absent[0]}\". Nothing was read from this file")

    def apply(self, rows: Iterable[Row], attributes: dict[str, a.TypeRef]) -> Iterator[Row]:
        """The rows with their columns renamed and dropped, placeholders removed and dates rewritten."""
        for row in rows:
            if row.data is None:
                yield row
                continue
            yield Row(row.line, row.raw, self._fields(row.data, attributes), row.error)

    def _fields(self, data: dict[str, Any], attributes: dict[str, a.TypeRef]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for column, value in data.items():
            name = self.columns.get(column, column)
            if not name:
                continue
            if self.ignore_unknown and name not in attributes and name not in ("email", "owner"):
                continue
            if isinstance(value, str) and value.strip().lower() in self.missing:
                continue  # "Select", "N/A": no value, not a value
            ref = attributes.get(name)
            if self.date_format and ref is not None and ref.name == "date" and isinstance(value, str):
                value = _date(value, self.date_format)
            fields[name] = value
        return fields


def _date(text: str, date_format: str) -> str:
    """``text`` as an ISO date when it reads in ``date_format``; else as it is, for validation to refuse."""
    try:
        return dt.datetime.strptime(text.strip(), date_format).date().isoformat()
    except ValueError:
        return text

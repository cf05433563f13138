"""The one CSV writer every export goes through.

Files are UTF-8 with a byte-order mark (so spreadsheet programs detect the
encoding), have a header row, end lines with CRLF and have an "As of (UTC)" last
column naming the sync the data comes from (the same on every row). Cells:

- times are ISO 8601 in UTC to the second (`2026-12-03T06:00:00Z`; a time
  without a zone is UTC, as every connection reads), dates ISO 8601 calendar days
  (`2026-12-03`);
- text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
  `@`, a tab or a carriage return) gets a leading `'`, header cells and the as-of
  value included;
- lists are joined with "; " (missing items left out), then treated as text;
- booleans are `true` and `false`; integers are written as they are, floats in
  their shortest round-trip form, as Python writes them (`0.1`, `1.0`, `1e-07`,
  `1e+20`, `-0.0`, `inf`; single-precision floats at their own precision);
- None, NaN, NA, NaT and empty text are blank;
- a cell holding a comma, a double quote or a line break is quoted, its quotes
  doubled, as Python's csv module writes it.

DuckDB writes the rows (`COPY ... TO`), each column rendered by an SQL expression
chosen by its type. Rows come either as a pandas DataFrame (`build_csv`,
`write_csv`), whose Python-object columns (lists, dates, mixed types) are
rendered in Python (`safe_cell`) first, or as a query on an open connection
(`write_query_csv`); both give the same bytes for the same values.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

AS_OF_COLUMN = "As of (UTC)"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTES = (",", '"', "\r", "\n")
_BOM = b"\xef\xbb\xbf"
_LINE_END = "\r\n"
# Every cell is rendered, and quoted where it needs it, before DuckDB writes it,
# so DuckDB's own quoting is off.
_COPY_OPTIONS = "format csv, header false, quote '', escape '', new_line '\r\n'"
_TIME = "'%Y-%m-%dT%H:%M:%SZ'"
# How DuckDB renders a column of each type as its cell text ({c}: the column);
# text, lists and every other type are rendered as text (`_as_text`).
_RENDERINGS = {
    "boolean": "case when {c} then 'true' when not {c} then 'false' end",
    "float": "case when not isnan({c}) then cast({c} as varchar) end",
    "double": "case when not isnan({c}) then cast({c} as varchar) end",
    "timestamp with time zone": f"strftime(timezone('UTC', {{c}}), {_TIME})",
    "date": "strftime({c}, '%Y-%m-%d')",
    **dict.fromkeys(
        ["tinyint", "smallint", "integer", "bigint", "hugeint", "decimal",
         "utinyint", "usmallint", "uinteger", "ubigint", "uhugeint"],
        "cast({c} as varchar)",
    ),
    **dict.fromkeys(
        ["timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns"],
        f"strftime({{c}}, {_TIME})",
    ),
}  # fmt: skip
# pandas columns DuckDB reads as typed values; any other column is rendered in
# Python, value by value.
_TYPED_KINDS = "biufM"
_NULLABLE_DTYPES = (
    pd.BooleanDtype,
    pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype,
    pd.UInt8Dtype, pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype,
    pd.Float32Dtype, pd.Float64Dtype,
    pd.StringDtype, pd.DatetimeTZDtype,
)  # fmt: skip


def calendar_days(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its DuckDB DATE columns as calendar days.

    pandas receives DATE columns as times at midnight without a zone, which
    would be written as times. Every moment the store keeps is TIMESTAMPTZ and
    reaches pandas with its zone, so a column of zone-less times read from the
    store is a column of dates.
    """
    days = {
        name: frame[name].dt.date
        for name in frame.columns
        if pd.api.types.is_datetime64_dtype(frame[name])
        and not isinstance(frame[name].dtype, pd.DatetimeTZDtype)
    }
    return frame.assign(**days) if days else frame


def build_csv(rows, columns: list[str], as_of: str) -> bytes:
    """Return the CSV document for `rows` as bytes (for download buttons).

    Args:
        rows: a DataFrame whose column names are the header names, or dicts
            keyed by them; columns or keys missing are blank.
        columns: header names, in order.
        as_of: which sync the data comes from, e.g. "sync 12 finished
            2026-12-03T06:00:00Z".
    """
    with _body_file() as body:
        _copy_frame(rows, columns, as_of, body)
        return _BOM + _header_line(columns).encode() + Path(body).read_bytes()


def write_csv(path: Path, rows, columns: list[str], as_of: str) -> int:
    """Write the CSV document for `rows` to `path`; return the number of rows.

    Args:
        path: the file to write (replaced if it exists).
        rows, columns, as_of: as `build_csv`.

    Raises:
        OSError: `path` cannot be written (raised before any row is rendered).
    """
    with Path(path).open("wb") as handle, _body_file() as body:
        count = _copy_frame(rows, columns, as_of, body)
        _assemble(handle, columns, body)
    log.info("wrote %d rows to %s", count, path)
    return count


def write_query_csv(
    con, query: str, params, columns: dict[str, str], as_of: str, path: Path
) -> int:
    """Write the rows of `query` to `path` as the CSV document; return their number.

    Args:
        con: an open DuckDB connection to run the query on.
        query: one SELECT statement; its order is the file's.
        params: the query's parameters (a dict for `$name`), or None.
        columns: the query's columns to write, in order, with their header names.
        as_of: as `build_csv`.

    Raises:
        OSError: `path` cannot be written (raised before the query runs).
    """
    query = query.strip().rstrip(";")
    with Path(path).open("wb") as handle, _body_file() as body:
        count = _copy(con, query, params, list(columns), as_of, body)
        _assemble(handle, list(columns.values()), body)
    log.info("wrote %d rows to %s", count, path)
    return count


def safe_cell(value):
    """The value as a spreadsheet should show it: formulas neutralised as text,
    times and dates in ISO 8601, lists joined, blanks for missing values;
    numbers stay numbers."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Number):
        return "" if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "tolist"):
        value = value.tolist()  # arrays from DuckDB list columns
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value if v is not None)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _cell_text(value) -> str:
    """The text of the cell holding `value`, before quoting ("" for blank)."""
    cell = safe_cell(value)
    return repr(float(cell)) if isinstance(cell, float) else str(cell)


def timestamp(moment: datetime) -> str:
    """A moment as every CSV writes it: ISO 8601 in UTC, to the second."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header_line(columns: list[str]) -> str:
    """The header row, As-of column included, with its line end."""
    cells = [_quoted(_cell_text(c)) for c in [*columns, AS_OF_COLUMN]]
    return ",".join(cells) + _LINE_END


def _quoted(text: str) -> str:
    """`text` as a CSV field: in double quotes (doubled inside) when it holds a
    comma, a double quote or a line break."""
    if any(mark in text for mark in _NEEDS_QUOTES):
        return '"' + text.replace('"', '""') + '"'
    return text


# Rows from a DataFrame or dicts


def _copy_frame(rows, columns: list[str], as_of: str, body: str) -> int:
    frame, texts = _frame(rows, columns)
    con = duckdb.connect()
    try:
        con.register("csv_rows", frame)
        names = list(frame.columns)
        return _copy(con, "select * from csv_rows", None, names, as_of, body, texts)
    finally:
        con.close()


def _frame(rows, columns: list[str]) -> tuple[pd.DataFrame, set[str]]:
    """The columns to write, named c0, c1, ...; those DuckDB cannot read as typed
    values are rendered here (their names are returned as the second item)."""
    if not isinstance(rows, pd.DataFrame):
        rows = _records_frame(rows, columns)
    index = pd.RangeIndex(len(rows))
    known = list(rows.columns)
    cells, texts = {}, set()
    for number, header in enumerate(columns):
        name = f"c{number}"
        if header not in known:
            cells[name] = pd.Series(None, index=index, dtype="str")
            continue
        values = rows.iloc[:, known.index(header)]  # the first of that name
        if _typed(values.dtype):
            cells[name] = pd.Series(values.array, index=index)
        else:
            cells[name] = pd.Series(_texts(values), index=index, dtype="str")
            texts.add(name)
    return pd.DataFrame(cells, index=index), texts


def _records_frame(rows: Iterable[dict], columns: list[str]) -> pd.DataFrame:
    records = list(rows)
    values = {c: pd.Series([r.get(c) for r in records], dtype=object) for c in columns}
    return pd.DataFrame(values, index=pd.RangeIndex(len(records)))


def _typed(dtype) -> bool:
    if isinstance(dtype, _NULLABLE_DTYPES):
        return True
    return (
        isinstance(dtype, np.dtype)
        and dtype.kind in _TYPED_KINDS
        and (dtype != np.float16)
    )


def _texts(values: pd.Series) -> list[str | None]:
    return [_cell_text(v) or None for v in values]


# Rendering and writing in DuckDB


def _copy(con, query, params, names, as_of, body, texts=frozenset()) -> int:
    """COPY the rows of `query` to the file `body`, each column in `names`
    rendered by its type (those in `texts` are rendered already), the as-of
    value last; return the number of rows."""
    types = _column_types(con, query, params)
    missing = [n for n in names if n not in types]
    if missing:
        raise ValueError(
            f"The query has no column {missing[0]!r}: name its columns as the "
            "query spells them."
        )
    cells, fields = [], []
    for number, name in enumerate(names):
        if name in texts:
            cells.append(f"{_ident(name)} as c{number}")
            fields.append(_quoting(f"c{number}"))
        elif types[name].id in _RENDERINGS:
            rendering = _RENDERINGS[types[name].id].format(c=_ident(name))
            cells.append(f"{rendering} as c{number}")
            fields.append(f"c{number}")
        else:
            cells.append(f"{_as_text(_ident(name), types[name])} as c{number}")
            fields.append(_quoting(f"c{number}"))
    fields.append(_literal(_quoted(_cell_text(as_of))))
    rendered = f"select {', '.join(cells) or 'null'} from ({query})"
    statement = (
        f"copy (select {', '.join(fields)} from ({rendered})) "
        f"to {_literal(body)} ({_COPY_OPTIONS})"
    )
    return int(con.execute(statement, params).fetchone()[0])


def _column_types(con, query: str, params) -> dict:
    relation = con.sql(query, params=params) if params else con.sql(query)
    return dict(zip(relation.columns, relation.types, strict=True))


def _as_text(column: str, kind) -> str:
    """SQL for a column's value as text, lists joined, formulas neutralised."""
    if kind.id in ("list", "array"):
        items = f"list_transform({column}, lambda item: cast(item as varchar))"
        return _neutralised(f"array_to_string({items}, '; ')")
    return _neutralised(f"cast({column} as varchar)")


def _neutralised(text: str) -> str:
    starts = ", ".join(_literal(s) for s in _FORMULA_STARTS)
    return (
        f"case when {text} = '' then null "
        f"when left({text}, 1) in ({starts}) then '''' || {text} else {text} end"
    )


def _quoting(text: str) -> str:
    return (
        f"case when regexp_matches({text}, '[,\"\\r\\n]') "
        f"then '\"' || replace({text}, '\"', '\"\"') || '\"' else {text} end"
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'" if text else "null"


# Files


@contextmanager
def _body_file() -> Iterator[str]:
    """A temporary file for DuckDB to write the rows to, removed afterwards."""
    handle, name = tempfile.mkstemp(prefix="tvm-csv-", suffix=".csv")
    os.close(handle)
    try:
        yield name
    finally:
        Path(name).unlink(missing_ok=True)


def _assemble(handle, columns: list[str], body: str) -> None:
    handle.write(_BOM + _header_line(columns).encode())
    with open(body, "rb") as rows:
        shutil.copyfileobj(rows, handle, 1 << 20)

"""The shared CSV writer: every documented cell rule, checked by reading the
files back with Python's csv module, and the same bytes whether the rows come as
a DataFrame, as dicts or from a query."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from tvmdata import csvout

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = b"\xef\xbb\xbf"

texts = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.text("=+-@\t\r\n\",' ;aé✓", max_size=6),
)
zones = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
EARLIEST, LATEST = datetime(1900, 1, 1), datetime(2200, 1, 1)
# Each kind of column: its values, the pandas dtype of its column (object for
# Python objects) and its DuckDB type.
KINDS = {
    "text": (texts, "str", "varchar"),
    "int": (st.integers(-(2**63), 2**63 - 1), "Int64", "bigint"),
    "float": (st.floats(), "float64", "double"),
    "bool": (st.booleans(), "boolean", "boolean"),
    "naive time": (st.datetimes(EARLIEST, LATEST), "datetime64[us]", "timestamp"),
    "aware time": (
        st.datetimes(EARLIEST, LATEST, timezones=zones),
        "datetime64[us, UTC]",
        "timestamptz",
    ),
    "date": (st.dates(date(1000, 1, 1)), object, "date"),
    "list": (st.lists(texts, max_size=4), object, "varchar[]"),
}
ANYTHING = st.one_of(*(values for values, _, _ in KINDS.values()))


def expected(value) -> str:
    """The cell text the writer documents for `value`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        value = "; ".join(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


@st.composite
def tables(draw, kinds=tuple(KINDS), mixed=True):
    """(columns as (header, kind, values), as-of text); "mixed" columns hold
    values of every kind in one column."""
    count = draw(st.integers(0, 5))
    chosen = draw(st.lists(st.sampled_from(kinds + ("mixed",) * mixed), min_size=1))
    width = len(chosen)
    headers = draw(st.lists(texts, min_size=width, max_size=width, unique=True))
    columns = []
    for header, kind in zip(headers, chosen, strict=True):
        values = ANYTHING if kind == "mixed" else KINDS[kind][0]
        cells = st.lists(st.none() | values, min_size=count, max_size=count)
        columns.append((header, kind, draw(cells)))
    return columns, draw(texts)


def frame_of(columns) -> pd.DataFrame:
    """The DataFrame a query would give: a typed column per kind."""
    count = len(columns[0][2])
    series = {}
    for header, kind, values in columns:
        dtype = object if kind == "mixed" else KINDS[kind][1]
        if kind == "float":
            values = [math.nan if v is None else v for v in values]
        if kind == "aware time":
            values = [v and v.astimezone(UTC) for v in values]
        series[header] = pd.Series(values, dtype=dtype)
    # An index that is not 0, 1, 2, ...: as after filtering.
    return pd.DataFrame(series).set_axis(range(count * 2, 0, -2))


def records_of(columns) -> list[dict]:
    count = len(columns[0][2])
    return [{h: values[i] for h, _, values in columns} for i in range(count)]


def python_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return BOM + buffer.getvalue().encode()


def read_back(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM)
    return list(csv.reader(io.StringIO(data[len(BOM) :].decode(), newline="")))


def documented_rows(columns, as_of) -> list[list[str]]:
    header = [expected(h) for h, _, _ in columns] + [csvout.AS_OF_COLUMN]
    records = records_of(columns)
    cells = [[expected(r[h]) for h, _, _ in columns] for r in records]
    return [header, *(row + [expected(as_of)] for row in cells)]


MANY = examples(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@MANY
@given(tables())
def test_every_cell_reads_back_as_documented(table):
    columns, as_of = table
    headers = [h for h, _, _ in columns]

    written = csvout.build_csv(frame_of(columns), headers, as_of)

    assert read_back(written) == documented_rows(columns, as_of)
    # Byte for byte as Python's csv module writes those cells: quotes only
    # where needed, CRLF line ends.
    assert written == python_csv(documented_rows(columns, as_of))


@MANY
@given(tables())
def test_dicts_and_a_dataframe_of_the_same_rows_give_the_same_bytes(table):
    columns, as_of = table
    headers = [h for h, _, _ in columns]

    from_dicts = csvout.build_csv(records_of(columns), headers, as_of)

    assert from_dicts == csvout.build_csv(frame_of(columns), headers, as_of)


@MANY
@given(table=tables(kinds=tuple(KINDS), mixed=False))
def test_a_query_and_a_dataframe_of_the_same_rows_give_the_same_bytes(
    table, tmp_path_factory
):
    columns, as_of = table
    folder = tmp_path_factory.mktemp("csv")
    names = {f"c{i}": header for i, (header, _, _) in enumerate(columns)}
    con = duckdb.connect()
    typed = ", ".join(f"c{i} {KINDS[k][2]}" for i, (_, k, _) in enumerate(columns))
    con.execute(f"create table t (n integer, {typed})")
    rows = [[n, *r.values()] for n, r in enumerate(records_of(columns))]
    if rows:
        con.executemany(f"insert into t values ({', '.join('?' * len(rows[0]))})", rows)

    queried = csvout.write_query_csv(
        con, "select * from t order by n", None, names, as_of, folder / "q.csv"
    )
    headers = list(names.values())
    framed = csvout.write_csv(folder / "f.csv", frame_of(columns), headers, as_of)

    assert queried == framed == len(rows)
    assert (folder / "q.csv").read_bytes() == (folder / "f.csv").read_bytes()


def test_floats_are_written_as_python_writes_them():
    values = [0.1, 1.0, 1e-7, 1e16, 1e15, -0.0, math.inf, -math.inf, 1 / 3, 2.5e-300]
    frame = pd.DataFrame({"x": values})

    rows = read_back(csvout.build_csv(frame, ["x"], "now"))

    assert [r[0] for r in rows[1:]] == [repr(v) for v in values]
    assert [r[0] for r in rows[1:]][:6] == ["0.1", "1.0", "1e-07", "1e+16",
                                            "1000000000000000.0", "-0.0"]  # fmt: skip


def test_single_precision_floats_keep_their_own_precision():
    frame = pd.DataFrame({"x": np.array([0.1, 2.5], dtype=np.float32)})
    records = [{"x": np.float32(0.1)}, {"x": np.float32(2.5)}]

    from_frame = read_back(csvout.build_csv(frame, ["x"], "now"))

    assert [r[0] for r in from_frame[1:]] == ["0.1", "2.5"]
    assert csvout.build_csv(records, ["x"], "now") == csvout.build_csv(
        frame, ["x"], "now"
    )


def test_columns_pandas_retypes_keep_their_values():
    frame = pd.DataFrame(
        {
            "nothing": pd.Series([None, None], dtype=object),
            "counts": pd.array([3, None], dtype="Int64"),
            "mixed": pd.Series([7, "=7"], dtype=object),
            "flags": pd.Series([np.True_, None], dtype=object),
            "days": pd.Series([date(2026, 12, 3), pd.NaT], dtype=object),
            "paris": pd.to_datetime(["2026-12-03 07:00"])
            .tz_localize("Europe/Paris")
            .repeat(2),
        }
    )

    rows = read_back(csvout.build_csv(frame, [*frame.columns, "absent"], "x"))

    assert rows[1:] == [
        ["", "3", "7", "true", "2026-12-03", "2026-12-03T06:00:00Z", "", "x"],
        ["", "", "'=7", "", "", "2026-12-03T06:00:00Z", "", "x"],
    ]


def test_a_file_that_cannot_be_written_fails_before_any_row_is_rendered(tmp_path):
    with pytest.raises(IsADirectoryError):
        csvout.write_csv(tmp_path, [{"a": 1}], ["a"], "x")
    with pytest.raises(FileNotFoundError):
        csvout.write_csv(tmp_path / "no" / "a.csv", [{"a": 1}], ["a"], "x")

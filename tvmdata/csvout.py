"""The one CSV writer every export goes through.

Files are UTF-8 with a byte-order mark (so spreadsheet programs detect the
encoding), have a header row and an "As of (UTC)" column naming the sync the data
comes from. Times are ISO 8601 in UTC (`2026-12-03T06:00:00Z`; a time without a
zone is UTC, as every connection reads), dates ISO 8601 calendar days
(`2026-12-03`). Text that a spreadsheet would run as a formula (starting with
`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`; numbers are
written as they are.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import numbers
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

log = logging.getLogger(__name__)

AS_OF_COLUMN = "As of (UTC)"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def build_csv(rows: Iterable[dict], columns: list[str], as_of: str) -> bytes:
    """Return the CSV document for `rows` as bytes (for download buttons).

    Args:
        rows: dicts keyed by column name (a DataFrame's `to_dict("records")`).
        columns: header names, in order; keys missing from a row are blank.
        as_of: which sync the data comes from, e.g. "sync 12, 2026-12-03 06:00".
    """
    buffer = io.StringIO()
    _write(buffer, rows, columns, as_of)
    return buffer.getvalue().encode("utf-8-sig")


def write_csv(path: Path, rows: Iterable[dict], columns: list[str], as_of: str) -> int:
    """Write the CSV document to `path`; return the number of data rows."""
    with Path(path).open("w", encoding="utf-8-sig", newline="") as handle:
        count = _write(handle, rows, columns, as_of)
    log.info("wrote %d rows to %s", count, path)
    return count


def safe_cell(value):
    """The value as a spreadsheet should show it: formulas neutralised as text."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Number):
        return "" if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "tolist") and not isinstance(value, numbers.Number):
        value = value.tolist()  # arrays from DuckDB list columns
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def timestamp(moment: datetime) -> str:
    """A moment as every CSV writes it: ISO 8601 in UTC, to the second."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write(handle, rows: Iterable[dict], columns: list[str], as_of: str) -> int:
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in [*columns, AS_OF_COLUMN]])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns] + [safe_cell(as_of)])
        count += 1
    return count

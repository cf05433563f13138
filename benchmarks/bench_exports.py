"""Benchmark pieces: the CSV exports of `tvmdata.exports` next to DuckDB's
`COPY ... TO` of the same rows (the same named query, the same parameters),
each the median of several runs."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from tvmdata import exports, store

EVERY_ACTIVITY = {
    "status": None,
    "priorities": None,
    "types": None,
    "sources": None,
    "groups": None,
    "created_by": None,
    "due_from": None,
    "due_to": None,
    "overdue_only": False,
    "search": None,
}


def measure_exports(settings, targets: dict, folder: Path) -> list[dict]:
    """Both exports the command line offers, each beside `COPY` of its rows."""
    activity_id = targets["activity_id"]
    today = datetime.now(UTC).date()
    return [
        _compare(
            "Devices of the largest activity",
            lambda out: exports.export_devices(settings, activity_id, out),
            settings,
            "activity_devices",
            {"activity_id": activity_id},
            folder,
        ),
        _compare(
            "All activities",
            lambda out: exports.export_activities(settings, out),
            settings,
            "filtered_activities",
            {**EVERY_ACTIVITY, "today": today},
            folder,
        ),
    ]


# Each side runs this many times, alternating; the medians are compared, since
# a single run of a twentieth of a second is at the mercy of the machine's load.
REPEATS = 5


def _compare(label, export, settings, query, params, folder: Path) -> dict:
    out, copied = folder / "export.csv", folder / "copy.csv"
    export_times, copy_times = [], []
    for _ in range(REPEATS):
        rows, seconds = _timed(lambda: export(out))
        export_times.append(seconds)
        copy_rows, seconds = _timed(lambda: copy_query(settings, query, params, copied))
        copy_times.append(seconds)
    export_seconds = statistics.median(export_times)
    copy_seconds = statistics.median(copy_times)
    export_mb = out.stat().st_size / 2**20
    return {
        "label": label,
        "rows": rows,
        "export_seconds": export_seconds,
        "export_mb": export_mb,
        "copy_rows": copy_rows,
        "copy_seconds": copy_seconds,
        "ratio": export_seconds / copy_seconds,
    }


def _timed(call) -> tuple:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def copy_query(settings, query: str, params: dict, out: Path) -> int:
    """`COPY (<named query>) TO out` on a connection opened as exports open one
    (with the read macros the views use); returns the rows written."""
    select = store.sql(query).strip().rstrip(";")
    target = str(out).replace("'", "''")
    with store.open_store(settings) as con:
        store.run_script(con, "read_macros")
        found = con.execute(
            f"copy ({select}) to '{target}' (header, delimiter ',')", params
        ).fetchone()
    return int(found[0])

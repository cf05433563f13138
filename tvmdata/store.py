"""The DuckDB store: one file per tenant, opened per operation and closed at once.

DuckDB lets only one process hold a file while another holds it in a conflicting
mode, and the sync runs as its own process while the dashboard is open. So every
operation here opens the file, works and closes it, always in the same
(read-write) mode, and a locked file is retried with back-off for
`lock_wait_seconds` before `DatabaseLocked` is raised.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb

from tvmdata import csvout
from tvmdata.errors import DatabaseLocked, StoreError, TenantMismatch

log = logging.getLogger(__name__)

QUERIES_DIR = Path(__file__).resolve().parent.parent / "queries"
# Each schema version and the scripts that bring a file to it, in order.
MIGRATIONS = [
    (1, ("schema_v1",)),
    (2, ("schema_v2",)),
    (3, ("schema_v3",)),
    (4, ("schema_v4", "exposure_to_link_all", "link_exposure")),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
_LOCK_MESSAGES = ("could not set lock", "conflicting lock")
_PARAM = re.compile(r"\$([a-z_]+)")
# Re-entrant: an operation may read a setting through a nested connection.
_IN_PROCESS = threading.RLock()


@cache
def sql(name: str) -> str:
    """Return the text of the named query in `queries/<name>.sql`."""
    path = QUERIES_DIR / f"{name}.sql"
    if not path.is_file():
        raise StoreError(f"The query file {path} is missing: reinstall the project.")
    return path.read_text(encoding="utf-8")


def open_store(settings):
    """`connect` with a deployment's settings: its database file, lock wait and
    DuckDB memory limit."""
    return connect(settings.db, settings.lock_wait_seconds, settings.memory_limit_mb)


@contextmanager
def connect(
    db_path: Path, lock_wait_seconds: float = 30, memory_limit_mb: int | None = None
):
    """Open the store for one operation, migrated to the current schema.

    Yields a DuckDB connection set to UTC; closes it on exit. With
    `memory_limit_mb`, DuckDB keeps its working memory under it and spills the
    rest to a temporary folder beside the file (without it, DuckDB allows
    itself 80% of the machine's memory). Raises
    `DatabaseLocked` when another process keeps the file longer than the wait,
    `StoreError` when the file is not a usable store.

    Operations in one process take turns: the dashboard serves every session
    from one process, and two of its connections writing the same rows at once
    would fail each other ("Conflict on update") instead of waiting.
    """
    with _IN_PROCESS:
        con = _open(Path(db_path), lock_wait_seconds)
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute("set enable_progress_bar = false")
            if memory_limit_mb:
                con.execute(f"set memory_limit = '{int(memory_limit_mb)}MB'")
            _migrate(con, Path(db_path))
            yield con
        finally:
            con.close()


@contextmanager
def transaction(con):
    """Run a block in one transaction: all of it lands, or none of it."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def run_script(con, name: str, params: dict | None = None) -> None:
    """Run each statement of a named script, binding the `$name` values it uses."""
    params = params or {}
    for statement in _statements(sql(name)):
        used = {key: params[key] for key in _PARAM.findall(statement)}
        con.execute(statement, used or None)


def _statements(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def fetch_dicts(con, name: str, params: dict | list | None = None) -> list[dict]:
    """Run a named query and return its rows as dicts."""
    cursor = con.execute(sql(name), params or [])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def fetch_frame(con, name: str, params: dict | list | None = None):
    """Run a named query and return a pandas DataFrame."""
    return con.execute(sql(name), params or []).df()


def check_tenant(con, tenant_id: str, now) -> None:
    """Record the tenant in a new file; refuse a file that holds another tenant."""
    row = con.execute("select tenant_id from tenant").fetchone()
    if row is None:
        con.execute("insert into tenant values (?, ?)", [tenant_id, now])
    elif row[0] != tenant_id:
        raise TenantMismatch(
            f"This database holds tenant {row[0]}, not {tenant_id}: point TVM_DB "
            "at another file for this tenant."
        )


def _open(db_path: Path, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(db_path))
        except duckdb.IOException as exc:
            message = str(exc).lower()
            if not any(m in message for m in _LOCK_MESSAGES):
                raise _unusable(db_path, exc) from None
            if time.monotonic() >= deadline:
                raise DatabaseLocked(
                    f"The database {db_path} stayed locked for {wait_seconds:.0f} s "
                    f"({_holder(exc)}): try again when that process is done, or "
                    "raise TVM_LOCK_WAIT_SECONDS."
                ) from None
        except duckdb.Error as exc:
            raise _unusable(db_path, exc) from None
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _holder(exc: Exception) -> str:
    # DuckDB's message names the process holding the file: keep that part.
    text = str(exc)
    start = text.lower().find("conflicting lock is held in")
    return text[start:].rstrip(". ") if start >= 0 else "held by another process"


def _unusable(db_path: Path, exc: Exception) -> StoreError:
    return StoreError(
        f"{db_path} cannot be opened as a dashboard database ({exc}): move it "
        "away or point TVM_DB at another file."
    )


def _migrate(con, db_path: Path) -> None:
    version = _current_version(con)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{db_path} was written by a newer version (schema {version}, this "
            f"version knows {SCHEMA_VERSION}): upgrade the dashboard."
        )
    pending = [(v, scripts) for v, scripts in MIGRATIONS if v > version]
    if not pending:
        return
    if version == 0 and _has_foreign_tables(con):
        raise StoreError(
            f"{db_path} is a DuckDB file of another application: point TVM_DB "
            "at a new file."
        )
    with transaction(con):
        for number, scripts in pending:
            for name in scripts:
                con.execute(sql(name))
            con.execute("insert into schema_version values (?, now())", [number])
            log.info("migrated %s to schema %d", db_path, number)


def _current_version(con) -> int:
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute(
        "select coalesce(max(version), 0) from schema_version"
    ).fetchone()[0]


def _has_foreign_tables(con) -> bool:
    count = con.execute("select count(*) from information_schema.tables").fetchone()[0]
    return count > 0


# Typed reads and user writes. Each opens the file for one operation.


def load_activities(settings, status=None, priority=None, groups=None, today=None):
    """Remediation activities as a DataFrame, optionally filtered.

    Args:
        settings: deployment settings (database path and lock wait).
        status: "Active" or "Completed"; None for all.
        priority: "High", "Medium" or "Low"; None for all.
        groups: device-group names; an activity matches when it covers any.
        today: the UTC date overdue is judged against (default: today in UTC).
    """
    params = {
        "status": status,
        "priority": priority,
        "groups": groups or None,
        "today": today or datetime.now(UTC).date(),
    }
    with open_store(settings) as con:
        return fetch_frame(con, "activity_list", params)


def load_activity_devices(settings, activity_id: str):
    """The devices an activity lists as exposed, as a DataFrame.

    Raises:
        StoreError: no activity has this id.
    """
    with open_store(settings) as con:
        require_activity(con, activity_id)
        return fetch_frame(con, "activity_devices", {"activity_id": activity_id})


def require_activity(con, activity_id: str) -> None:
    """Raise `StoreError` naming the id when no activity has it."""
    found = con.execute(sql("activity_exists"), {"activity_id": activity_id})
    if not found.fetchone()[0]:
        raise StoreError(
            f"No remediation activity has the id {activity_id!r}: copy the id "
            "from the activity list (export activities)."
        )


def load_sync_status(settings) -> dict:
    """The last successful run (id and finish time) and the very last run."""
    with open_store(settings) as con:
        status = fetch_dicts(con, "latest_sync")[0]
        last = fetch_dicts(con, "sync_run", {"run_id": status["last_id"]})
    status["last_run"] = last[0] if last else None
    return status


def describe_as_of(status: dict) -> str:
    """One line saying which sync the data comes from, for exports and pages."""
    if status.get("succeeded_id") is None:
        return "no successful sync yet"
    finished = csvout.timestamp(status["succeeded_at"])
    return f"sync {status['succeeded_id']} finished {finished}"


def mark_completed(settings, activity_id: str, completed_by: str, when, note=None):
    """Record that a user marked an activity complete (kept apart from Defender's
    own record, which the sync owns), with its audit-log entry."""
    params = {
        "activity_id": activity_id,
        "completed_by": completed_by,
        "completed_at": when,
        "note": note,
    }
    entry = {
        "logged_at": when,
        "actor": completed_by,
        "action": "activity marked complete",
        "object_id": activity_id,
        "before": None,
        "after": json.dumps({"status": "Completed", "note": note}),
    }
    with open_store(settings) as con:
        with transaction(con):
            run_script(con, "mark_completed", params)
            run_script(con, "audit_insert", entry)
    log.info("activity %s marked complete", activity_id)

"""The sync: Defender's remediation data into the DuckDB store, with history.

A run fetches everything into a staging area on disk first (see `staging`), then
merges it into the database in one transaction. A failure before the merge leaves
the data exactly as it was and records the run as failed with its reason. One run
at a time: a lock file beside the database is both the guard and the "sync in
progress" flag the dashboard shows.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from tvmdata import intune, records, store
from tvmdata.client import connect_defender
from tvmdata.clock import SYSTEM_CLOCK
from tvmdata.errors import (
    StoreError,
    SyncAlreadyRunning,
    SyncFailed,
    TvmError,
    is_disk_full,
)
from tvmdata.staging import StagingArea

log = logging.getLogger(__name__)

# Recommendations merge before activities: activities filed from this
# dashboard are tracked through their recommendation's exposed-device list.
MERGE_SCRIPTS = [
    "merge_machines",
    "merge_recommendations",
    "merge_activities",
    "link_recommendations",
    "track_requests",
    "merge_exposure",
    "finish_requests",
    "exposure_to_link_fetched",
    "link_exposure",
    "record_history",
]
# Staged file -> the store table whose column types it is read with.
STAGED = {
    "machines": ("machines", records.normalize_machine({"id": "x"})),
    "activities": ("activities", records.normalize_task({"id": "x"})),
    "recommendations": (
        "recommendations",
        records.normalize_recommendation({"id": "x"}),
    ),
    "activity_devices": (
        "activity_devices",
        records.normalize_device_ref({"id": "x"}, "p"),
    ),
    "recommendation_devices": (
        "recommendation_devices",
        records.normalize_device_ref({"id": "x"}, "p"),
    ),
}
# Tests set this to a file path to hold a run inside its merge transaction.
PAUSE_ENV = "TVM_TEST_MERGE_PAUSE"


@dataclass
class SyncResult:
    """What one run did."""

    run_id: int
    outcome: str
    full_refresh: bool
    seconds: float = 0.0
    merge_seconds: float = 0.0
    calls: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)
    skipped: int = 0
    resumed: bool = False
    error: str | None = None
    # The Intune step (Graph), recorded apart: None when the connection is off.
    graph_outcome: str | None = None
    graph_error: str | None = None
    graph_calls: dict = field(default_factory=dict)


def sync_tenant(
    settings,
    *,
    clock=SYSTEM_CLOCK,
    source: str = "cli",
    full: bool = False,
    client=None,
    progress=None,
) -> SyncResult:
    """Run one sync of the configured tenant into `settings.db`.

    Args:
        settings: deployment settings (credentials, API hosts, database path).
        clock: the time the run is recorded at (the demo replays past dates).
        source: who started it: cli, cron, dashboard or demo.
        full: fetch every exposed-device list, not only the changed ones.
        client: a `DefenderClient` to use instead of one built from settings.
        progress: called with one line of text per step, for long runs.

    Raises:
        SyncAlreadyRunning: another run holds the lock.
        TvmError: the run failed; it is recorded as failed with this message.
    """
    settings.require_credentials()
    with sync_lock(settings.db):
        return _run(settings, clock, source, full, client, progress or log.info)


@contextmanager
def sync_lock(db_path: Path):
    """Hold the one-sync-at-a-time lock for `db_path`, or raise at once."""
    path = lock_path(db_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError as exc:
        raise StoreError(
            f"Cannot create the sync lock file in {path.parent} "
            f"({exc.strerror or exc}): point TVM_DB at a file in a writable folder."
        ) from None
    if not _try_lock(handle, fcntl.LOCK_EX, attempts=5):
        handle.close()
        raise SyncAlreadyRunning(
            f"A sync is already running for {db_path}: wait for it to finish."
        )
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def sync_in_progress(db_path: Path) -> bool:
    """True while some process holds the sync lock for `db_path`."""
    path = lock_path(db_path)
    if not path.exists():
        return False
    with path.open("a") as handle:
        if not _try_lock(handle, fcntl.LOCK_SH, attempts=1):
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _try_lock(handle, mode: int, attempts: int) -> bool:
    # A few quick tries, so a dashboard checking the flag at the same instant
    # (it holds the lock for microseconds) never makes a new sync give up.
    for attempt in range(attempts):
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(0.1)
    return False


def lock_path(db_path: Path) -> Path:
    return Path(str(db_path) + ".sync.lock")


def _run(settings, clock, source, full, client, progress) -> SyncResult:
    started = time.monotonic()
    now = clock.now()
    previous = _read_previous_state(settings, now)
    full = full or _full_refresh_due(previous["last_full"], now, settings)
    run_id = _start_run(settings, now, source, full)
    result = SyncResult(run_id=run_id, outcome="running", full_refresh=full)
    client = client or connect_defender(settings, clock)
    staging = StagingArea(settings.db)
    try:
        result.resumed = staging.open(
            settings.tenant_id, now, full, run_id, previous["last_merged"]
        )
        result.rows = _stage(
            client, staging, previous, full, _reporting(progress, staging)
        )
        result.skipped = staging.skipped()
        result.rows["values_set_to_null"] = staging.nulled()
        result.calls = dict(_count_calls(client))
        _merge(settings, staging, run_id, clock.now(), result)
    except Exception as exc:
        result.outcome, result.error = "failed", _describe_failure(exc, settings)
        result.calls = dict(_count_calls(client))
        _record_failure(settings, result, clock.now())
        log.warning("sync run %d failed: %s", run_id, result.error)
        if isinstance(exc, TvmError):
            raise
        raise SyncFailed(result.error) from exc
    staging.discard()
    result.outcome = "succeeded"
    _sync_intune(settings, clock, result)
    result.seconds = time.monotonic() - started
    log.info(
        "sync run %d succeeded in %.1f s (merge %.2f s): %d calls, rows %s",
        run_id,
        result.seconds,
        result.merge_seconds,
        sum(result.calls.values()),
        result.rows,
    )
    return result


def _sync_intune(settings, clock, result: SyncResult) -> None:
    """Deliver queued Intune calls and read tasks back, after the merge: a
    Graph failure is recorded on the run and never fails it."""
    step = intune.sync_tasks(settings, clock=clock)
    if step.outcome is None:
        return
    result.graph_outcome, result.graph_error = step.outcome, step.error
    result.graph_calls = step.calls
    params = {
        "run_id": result.run_id,
        "outcome": step.outcome,
        "error": step.error,
        "calls": json.dumps(step.calls),
    }
    try:
        with store.open_store(settings) as con:
            store.run_script(con, "intune_finish_sync_run", params)
    except TvmError as exc:
        log.error("could not record the Intune step of run %d: %s", result.run_id, exc)
    log.info(
        "sync run %d Intune step %s: %d Graph calls",
        result.run_id,
        step.outcome,
        sum(step.calls.values()),
    )


def _read_previous_state(settings, now) -> dict:
    with store.open_store(settings) as con:
        store.check_tenant(con, settings.tenant_id, now)
        store.run_script(con, "mark_interrupted_runs")
        activities = {
            r["activity_id"]: r
            for r in store.fetch_dicts(con, "previous_activity_state")
        }
        recommendations = {
            r["recommendation_id"]: r
            for r in store.fetch_dicts(con, "previous_recommendation_state")
        }
        last_full, last_merged = con.execute(store.sql("last_runs")).fetchone()
    return {
        "activities": activities,
        "recommendations": recommendations,
        "last_full": last_full,
        "last_merged": last_merged,
    }


def _full_refresh_due(last_full: datetime | None, now: datetime, settings) -> bool:
    if last_full is None:
        return True
    return now - last_full >= timedelta(hours=settings.full_refresh_hours)


def _start_run(settings, now, source, full) -> int:
    with store.open_store(settings) as con:
        params = {"now": now, "source": source, "full": full}
        return con.execute(store.sql("start_sync_run"), params).fetchone()[0]


def _stage(client, staging, previous, full, progress) -> dict:
    rows = {}
    collections = [
        ("machines", client.fetch_machines, records.normalize_machine),
        ("activities", client.fetch_remediation_tasks, records.normalize_task),
        (
            "recommendations",
            client.fetch_recommendations,
            records.normalize_recommendation,
        ),
    ]
    for name, fetch, normalize in collections:
        if not staging.is_done(name):
            rows[name] = staging.write_collection(name, fetch(), normalize, progress)
    rows["activity_devices"] = _stage_children(
        staging,
        "activity_devices",
        _activities_to_fetch(staging, previous["activities"], full),
        client.fetch_task_devices,
        progress,
    )
    rows["recommendation_devices"] = _stage_children(
        staging,
        "recommendation_devices",
        _recommendations_to_fetch(staging, previous["recommendations"], full),
        client.fetch_recommendation_devices,
        progress,
    )
    return rows


def _reporting(progress, staging):
    """Progress told to the caller and kept in the staging area for the
    dashboard."""

    def report(line: str) -> None:
        progress(line)
        staging.note_progress(line)

    return report


def _stage_children(staging, kind, parent_ids, fetch_devices, progress) -> int:
    done = staging.fetched_children(kind)
    todo = [p for p in parent_ids if p not in done]
    written = 0
    for number, parent_id in enumerate(todo, start=1):
        written += staging.write_children(
            kind,
            parent_id,
            fetch_devices(parent_id),
            records.normalize_device_ref,
        )
        if number % 100 == 0 or number == len(todo):
            progress(f"{kind}: {number:,} of {len(todo):,} lists, {written:,} rows")
    return written


def _activities_to_fetch(staging, previous: dict, full: bool) -> list[str]:
    """Active activities that are new or changed (all on a full refresh), and
    activities that completed since the last run (once, to record the fixes)."""
    wanted = []
    for row in _read_staged(staging, "activities"):
        before = previous.get(row["activity_id"])
        completed = row["status"] == "Completed"
        if completed and (before is None or before["status"] == "Completed"):
            continue
        if full or before is None or _activity_changed(before, row):
            wanted.append(row["activity_id"])
    return wanted


def _activity_changed(before: dict, row: dict) -> bool:
    changed_on = before["status_changed_on"]
    return (
        before["status"] != row["status"]
        or before["fixed_devices"] != row["fixed_devices"]
        or before["target_devices"] != row["target_devices"]
        or not _same_moment(changed_on, row["status_changed_on"])
    )


def _same_moment(stored: str | None, staged: str | None) -> bool:
    if stored is None or staged is None:
        return stored is staged
    return datetime.fromisoformat(stored) == datetime.fromisoformat(staged)


def _recommendations_to_fetch(staging, previous: dict, full: bool) -> list[str]:
    wanted = []
    for row in _read_staged(staging, "recommendations"):
        if row["exposed_devices"] == 0:
            continue
        before = previous.get(row["recommendation_id"])
        unchanged = before is not None and (
            before["exposed_devices"] == row["exposed_devices"]
            and before["status"] == row["status"]
        )
        if full or not unchanged:
            wanted.append(row["recommendation_id"])
    return wanted


def _read_staged(staging, name: str):
    with staging.file(name).open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def _merge(settings, staging, run_id, now, result) -> None:
    started = time.monotonic()
    with store.open_store(settings) as con:
        _load_staged(con, staging)
        params = {"run_id": run_id, "now": now}
        with store.transaction(con):
            for script in MERGE_SCRIPTS:
                store.run_script(con, script, params)
            _pause_for_tests()
            result.outcome = "succeeded"
            _write_finish(con, result, now)
    # How long the database was held: what other processes may have to wait.
    result.merge_seconds = time.monotonic() - started


def _load_staged(con, staging) -> None:
    for name, (table, sample) in STAGED.items():
        columns = _column_types(con, table, sample)
        path = staging.file(name)
        if not path.exists():
            path.touch()
        con.execute(
            f"create or replace temp table s_{name} as "
            "select * from read_json(?, columns = ?, format = 'newline_delimited')",
            [str(path), columns],
        )
    journal = staging.file("children")
    if not journal.exists():
        journal.touch()
    journal_columns = {"kind": "VARCHAR", "id": "VARCHAR", "status": "VARCHAR"}
    con.execute(
        "create or replace temp table s_fetched as select * from "
        "read_json(?, columns = ?, format = 'newline_delimited')",
        [str(journal), journal_columns],
    )


def _column_types(con, table: str, sample: dict) -> dict:
    known = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = ?",
            [table],
        ).fetchall()
    )
    return {
        name: known.get(name, "VARCHAR") for name in sample if name != records.NULLED
    }


def _pause_for_tests() -> None:
    marker = os.environ.get(PAUSE_ENV)
    if marker:
        Path(marker).touch()
        seconds = float(os.environ.get(PAUSE_ENV + "_SECONDS", "60"))
        time.sleep(seconds)


def _describe_failure(exc: Exception, settings) -> str:
    if isinstance(exc, TvmError):
        return str(exc)
    if is_disk_full(exc):
        return (
            f"The sync stopped because the disk holding {settings.db} is full; the "
            "previous data is unchanged: free some space there, then sync again."
        )
    return (
        f"The sync stopped on an unexpected {type(exc).__name__} ({exc}); the "
        "previous data is unchanged. Run with -v for details and report it."
    )


def _record_failure(settings, result: SyncResult, now) -> None:
    # Best effort: if the database stays locked, the run is left "running" and
    # the next run marks it interrupted; the caller still gets the error.
    try:
        with store.open_store(settings) as con:
            _write_finish(con, result, now)
    # duckdb.Error too: on a full disk this write fails as well, and must not
    # hide the reason the run stopped.
    except (TvmError, duckdb.Error) as exc:
        log.warning("could not record the failure of run %d: %s", result.run_id, exc)


def _write_finish(con, result: SyncResult, now) -> None:
    store.run_script(
        con,
        "finish_sync_run",
        {
            "run_id": result.run_id,
            "finished_at": now,
            "outcome": result.outcome,
            "error": result.error,
            "calls": json.dumps(result.calls),
            "row_counts": json.dumps(result.rows),
            "skipped": result.skipped,
        },
    )


def _count_calls(client) -> Counter:
    return Counter(getattr(client, "calls_by_endpoint", {}))

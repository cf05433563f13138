"""Backups of the store, and restoring one into a new database file.

Most of the store can be fetched again from Defender, but what users write —
requests filed here, completions, operational settings, the audit log — exists
nowhere else. A backup is DuckDB's own export of the whole database (Parquet
files and the schema) in a folder of its own, with a manifest naming the tenant,
the schema version and the row counts of the tables users write. Restoring
imports it into a new file only, never over a database in use.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import datetime
from pathlib import Path

import duckdb

from tvmdata import store
from tvmdata.clock import SYSTEM_CLOCK
from tvmdata.errors import TvmError, is_disk_full

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# Tables users write, counted in the manifest and checked after a restore.
USER_TABLES = ("requests", "request_targets", "completions", "settings", "audit_log")


class BackupError(TvmError):
    """A backup could not be written or restored."""


def backup(settings, out_dir: Path, clock=SYSTEM_CLOCK) -> Path:
    """Write a backup of `settings.db` into a new folder inside `out_dir`.

    Returns:
        The backup folder, named after the moment, e.g. `tvm-20261203-061500`.

    Raises:
        BackupError: there is no database yet, or `out_dir` cannot be written.
    """
    if not Path(settings.db).exists():
        raise BackupError(
            f"There is no database at {settings.db} to back up: run a sync first, "
            "or point TVM_DB at the database."
        )
    now = clock.now()
    target = Path(out_dir) / f"tvm-{now:%Y%m%d-%H%M%S}"
    partial = target.with_name(target.name + ".partial")
    _prepare(out_dir, target, partial)
    try:
        with store.open_store(settings) as con:
            con.execute(f"export database '{_quoted(partial)}' (format parquet)")
            manifest = _manifest(con, now)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2), "utf-8")
        partial.rename(target)
    except (OSError, duckdb.IOException) as exc:
        # DuckDB reports a full disk as an IOException while exporting.
        shutil.rmtree(partial, ignore_errors=True)
        reason = "the disk is full" if is_disk_full(exc) else _reason(exc)
        raise BackupError(
            f"The backup could not be written to {out_dir} ({reason}): "
            "free some space or choose another --out."
        ) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log.info("backup of %s written to %s: %s", settings.db, target, manifest["rows"])
    return target


def restore(backup_dir: Path, db_path: Path) -> dict:
    """Import a backup into a new database file at `db_path`.

    Returns:
        The backup's manifest (tenant, schema version, row counts).

    Raises:
        BackupError: the folder is not a backup, `db_path` already exists, or
            the restored row counts differ from the manifest's.
    """
    backup_dir, db_path = Path(backup_dir), Path(db_path)
    manifest = read_manifest(backup_dir)
    if db_path.exists():
        raise BackupError(
            f"{db_path} already exists: restore into a new file (--db), or move "
            "that database away first."
        )
    building = db_path.with_name(db_path.name + ".restoring")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    building.unlink(missing_ok=True)
    try:
        _import(backup_dir, building)
        with store.connect(building) as con:
            _check_counts(con, manifest)
        building.rename(db_path)
    finally:
        building.unlink(missing_ok=True)
    log.info("backup %s restored into %s", backup_dir, db_path)
    return manifest


def read_manifest(backup_dir: Path) -> dict:
    """The manifest of a backup folder."""
    path = Path(backup_dir) / MANIFEST
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        raise BackupError(
            f"{backup_dir} is not a dashboard backup (no readable {MANIFEST}): "
            "name the folder `python -m tvmdata backup` wrote."
        ) from None


def _prepare(out_dir: Path, target: Path, partial: Path) -> None:
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(
            f"The backup folder {out_dir} cannot be created ({exc.strerror}): "
            "choose another --out."
        ) from None
    if target.exists():
        raise BackupError(f"{target} already exists: wait a second and try again.")
    shutil.rmtree(partial, ignore_errors=True)


def _manifest(con, now: datetime) -> dict:
    tenant = con.execute("select tenant_id from tenant").fetchone()
    version = con.execute("select max(version) from schema_version").fetchone()[0]
    return {
        "tenant_id": tenant[0] if tenant else None,
        "schema_version": version,
        "created_at": now.isoformat(),
        "rows": _counts(con),
    }


def _counts(con) -> dict[str, int]:
    return {
        table: con.execute(f"select count(*) from {table}").fetchone()[0]
        for table in USER_TABLES
    }


def _import(backup_dir: Path, building: Path) -> None:
    con = duckdb.connect(str(building))
    try:
        con.execute(f"import database '{_quoted(backup_dir)}'")
    except duckdb.Error as exc:
        raise BackupError(
            f"{backup_dir} could not be imported ({exc}): the backup is damaged "
            "or was written by another version."
        ) from None
    finally:
        con.close()


def _check_counts(con, manifest: dict) -> None:
    found = _counts(con)
    expected = {table: manifest["rows"].get(table, 0) for table in USER_TABLES}
    if found != expected:
        raise BackupError(
            f"The restored rows {found} differ from the backup's {expected}: the "
            "backup is incomplete; use an earlier one."
        )


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")

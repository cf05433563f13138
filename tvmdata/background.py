"""The sync started from the dashboard: `python -m tvmdata sync` as a background
process, the same command cron runs, so a page never waits for Defender."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from tvmdata import access, audit, demo, store
from tvmdata.config import settings_environment
from tvmdata.errors import ConfigError, SyncAlreadyRunning
from tvmdata.sync import sync_in_progress

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent


def start_sync(settings, source: str = "dashboard", started_by=None) -> int:
    """Start `python -m tvmdata sync` for `settings` in the background.

    The process outlives the caller's request (its own session); its output goes
    to `<database>.sync.log`. Progress and the outcome are read from the
    database as for any other run.

    Args:
        settings: the settings the sync runs with (passed as `TVM_*` variables).
        source: who started the run, recorded with it.
        started_by: the user who pressed Sync now (an `access.Actor` needs the
            requester role); recorded in the audit log when given.

    Returns:
        The process id, at once; the sync is not waited for.

    Raises:
        SyncAlreadyRunning: a sync holds the lock for this database.
        ConfigError: demo mode and the demo emulator is stopped.
        AccessRefused: `started_by` may not start syncs.
    """
    if started_by is not None:
        access.require(access.as_actor(started_by), "sync", "start a sync")
    # The process runs from the repository root, so relative paths are fixed now.
    settings = settings.with_overrides(
        db=Path(settings.db).resolve(),
        ca_bundle=Path(settings.ca_bundle).resolve() if settings.ca_bundle else None,
    )
    _refuse_when_blocked(settings)
    command = [sys.executable, "-m", "tvmdata", "sync", "--source", source]
    if settings.demo:
        command.append("--demo")
    log_path = Path(str(settings.db) + ".sync.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=_environment(settings),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    # Reaped in the background so a finished sync leaves no zombie behind.
    threading.Thread(target=process.wait, daemon=True).start()
    log.info("sync started in the background: pid %d, log %s", process.pid, log_path)
    if started_by is not None:
        _record_start(settings, access.as_actor(started_by), source)
    return process.pid


def _record_start(settings, actor, source: str) -> None:
    with store.open_store(settings) as con:
        audit.record(
            con,
            actor=actor.label(),
            action="sync started",
            object_id=None,
            when=datetime.now(UTC),
            after={"source": source},
        )


def _refuse_when_blocked(settings) -> None:
    if sync_in_progress(settings.db):
        raise SyncAlreadyRunning(
            "A sync is already running for this database: wait for it to finish."
        )
    if settings.demo and demo.running_emulator() is None:
        raise ConfigError(
            "The demo emulator is stopped: start it with `python -m tvmdata demo up`."
        )


def _environment(settings) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TVM_")}
    environment.update(settings_environment(settings))
    return environment

"""Retention: completed activities leave the store after the retention period.

Age counts from completion (a completion marked here, else Defender's last status
change). Purged activities take their device lists and history with them, after
being written to archive CSV files when archiving is on; per-group daily totals
stay so charts do not rewrite the past.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tvmdata import access, audit, csvout, store
from tvmdata.clock import SYSTEM_CLOCK

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 180
DEFAULT_ARCHIVE_DIR = Path("data/archive")
# Archive headers in the words the other exports use; any column a later schema
# adds gets its name in words ("devices_gone" becomes "Devices gone").
ARCHIVE_HEADERS = {
    "activity_id": "Activity id",
    "title": "Remediation activity",
    "activity": "Remediation activity",
    "requester_email": "Created by",
    "requester_notes": "Notes",
    "status": "Status in Defender",
    "completer_email": "Completed by in Defender",
    "scid": "Security configuration id",
    "due_on": "Due date",
    "status_changed_on": "Status changed on",
    "missing_since": "Missing from Defender since",
    "completed_here_by": "Marked complete here by",
    "completed_here_at": "Marked complete here on",
    "machine_id": "Device id",
    "computer_dns_name": "Device name",
}


@dataclass(frozen=True)
class RetentionPolicy:
    """How long completed activities stay, and whether they are archived first."""

    days: int = DEFAULT_RETENTION_DAYS
    archive: bool = False
    archive_dir: Path = DEFAULT_ARCHIVE_DIR


def load_policy(settings) -> RetentionPolicy:
    """The retention policy stored in the database (defaults when never set)."""
    with store.open_store(settings) as con:
        row = con.execute(store.sql("get_setting"), {"key": "retention"}).fetchone()
    if not row or not row[0]:
        return RetentionPolicy()
    stored = json.loads(row[0])
    return RetentionPolicy(
        days=int(stored.get("days", DEFAULT_RETENTION_DAYS)),
        archive=bool(stored.get("archive", False)),
        archive_dir=Path(stored.get("archive_dir", DEFAULT_ARCHIVE_DIR)),
    )


def save_policy(settings, policy: RetentionPolicy, changed_by: str, clock=SYSTEM_CLOCK):
    """Store the retention policy (an operational setting)."""
    value = {
        "days": policy.days,
        "archive": policy.archive,
        "archive_dir": str(policy.archive_dir),
    }
    params = {
        "key": "retention",
        "value": json.dumps(value),
        "changed_by": changed_by,
        "changed_at": clock.now(),
    }
    with store.open_store(settings) as con:
        store.run_script(con, "put_setting", params)


def purge_completed(
    settings, policy: RetentionPolicy, clock=SYSTEM_CLOCK, by="retention policy"
) -> list[str]:
    """Remove completed activities older than the retention period.

    Returns the ids purged. With archiving on, their rows and exposure history
    are written to CSV files in `policy.archive_dir` before anything is deleted;
    if writing fails nothing is deleted. The purge is in the audit log under
    `by` (an `access.Actor` needs the admin role, else `AccessRefused`).
    """
    actor = access.as_actor(by)
    access.require(actor, "purge", "purge completed activities")
    now = clock.now()
    cutoff = now - timedelta(days=policy.days)
    with store.open_store(settings) as con:
        ids = [
            r[0]
            for r in con.execute(
                store.sql("purge_candidates"), {"cutoff": cutoff}
            ).fetchall()
        ]
        if not ids:
            return []
        con.execute("create temp table purge_ids (activity_id varchar)")
        con.executemany("insert into purge_ids values (?)", [[i] for i in ids])
        if policy.archive:
            _archive(con, policy.archive_dir, now)
        with store.transaction(con):
            store.run_script(con, "purge_activities", {"now": now})
            audit.record(
                con,
                actor=actor.label(),
                action="completed activities purged",
                object_id=None,
                when=now,
                after={"purged": len(ids), "older_than_days": policy.days},
            )
    log.info("purged %d completed activities older than %d days", len(ids), policy.days)
    return ids


def _archive(con, folder: Path, now: datetime) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    as_of = f"archived {csvout.timestamp(now)}"
    for name, prefix in (
        ("archive_activities", "activities"),
        ("archive_activity_devices", "activity-devices"),
    ):
        frame = csvout.calendar_days(store.fetch_frame(con, name))
        frame = frame.rename(columns={c: archive_header(c) for c in frame.columns})
        path = folder / f"{prefix}-{stamp}.csv"
        csvout.write_csv(path, frame, list(frame.columns), as_of)


def archive_header(column: str) -> str:
    """An archive column's header: "Activity id" for `activity_id`."""
    known = ARCHIVE_HEADERS.get(column)
    return known or column.replace("_", " ").capitalize()

"""CSV exports of activities and of an activity's devices, through `csvout`."""

from __future__ import annotations

from pathlib import Path

from tvmdata import csvout, store

ACTIVITY_COLUMNS = {
    "activity_id": "Activity id",
    "activity": "Remediation activity",
    "remediation_type": "Remediation type",
    "priority": "Priority",
    "created_by": "Created by",
    "created_on": "Created on",
    "due_on": "Due date",
    "status": "Status",
    "fixed_devices": "Fixed devices",
    "target_devices": "Target devices",
    "completed_by": "Completed by",
    "completed_on": "Completed on",
    "device_groups": "Device groups",
    "related_component": "Related component",
    "requester_notes": "Notes",
}
DEVICE_COLUMNS = {
    "machine_id": "Device id",
    "computer_dns_name": "Device name",
    "os_platform": "OS platform",
    "device_group": "Device group",
    "last_seen": "Last seen",
    "health_status": "Health",
}


def activities_csv(frame, as_of: str) -> bytes:
    """The activity list (already filtered) as CSV bytes."""
    return csvout.build_csv(
        _renamed(frame, ACTIVITY_COLUMNS), _names(ACTIVITY_COLUMNS), as_of
    )


def devices_csv(frame, as_of: str) -> bytes:
    """An activity's devices as CSV bytes."""
    return csvout.build_csv(
        _renamed(frame, DEVICE_COLUMNS), _names(DEVICE_COLUMNS), as_of
    )


def export_activities(settings, out: Path, status=None, group=None, priority=None):
    """Write the (filtered) activity list to `out`; return the number of rows."""
    groups = [group] if group else None
    frame = store.load_activities(settings, status, priority, groups)
    as_of = store.describe_as_of(store.load_sync_status(settings))
    rows = _renamed(frame, ACTIVITY_COLUMNS)
    return csvout.write_csv(out, rows, _names(ACTIVITY_COLUMNS), as_of)


def export_devices(settings, activity_id: str, out: Path) -> int:
    """Write one activity's exposed devices to `out`; return the number of rows."""
    frame = store.load_activity_devices(settings, activity_id)
    as_of = store.describe_as_of(store.load_sync_status(settings))
    rows = _renamed(frame, DEVICE_COLUMNS)
    return csvout.write_csv(out, rows, _names(DEVICE_COLUMNS), as_of)


def _renamed(frame, columns: dict) -> list[dict]:
    return frame[list(columns)].rename(columns=columns).to_dict("records")


def _names(columns: dict) -> list[str]:
    return list(columns.values())

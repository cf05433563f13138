"""CSV exports of activities and of an activity's devices, through `csvout`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from tvmdata import csvout, labels, store, views
from tvmdata.errors import TvmError


class OutputNotWritable(TvmError):
    """The CSV file cannot be written where the user asked."""


class UnknownDeviceGroup(TvmError):
    """No device group has the name the user gave."""


DEVICE_COLUMNS = {
    "machine_id": "Device id",
    "computer_dns_name": "Device name",
    "os_platform": "OS platform",
    "device_group": "Device group",
    "last_seen": "Last seen",
    "health_status": "Health",
}
# The Remediation page's list (`views.filter_activities`), as it shows it; the
# command line's `export activities` writes the same columns.
LIST_COLUMNS = {
    "activity_id": "Activity id",
    "activity": "Remediation activity",
    "remediation_type_label": "Remediation type",
    "priority": "Priority",
    "created_by": "Created by",
    "source": "Source",
    "created_on": "Created on",
    "due_on": "Due date",
    "overdue": "Overdue",
    "status": "Status",
    "fixed_devices": "Fixed devices",
    "target_devices": "Target devices",
    "completed_by": "Completed by",
    "completed_on": "Completed on",
    "device_groups": "Device groups",
    "ticket_status": "Ticket status",
    "related_component": "Related component",
    "requester_notes": "Notes",
}
# An activity's devices as our tracking knows them
# (`views.load_activity_device_history`).
DEVICE_HISTORY_COLUMNS = {
    "machine_id": "Device id",
    "computer_dns_name": "Device name",
    "os_platform": "OS platform",
    "group_name": "Device group",
    "first_exposed": "First exposed",
    "fixed_on": "Fixed on",
    "status": "Status",
}
# The activity list as the command line writes it: the Remediation page's
# columns, worded as `views.filter_activities` and `_list_frame` word them.
_UNSAFE_IN_NAME = re.compile(r"[^a-z0-9]+")


def filtered_list_csv(frame, as_of: str) -> bytes:
    """The Remediation page's filtered list as CSV bytes.

    Args:
        frame: rows of `views.filter_activities`; attention-required rows have
            no fixed/target figures to show and keep them blank.
        as_of: which sync the data comes from (`store.describe_as_of`).
    """
    return csvout.build_csv(_list_frame(frame), _names(LIST_COLUMNS), as_of)


def _list_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The list's columns under their header names; activities without progress
    figures (attention required) have their fixed and target devices blank, and
    due dates are calendar days (pandas reads them as midnight times)."""
    chosen = csvout.calendar_days(_labelled(frame, LIST_COLUMNS))
    shown = frame["has_progress"].fillna(False).astype(bool).to_numpy()
    for name in ("fixed_devices", "target_devices"):
        chosen[name] = _whole(chosen[name]).where(shown)
    return chosen.rename(columns=LIST_COLUMNS)


def _whole(values: pd.Series) -> pd.Series:
    """Integer counts kept integers when some are blanked (not 3.0)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":
        return values.astype("Int64")
    return values


# The Security recommendations page's list, as it shows it.
RECOMMENDATION_COLUMNS = {
    "recommendation_id": "Recommendation id",
    "name": "Security recommendation",
    "product_name": "Product",
    "vendor": "Vendor",
    "category": "Category",
    "remediation_type_label": "Remediation type",
    "exposed_devices": "Exposed devices",
    "severity_score": "Severity score",
    "public_exploit": "Public exploit",
    "active_alert": "Active alert",
    "status": "Status",
    "covered": "Covered by an active activity",
}


def recommendations_csv(frame, as_of: str) -> bytes:
    """The Security recommendations page's filtered list as CSV bytes."""
    chosen = frame[list(RECOMMENDATION_COLUMNS)]
    return csvout.build_csv(
        chosen.rename(columns=RECOMMENDATION_COLUMNS),
        _names(RECOMMENDATION_COLUMNS),
        as_of,
    )


def device_history_csv(frame, as_of: str) -> bytes:
    """An activity's devices (`views.load_activity_device_history`) as CSV."""
    chosen = _labelled(frame, DEVICE_HISTORY_COLUMNS)
    return csvout.build_csv(
        chosen.rename(columns=DEVICE_HISTORY_COLUMNS),
        _names(DEVICE_HISTORY_COLUMNS),
        as_of,
    )


def export_file_name(
    kind: str, parts: Iterable[str | None], synced_at: datetime | None
) -> str:
    """A download's file name saying what it holds and from which sync, e.g.
    `activities-active-high-2026-12-03.csv`.

    Args:
        kind: what the file holds ("activities", "devices").
        parts: the filter values or activity id, in order; blanks are left out.
        synced_at: when the sync the data comes from finished; None before any.
    """
    words = [kind, *(p for p in parts if p)]
    words.append(f"{synced_at:%Y-%m-%d}" if synced_at else "no-sync")
    return file_name(words)


def file_name(words: Iterable[str | None]) -> str:
    """`words` as a safe CSV file name: lower case, dashes, at most 150 characters
    before `.csv`; blanks are left out."""
    slugs = (_UNSAFE_IN_NAME.sub("-", str(w).casefold()).strip("-") for w in words)
    return "-".join(s for s in slugs if s)[:150] + ".csv"


def export_activities(settings, out: Path, status=None, group=None, priority=None):
    """Write the activity list, filtered as asked, to `out` with the columns of
    the Remediation page's CSV; return the number of rows.

    The rows go from the database to the file in one query (no DataFrame), so
    the file is written at the speed DuckDB writes CSV.

    Args:
        settings: deployment settings (database path and lock wait).
        out: the CSV file to write.
        status: "Active" or "Completed" as the page shows it (marked complete
            here counts as completed); None for every status.
        group: a device group's name (case is ignored); None for every group.
        priority: "High", "Medium" or "Low"; None for every priority.

    Raises:
        UnknownDeviceGroup: `group` names no device group (case is ignored).
        OutputNotWritable: `out` cannot be written.
    """
    groups = [device_group_id(settings, group)] if group else None
    params = views.filter_params(
        status=status, groups=groups, priorities=[priority] if priority else None
    )
    query = _query("activity_list_csv").format(
        filtered_activities=_query("filtered_activities")
    )
    with store.open_store(settings) as con:
        store.run_script(con, "read_macros")
        add_label_functions(con)
        return _write(con, query, params, LIST_COLUMNS, out)


def add_label_functions(con) -> None:
    """Give `con` the pages' words as SQL functions: `csv_remediation_type`,
    `csv_source` and `csv_ticket_status` (see `labels`)."""
    words = [
        ("csv_remediation_type", labels.remediation_type, ["VARCHAR"]),
        ("csv_source", labels.source, ["VARCHAR"]),
        (
            "csv_ticket_status",
            _describe_ticket,
            ["BOOLEAN", *["VARCHAR"] * 3, "BOOLEAN"],
        ),
    ]
    for name, function, arguments in words:
        con.create_function(
            name, function, arguments, "VARCHAR", null_handling="special"
        )


def _describe_ticket(has_task, task_id, status, create_error, cancelled) -> str | None:
    """An activity's Intune task status in words; None without a task."""
    if not has_task:
        return None
    return labels.ticket_status(task_id, status, create_error, bool(cancelled))


def export_devices(settings, activity_id: str, out: Path) -> int:
    """Write one activity's exposed devices to `out`; return the number of rows.

    Raises:
        StoreError: no activity has this id.
        OutputNotWritable: `out` cannot be written.
    """
    params = {"activity_id": activity_id}
    with store.open_store(settings) as con:
        store.require_activity(con, activity_id)
        query = _query("activity_devices")
        return _write(con, query, params, DEVICE_COLUMNS, out)


def device_group_id(settings, name: str) -> int:
    """The id of the device group called `name`, ignoring case.

    Raises:
        UnknownDeviceGroup: as `resolve_device_group`.
    """
    spelled = resolve_device_group(settings, name)
    groups = views.list_device_groups(settings)
    return int(groups.loc[groups["group_name"] == spelled, "group_id"].iloc[0])


def resolve_device_group(settings, name: str) -> str:
    """The device group called `name`, ignoring case, as the store spells it.

    Raises:
        UnknownDeviceGroup: no group has that name; the message lists the known
            names, closest first.
    """
    known = sorted(views.list_device_groups(settings)["group_name"].dropna())
    for candidate in known:
        if candidate.casefold() == name.strip().casefold():
            return candidate
    if not known:
        raise UnknownDeviceGroup(
            f"No device group is named {name!r}: the database has no device "
            "groups yet (run a sync first)."
        )
    raise UnknownDeviceGroup(
        f"No device group is named {name!r}: known groups are "
        + ", ".join(closest_first(name, known))
        + "."
    )


def closest_first(name: str, known: list[str]) -> list[str]:
    """`known` ordered by likeness to `name`: names containing it first, then by
    similarity to the whole name or one of its words; ties alphabetical."""
    wanted = name.strip().casefold()

    def likeness(candidate: str) -> tuple:
        folded = candidate.casefold()
        parts = [folded, *re.findall(r"\w+", folded)]
        ratio = max(difflib.SequenceMatcher(None, wanted, p).ratio() for p in parts)
        return (wanted not in folded, -ratio, candidate)

    return sorted(known, key=likeness)


def _write(con, query: str, params: dict, columns: dict, out: Path) -> int:
    as_of = store.describe_as_of(store.fetch_dicts(con, "latest_sync")[0])
    try:
        return csvout.write_query_csv(con, query, params, columns, as_of, out)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write {out}: {_reason(exc, out)}") from None


def _query(name: str) -> str:
    """A named query without its closing semicolon, to select from."""
    return store.sql(name).strip().rstrip(";")


def _reason(exc: OSError, out: Path) -> str:
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    if isinstance(exc, FileNotFoundError):
        return f"the folder {Path(out).parent} does not exist"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def _labelled(frame: pd.DataFrame, columns: dict) -> pd.DataFrame:
    chosen = frame[list(columns)].copy()
    if "source" in columns:
        # Where an activity comes from, in the pages' words ("This dashboard").
        chosen["source"] = chosen["source"].map(labels.source)
    return chosen


def _names(columns: dict) -> list[str]:
    return list(columns.values())

"""What the dashboard's home page, Remediation page and activity detail read.

Each function opens the store for one read and closes it (see `store`), and
returns a pandas DataFrame or a plain dict. Device groups are chosen by id:
`groups=None` means every group, an empty list means none. Defender names the
device groups an activity covers but gives no ids, so an activity belongs to a
selection when its group names include a selected group's name. Dates are UTC
calendar dates; `today` defaults to today in UTC and decides what is overdue.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime

import duckdb
import pandas as pd

from tvmdata import labels, store

KPI_NAMES = (
    "active_activities",
    "overdue_activities",
    "devices_fixed",
    "devices_targeted",
    "completed_last_30_days",
)


def list_device_groups(settings) -> pd.DataFrame:
    """Device groups by name, Unassigned last.

    Returns:
        Columns group_id, group_name, devices (machines in the group now; 0 for
        a group whose machines are all gone, kept because history refers to it).
    """
    with _reading(settings) as con:
        return store.fetch_frame(con, "device_group_list")


def group_ids_named(settings, names) -> list[int]:
    """The ids of the device groups called `names` (as activities name them)."""
    wanted = set(names or [])
    groups = list_device_groups(settings)
    named = groups[groups["group_name"].isin(wanted)]
    return [int(g) for g in named["group_id"]]


def list_requesters(settings) -> list[str]:
    """Everyone who requested a remediation activity, in lower case, sorted."""
    with _reading(settings) as con:
        return [
            row["created_by"] for row in store.fetch_dicts(con, "activity_requesters")
        ]


def load_kpis(
    settings, groups: Sequence[int] | None = None, today: date | None = None
) -> dict:
    """The home page's headline figures, each now and a week ago.

    Figures: active activities; overdue activities; devices fixed and targeted
    across active activities (Defender's fixedDevices/targetDevices; attention-
    required activities left out, they have no progress); activities completed
    in the 30 UTC days ending `today` (here or in Defender).

    "A week ago" is the end of the UTC day `today - 7`:

    - active and overdue: rebuilt from each activity's creation time, due date
      and completion time (marked here, else Defender's last status change).
    - completed in the last 30 days: the 30 days ending that day, from the same
      completion times.
    - devices fixed and targeted: Defender's counters of the activities that
      were active at the last successful sync before then (kept per run).

    Every week-ago value is None until a successful sync had finished by then:
    before that the store may lack activities that were deleted in Defender.

    Args:
        settings: deployment settings (database path and lock wait).
        groups: device-group ids; None for all.
        today: the UTC date of "now" (default: today in UTC).

    Returns:
        `{name: {"value": int, "week_ago": int | None}}` for each of
        `KPI_NAMES`.
    """
    params = {"today": _today(today), "groups": _ids(groups)}
    with _reading(settings) as con:
        row = store.fetch_dicts(con, "activity_kpis", params)[0]
    reaches = row["history_reaches"]

    return {
        name: {
            "value": row[f"{name}_now"],
            "week_ago": row.get(f"{name}_week_ago") if reaches else None,
        }
        for name in KPI_NAMES
    }


def load_top_activities(
    settings,
    groups: Sequence[int] | None = None,
    today: date | None = None,
    limit: int = 10,
) -> pd.DataFrame:
    """The "Top remediation activities": active ones with a due date, most urgent
    first (overdue, nearest due date, most devices still exposed, title, id).
    With `groups`, an activity whose devices in them are all fixed is left out.

    Returns:
        Columns activity_id, title, priority, due_on, overdue, fixed_devices,
        target_devices, exposed_devices (target - fixed), progress (0..1, None
        without target devices), device_groups.
    """
    params = {"today": _today(today), "groups": _ids(groups), "limit": limit}
    with _reading(settings) as con:
        return store.fetch_frame(con, "top_activities", params)


def load_remediated_over_time(
    settings, groups: Sequence[int] | None = None
) -> pd.DataFrame:
    """Devices fixed and still exposed per day and device group, for a chart.

    Figures come from our own tracking (exposure history), so they start when
    tracking began; they survive the retention purge of old activities.

    Returns:
        Columns day, group_id, group_name, fixed_devices (across every tracked
        activity), exposed_devices and active_activities (active ones only),
        ordered by day then group name.
    """
    with _reading(settings) as con:
        return store.fetch_frame(con, "remediated_over_time", {"groups": _ids(groups)})


def load_activity_counts(settings, groups: Sequence[int] | None = None) -> pd.DataFrame:
    """How many activities there are per status and priority.

    Returns:
        Columns status ("Completed" includes those marked complete here),
        priority, activities; by status, then High, Medium, Low.
    """
    params = {"today": _today(None), "groups": _ids(groups)}
    with _reading(settings) as con:
        return store.fetch_frame(con, "activity_counts", params)


def load_overdue_by_group(
    settings, groups: Sequence[int] | None = None, today: date | None = None
) -> pd.DataFrame:
    """Overdue activities per device group (an activity counts in every group it
    covers); groups with none overdue show 0.

    Returns:
        Columns group_name, group_id (None for a name no machine carries),
        overdue_activities; most overdue first, then by name, Unassigned last.
    """
    params = {"today": _today(today), "groups": _ids(groups)}
    with _reading(settings) as con:
        return store.fetch_frame(con, "overdue_by_group", params)


def load_rejected_tasks(
    settings, groups: Sequence[int] | None = None, today: date | None = None
) -> list[dict]:
    """Intune security tasks IT rejected, for activities in the chosen groups;
    requests cancelled here are left out (their task reads rejected too).

    Returns:
        Dicts with activity_id, title and assigned_to (who in IT rejected it,
        or None), newest task first.
    """
    params = {"today": _today(today), "groups": _ids(groups)}
    with _reading(settings) as con:
        return store.fetch_dicts(con, "rejected_tasks", params)


def filter_activities(settings, **filters) -> pd.DataFrame:
    """Remediation activities as the portal lists them, filtered, newest first.

    Args:
        settings: deployment settings (database path and lock wait).
        filters: as `filter_params` takes them; every filter left at None lets
            everything through, an empty list lets nothing through.

    Returns:
        Columns activity_id, activity (the title), remediation_type,
        remediation_type_label, priority, created_by, created_on, due_on,
        overdue, status, fixed_devices, target_devices, progress (0..1),
        has_progress (False for attention required), completed_by ("System
        confirmation", "N/A" or an email), completed_on, completed_here,
        device_groups, related_component, requester_notes, missing_since,
        source ("defender" or "dashboard");
        group_fixed_devices, group_target_devices and group_progress as in
        `load_top_activities` (None without `groups`).
    """
    with _reading(settings) as con:
        frame = store.fetch_frame(con, "filtered_activities", filter_params(**filters))
    return _with_ticket_status(_with_type_label(frame))


def filter_params(
    *,
    status: str | None = "Active",
    priorities: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    groups: Sequence[int] | None = None,
    created_by: str | Sequence[str] | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    overdue_only: bool = False,
    search: str | None = None,
    today: date | None = None,
) -> dict:
    """The parameters of queries/filtered_activities.sql for these filters.

    Args:
        status: "Active", "Completed" or "Cancelled" as shown (marked complete
            here counts as completed; cancelled is a request filed and then
            cancelled here); None for every status.
        priorities: "High", "Medium", "Low".
        types: Defender's remediation types ("Update", "ConfigurationChange",
            "AttentionRequired", ...).
        sources: where activities come from: "defender" (synced) or
            "dashboard" (filed here; see `labels.SOURCES`).
        groups: device-group ids.
        created_by: requester emails, matched without regard to case.
        due_from: first due date included; activities without one drop out.
        due_to: last due date included; activities without one drop out.
        overdue_only: only overdue activities.
        search: text found in the title or related component, case-insensitive
            and literal (`%`, `_`, quotes and backslashes are plain characters).
        today: the UTC date overdue is judged against (default: today in UTC).
    """
    return {
        "today": _today(today),
        "groups": _ids(groups),
        "status": status,
        "priorities": _texts(priorities),
        "types": _texts(types),
        "sources": _texts(sources),
        "created_by": _emails(created_by),
        "due_from": due_from,
        "due_to": due_to,
        "overdue_only": overdue_only,
        "search": search if search and search.strip() else None,
    }


def load_activity_detail(
    settings, activity_id: str, today: date | None = None
) -> dict | None:
    """One activity with everything its detail view shows; None if unknown.

    Returns:
        Every column of the stored activity (status as the list shows it,
        Defender's own as defender_status; source, and for requests filed
        here target_scope and recommendation_gone_since), plus overdue, has_progress,
        progress, exposed_devices, completed_by and completed_on as in the
        list, completed_here, local_completed_by / local_completed_at /
        local_completion_note (a completion marked here, else None),
        related_recommendation_id and related_recommendation_name (None when
        no stored recommendation matches), remediation_type_label.
    """
    params = {"today": _today(today), "activity_id": activity_id}
    with _reading(settings) as con:
        found = store.fetch_dicts(con, "activity_detail", params)
    if not found:
        return None

    detail = found[0]
    detail["remediation_type_label"] = labels.remediation_type(
        detail["remediation_type"]
    )
    detail["ticket_status"] = _ticket_status(detail)
    return detail


def load_activity_group_progress(settings, activity_id: str) -> pd.DataFrame:
    """An activity's exposed and fixed devices per device group, from its latest
    snapshot. Counts begin when our tracking of the activity began
    (tracked_since), so devices fixed earlier are not in them.

    Returns:
        Columns group_id, group_name, exposed_devices, fixed_devices,
        tracked_since, as_of (the snapshot's time); empty when never tracked.
    """
    with _reading(settings) as con:
        return store.fetch_frame(
            con, "activity_group_progress", {"activity_id": activity_id}
        )


def load_activity_progress_over_time(settings, activity_id: str) -> pd.DataFrame:
    """An activity's exposed and fixed devices at each sync, over all groups.

    Returns:
        Columns taken_at, exposed_devices, fixed_devices, oldest first.
    """
    with _reading(settings) as con:
        return store.fetch_frame(
            con, "activity_progress_over_time", {"activity_id": activity_id}
        )


def load_activity_device_history(settings, activity_id: str) -> pd.DataFrame:
    """Every device ever exposed for an activity, with its current state.

    Returns:
        Columns machine_id, computer_dns_name, os_platform, group_id,
        group_name (its group in its latest exposure interval), first_exposed,
        fixed_on (when status is "Fixed"), status ("Exposed", "Fixed", "No
        longer reported" or "Moved"), regressed (exposed again after a fix).
    """
    with _reading(settings) as con:
        return store.fetch_frame(
            con, "activity_device_history", {"activity_id": activity_id}
        )


@contextmanager
def _reading(settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with store.open_store(settings) as con:
        store.run_script(con, "read_macros")
        yield con


def _today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


def _ids(groups: Sequence[int] | None) -> list[int] | None:
    return None if groups is None else [int(g) for g in groups]


def _texts(values) -> list[str] | None:
    return None if values is None else [str(v) for v in values]


def _emails(created_by) -> list[str] | None:
    if created_by is None:
        return None
    if isinstance(created_by, str):
        created_by = [created_by]
    return [email.strip().lower() for email in created_by]


def _with_type_label(frame: pd.DataFrame) -> pd.DataFrame:
    label = frame["remediation_type"].map(labels.remediation_type, na_action="ignore")
    return frame.assign(remediation_type_label=label)


def _with_ticket_status(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the Intune task's status in words (None without a task)."""
    statuses = pd.Series(None, index=frame.index, dtype=object)
    with_task = frame[frame["has_task"].fillna(False).astype(bool)]
    for index, row in zip(with_task.index, with_task.to_dict("records"), strict=True):
        statuses[index] = _ticket_status(row)
    return frame.assign(ticket_status=statuses)


def _ticket_status(row: dict) -> str | None:
    if not row.get("has_task"):
        return None
    return labels.ticket_status(
        _present(row["task_id"]),
        _present(row["task_status"]),
        _present(row["task_create_error"]),
        _present(row["request_cancelled_at"]) is not None,
    )


def _present(value):
    """None for SQL nulls however pandas shows them (None, NaN, NaT)."""
    return None if value is None or pd.isna(value) else value

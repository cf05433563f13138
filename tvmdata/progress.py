"""Progress by device group and over time: what the Device groups page reads.

Every figure comes from our own history of exposure (`exposure_intervals`):
when each device was exposed for each remediation activity, and when that
ended (fixed, no longer reported, or moved to another device group). A device
counts once per activity it is exposed for; attention-required activities have
nothing to monitor and are left out. A *regression* is a device fixed for an
activity and later exposed again for the same activity.

Each function opens the store for one read and closes it. Device groups are
chosen by id (`groups=None`: every group). `now` is a UTC moment (default: the
current time) and "today" is its UTC date; periods are UTC calendar days.

Forecasts: over the last 14 days (or since tracking began, when shorter) the
net fix rate is the devices fixed minus the devices exposed again, per day; at
that rate the devices still exposed give a projected completion date. See
`FLAGS` for what each outcome means.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta

import duckdb
import pandas as pd

from tvmdata import csvout, exports, store
from tvmdata.errors import TvmError

_PARAM = re.compile(r"\$([a-z_]+)")
# The connection `one_reading` holds open for its block, with its settings.
_SHARED: ContextVar[tuple | None] = ContextVar("shared_reading", default=None)
FORECAST_DAYS = 14
MIN_HISTORY_DAYS = 7
# Forecast outcomes, as the page words them (will_miss adds its days).
FLAGS = {
    "finished": "Finished",
    "not_enough_history": "Not enough history",
    "stalled": "Stalled",
    "no_net_progress": "No net progress",
    "no_due_date": "No due date",
    "on_track": "On track",
    "will_miss": "Will miss",
}

GROUP_COLUMNS = {
    "group_name": "Device group",
    "exposed_devices": "Exposed now",
    "fixed_7_days": "Fixed in 7 days",
    "fixed_30_days": "Fixed in 30 days",
    "active_activities": "Active activities",
    "overdue_activities": "Overdue activities",
    "fixed_share": "Share fixed (%)",
    "median_days_to_fix": "Median days to fix",
    "change_30_days": "Change in 30 days",
}
FORECAST_COLUMNS = {
    "activity_id": "Activity id",
    "title": "Remediation activity",
    "group_name": "Device group",
    "exposed_devices": "Still exposed",
    "fixed_14_days": "Fixed in 14 days",
    "regressed_14_days": "Exposed again in 14 days",
    "net_per_day": "Net fixed per day",
    "due_on": "Due date",
    "projected_on": "Projected completion",
    "forecast": "Forecast",
}
GROUP_ACTIVITY_COLUMNS = {
    "activity_id": "Activity id",
    "title": "Remediation activity",
    "priority": "Priority",
    "due_on": "Due date",
    "overdue": "Overdue",
    "exposed_devices": "Still exposed in group",
    "fixed_devices": "Fixed in group",
    "target_devices": "Targeted in group",
    "fixed_share": "Share fixed (%)",
    "projected_on": "Projected completion",
    "forecast": "Forecast",
}
EXPOSED_DEVICE_COLUMNS = {
    "machine_id": "Device id",
    "computer_dns_name": "Device name",
    "os_platform": "OS platform",
    "title": "Remediation activity",
    "exposed_from": "Exposed since",
    "days_exposed": "Days exposed",
    "regressed": "Exposed again after a fix",
}
BURNDOWN_COLUMNS = {"day": "Day", "exposed_devices": "Still exposed"}
REGRESSION_COUNT_COLUMNS = {
    "group_name": "Device group",
    "regressions": "Exposed again after a fix",
    "still_exposed": "Of which still exposed",
}
REGRESSION_COLUMNS = {
    "group_name": "Device group",
    "title": "Remediation activity",
    "activity_id": "Activity id",
    "machine_id": "Device id",
    "computer_dns_name": "Device name",
    "fixed_on": "Fixed on",
    "exposed_again_on": "Exposed again on",
    "status": "Status now",
}
MONTH_COLUMNS = {
    "group_name": "Device group",
    "fixed_this_month": "Fixed this month",
    "fixed_last_month": "Fixed last month",
    "completed_this_month": "Activities completed this month",
    "completed_last_month": "Activities completed last month",
    "overdue_now": "Overdue now",
    "overdue_end_of_last_month": "Overdue at the end of last month",
}
REPORT_COLUMNS = {
    "level": "Level",
    "group_name": "Device group",
    "activity_id": "Activity id",
    "title": "Remediation activity",
    "priority": "Priority",
    "due_on": "Due date",
    "status": "Status",
    "period_start": "Period start",
    "period_end": "Period end",
    "exposed_at_start": "Exposed at start",
    "exposed_at_end": "Exposed at end",
    "fixed": "Fixed in period",
    "regressions": "Exposed again in period",
    "median_days_to_fix": "Median days to fix",
    "completed_activities": "Activities completed in period",
    "overdue_activities": "Overdue activities at end",
}
# Shares (0..1) that CSV files write as percentages, e.g. 57.1.
PERCENT_COLUMNS = ("fixed_share",)


class PeriodNotValid(TvmError):
    """A report period whose first day comes after its last."""


def load_group_progress(
    settings, groups: Sequence[int] | None = None, now: datetime | None = None
) -> pd.DataFrame:
    """One row per device group: where its remediation stands.

    Returns:
        Columns group_id, group_name, exposed_devices (now, for active
        activities), fixed_7_days, fixed_30_days, active_activities,
        overdue_activities, fixed_share (fixed of targeted across active
        activities, 0..1; None without targets), median_days_to_fix (from the
        activity's creation to each tracked fix, one decimal; None without
        fixes), exposed_30_days_ago, change_30_days; by name, Unassigned last.
    """
    return _fetch(settings, "group_progress", now, groups=_ids(groups))


def load_group_burndown(settings, group_id: int, now: datetime | None = None):
    """Devices of one group still exposed for the activities active now, at the
    end of each UTC day since its first tracked exposure (today: at `now`).

    Returns:
        Columns day, exposed_devices, oldest first; empty without history.
    """
    return _fetch(settings, "group_burndown", now, group_id=int(group_id))


def load_group_activities(settings, group_id: int, now: datetime | None = None):
    """The active activities with devices in one group, with the group's own
    progress and forecast.

    Returns:
        Columns activity_id, title, priority, due_on, overdue,
        exposed_devices, fixed_devices, target_devices (in the group, each
        device's latest state), fixed_share, the forecast columns of
        `load_forecasts` (fixed_14_days … days_late) and forecast (its words);
        overdue first, then by due date and title.
    """
    frame = _fetch(settings, "group_activities", now, group_id=int(group_id))
    return _with_forecast_words(frame)


def load_group_exposed_devices(
    settings, group_id: int, now: datetime | None = None
) -> pd.DataFrame:
    """The devices of one group still exposed, one row per device and activity.

    Returns:
        Columns machine_id, computer_dns_name, os_platform, activity_id, title,
        exposed_from, days_exposed (whole days up to `now`), regressed (exposed
        again after a fix); longest exposed first.
    """
    return _fetch(settings, "group_exposed_devices", now, group_id=int(group_id))


def load_forecasts(
    settings, groups: Sequence[int] | None = None, now: datetime | None = None
) -> pd.DataFrame:
    """The forecast of each active activity with devices in `groups`: a row for
    the whole activity, then one per chosen group it has devices in.

    Returns:
        Columns activity_id, title, priority, whole_activity, group_id (None for
        the whole activity), group_name ("Whole activity" there),
        exposed_devices, fixed_14_days, regressed_14_days, net_per_day (None
        under 7 days of history), tracked_since, due_on, projected_on (None
        when nothing can be projected), flag (a key of `FLAGS`), days_late
        (for will_miss), forecast (the flag in words, e.g. "will miss by 3
        days").
    """
    frame = _fetch(settings, "forecast_rows", now, groups=_ids(groups))
    return _with_forecast_words(frame)


def load_regressions(
    settings,
    groups: Sequence[int] | None = None,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Devices fixed and then exposed again for the same activity, exposed
    again during the period (`start`..`end`, whole UTC days; default the 30
    days ending today); newest first.

    Returns:
        Columns group_id, group_name, activity_id, title, machine_id,
        computer_dns_name, fixed_on, exposed_again_on, status ("Exposed",
        "Fixed again", "Moved" or "No longer reported").
    """
    params = _period(start, end, now)
    return _fetch(settings, "group_regressions", now, groups=_ids(groups), **params)


def count_regressions(
    settings,
    groups: Sequence[int] | None = None,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Per device group, the regressions of the period (as `load_regressions`).

    Returns:
        Columns group_id, group_name, regressions, still_exposed; every chosen
        group, by name with Unassigned last.
    """
    params = _period(start, end, now)
    return _fetch(
        settings, "group_regression_counts", now, groups=_ids(groups), **params
    )


def load_month_comparison(
    settings, groups: Sequence[int] | None = None, now: datetime | None = None
) -> pd.DataFrame:
    """This UTC calendar month against the last, per device group.

    Returns:
        Columns group_id, group_name, fixed_this_month, fixed_last_month,
        completed_this_month, completed_last_month (activities with devices
        in the group), overdue_now, overdue_end_of_last_month.
    """
    return _fetch(settings, "group_months", now, groups=_ids(groups))


def load_progress_report(
    settings,
    groups: Sequence[int] | None = None,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Per-group and per-activity figures of a period, for a monthly review.

    The period is `start`..`end` in whole UTC days (default: the 30 days ending
    today); a period reaching past `now` ends at `now`.

    Returns:
        One row per chosen device group (level "group"), then one per activity
        with devices in those groups that was active during the period (level
        "activity", its figures over the chosen groups' devices). Columns
        level, group_id, group_name, activity_id, title, priority, due_on,
        status, exposed_at_start, exposed_at_end, fixed, regressions,
        median_days_to_fix, completed_activities (group rows),
        overdue_activities (group rows: how many; activity rows: 1 when the
        activity was overdue at the end, else 0), overdue_at_end (activity
        rows), period_start, period_end.

    Raises:
        PeriodNotValid: `start` is after `end`.
    """
    params = _period(start, end, now)
    frame = _fetch(
        settings, "group_progress_report", now, groups=_ids(groups), **params
    )
    # One overdue column for both levels: an activity row counts itself.
    itself = frame["overdue_at_end"].map({True: 1, False: 0})
    overdue = frame["overdue_activities"].astype("Int64").fillna(itself.astype("Int64"))
    return frame.assign(
        overdue_activities=overdue,
        period_start=params["first_day"],
        period_end=params["end_day"],
    )


def default_period(now: datetime | None = None) -> tuple[date, date]:
    """The 30 UTC days ending today."""
    today = _now(now).date()
    return today - timedelta(days=29), today


def forecast_words(flag: str | None, days_late) -> str:
    """A forecast flag as the page says it, e.g. "Will miss by 3 days"."""
    if flag is None or pd.isna(flag):
        return ""
    if flag != "will_miss":
        return FLAGS.get(flag, flag)
    days = int(days_late)
    return f"Will miss by {days} day" + ("" if days == 1 else "s")


def table_csv(frame: pd.DataFrame, columns: dict, as_of: str) -> bytes:
    """One of this module's frames as CSV bytes, through the shared writer.

    Args:
        frame: a frame returned here, holding every key of `columns`.
        columns: which columns, in order, with their header names (one of
            the `*_COLUMNS` of this module).
        as_of: which sync the data comes from (`store.describe_as_of`).
    """
    chosen = csvout.calendar_days(frame[list(columns)])
    shares = [c for c in PERCENT_COLUMNS if c in columns]
    chosen = chosen.assign(**{c: (chosen[c] * 100).round(1) for c in shares})
    named = chosen.rename(columns=columns)
    return csvout.build_csv(named, list(columns.values()), as_of)


def file_name(kind: str, group_names: Sequence[str] | None, synced_at, period=None):
    """A download's file name naming its groups and one date, e.g.
    `device-groups-finance-hr-2026-12-03.csv` (the sync's day) or
    `regressions-finance-2026-11-04-to-2026-12-03.csv` (the period's days).

    Args:
        kind: what the file holds ("device-groups", "forecasts", ...).
        group_names: the chosen groups' names; None for every group.
        synced_at: when the sync the data comes from finished (None before
            any); names the file when there is no period.
        period: (first day, last day) of a report over a period.
    """
    scope = ["all-groups"] if group_names is None else list(group_names)
    if period is None:
        return exports.export_file_name(kind, scope, synced_at)
    span = f"{period[0]:%Y-%m-%d}-to-{period[1]:%Y-%m-%d}"
    return exports.file_name([kind, *scope, span])


def _with_forecast_words(frame: pd.DataFrame) -> pd.DataFrame:
    words = [
        forecast_words(flag, late)
        for flag, late in zip(frame["flag"], frame["days_late"], strict=True)
    ]
    return frame.assign(forecast=words)


def _period(start: date | None, end: date | None, now: datetime | None) -> dict:
    moment = _now(now)
    first, last = default_period(moment)
    first, last = start or first, end or last
    if first > last:
        raise PeriodNotValid(
            f"The period starts on {first:%d %b %Y}, after its last day "
            f"{last:%d %b %Y}: choose a first day on or before the last."
        )
    ends_at = datetime.combine(last + timedelta(days=1), time(), UTC)
    return {
        "start": datetime.combine(first, time(), UTC),
        "end": min(ends_at, moment),
        "end_day": min(last, moment.date()),
        "first_day": first,
    }


def _fetch(settings, name: str, now: datetime | None, **params) -> pd.DataFrame:
    moment = _now(now)
    values = {"today": moment.date(), "now": moment, **params}
    # DuckDB refuses values a query does not name: bind only those it uses.
    used = set(_PARAM.findall(store.sql(name)))
    with _reading(settings) as con:
        return store.fetch_frame(
            con, name, {k: v for k, v in values.items() if k in used}
        )


@contextmanager
def one_reading(settings) -> Iterator[None]:
    """Let every load in the block share one open database (opening it and
    defining the read macros costs tens of milliseconds each time)."""
    with _open_for_reading(settings) as con:
        token = _SHARED.set((settings, con))
        try:
            yield
        finally:
            _SHARED.reset(token)


@contextmanager
def _reading(settings) -> Iterator[duckdb.DuckDBPyConnection]:
    shared = _SHARED.get()
    if shared is not None and shared[0] == settings:
        yield shared[1]
        return
    with _open_for_reading(settings) as con:
        yield con


@contextmanager
def _open_for_reading(settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with store.open_store(settings) as con:
        store.run_script(con, "read_macros")
        store.run_script(con, "group_macros")
        yield con


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _ids(groups: Sequence[int] | None) -> list[int] | None:
    return None if groups is None else [int(g) for g in groups]

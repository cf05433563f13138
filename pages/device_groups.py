"""Device groups: progress per device group and over time, the managers' view.

A row of the group table (or `?group=<id>` in the address) opens that group's
view: its burn-down, its activities with the group's own progress and
forecast, and its devices still exposed. Below: forecasts, regressions, this
month against the last, and the progress report of a chosen period.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import charts
from pages.common import (
    current_actor,
    data_version,
    follow_table_selection,
    forget_table_selection,
    load_or_last,
    plain,
    require_frame,
    selectable_table,
    selected_groups,
    settings_or_stop,
)
from tvmdata import labels, progress, store

require_frame()

TABLE_KEY = "group_table"
PERIOD_KEY = "groups_period"
_SHOWN_IDS = "group_table_shown_ids"
DAY = "D MMM YYYY"
COUNTING = (
    "Figures come from our sync history of each device's exposure. A device "
    "counts once per activity it is exposed for; attention-required activities "
    "have nothing to monitor and are left out."
)
FORECAST_CAPTION = (
    "How it is worked out: over the last 14 days (or since we began tracking, "
    "if that is shorter) we count the devices fixed, take away the devices that "
    "were fixed and then exposed again, and divide by the days. At that pace, "
    "the devices still exposed give the projected completion date. **On track**: "
    "projected on or before the due date. **Will miss by N days**: projected N "
    "days after it. **Stalled**: no device fixed in 14 days. **Not enough "
    "history**: tracked for under 7 days. **Finished**: no device left exposed. "
    "**No net progress**: as many devices exposed again as fixed. "
    "Attention-required activities have no forecast."
)


@st.cache_data(show_spinner=False, ttl=3600)
def _overview(db, run_id, groups, hour, period, _now, _settings) -> dict:
    # Keyed by the sync, the groups, the hour and the period, so each view's
    # CSV files are built once.
    scope = list(groups) if groups is not None else None
    start, end = period
    status = store.load_sync_status(_settings)
    as_of = store.describe_as_of(status)
    with progress.one_reading(_settings):
        table = progress.load_group_progress(_settings, scope, _now)
        frames = {
            "groups": table,
            "forecasts": progress.load_forecasts(_settings, scope, _now),
            "regressions": progress.load_regressions(
                _settings, scope, start, end, _now
            ),
            "regression_counts": progress.count_regressions(
                _settings, scope, start, end, _now
            ),
            "months": progress.load_month_comparison(_settings, scope, _now),
            "report": progress.load_progress_report(_settings, scope, start, end, _now),
        }
    names = None if scope is None else table["group_name"].tolist()
    files = {
        "groups": _file(table, progress.GROUP_COLUMNS, as_of, "device-groups"),
        "forecasts": _file(
            frames["forecasts"], progress.FORECAST_COLUMNS, as_of, "forecasts"
        ),
        "regressions": _file(
            frames["regressions"], progress.REGRESSION_COLUMNS, as_of, "regressions"
        ),
        "regression_counts": _file(
            frames["regression_counts"],
            progress.REGRESSION_COUNT_COLUMNS,
            as_of,
            "regressions-per-group",
        ),
        "months": _file(frames["months"], progress.MONTH_COLUMNS, as_of, "months"),
        "report": _file(
            frames["report"], progress.REPORT_COLUMNS, as_of, "progress-report"
        ),
    }
    for key in ("regressions", "regression_counts", "report"):
        files[key]["name"] = progress.file_name(
            files[key]["kind"], names, status.get("succeeded_at"), period
        )
    for key in ("groups", "forecasts", "months"):
        files[key]["name"] = progress.file_name(
            files[key]["kind"], names, status.get("succeeded_at")
        )
    return {"status": status, "frames": frames, "files": files}


@st.cache_data(show_spinner=False, ttl=3600)
def _group_view(db, run_id, group_id, hour, _now, _settings) -> dict | None:
    with progress.one_reading(_settings):
        found = progress.load_group_progress(_settings, [group_id], _now)
        if found.empty:
            return None
        frames = {
            "burndown": progress.load_group_burndown(_settings, group_id, _now),
            "activities": progress.load_group_activities(_settings, group_id, _now),
            "devices": progress.load_group_exposed_devices(_settings, group_id, _now),
        }
    status = store.load_sync_status(_settings)
    as_of = store.describe_as_of(status)
    name = found.iloc[0]["group_name"]
    files = {
        "burndown": _file(
            frames["burndown"], progress.BURNDOWN_COLUMNS, as_of, "burndown"
        ),
        "activities": _file(
            frames["activities"],
            progress.GROUP_ACTIVITY_COLUMNS,
            as_of,
            "group-activities",
        ),
        "devices": _file(
            frames["devices"], progress.EXPOSED_DEVICE_COLUMNS, as_of, "exposed-devices"
        ),
    }
    for entry in files.values():
        entry["name"] = progress.file_name(
            entry["kind"], [name], status.get("succeeded_at")
        )
    return {"row": found.iloc[0], "frames": frames, "files": files}


def _file(frame, columns: dict, as_of: str, kind: str) -> dict:
    # The CSV itself is built when the button is clicked (see `download`).
    return {"frame": frame, "columns": columns, "as_of": as_of, "kind": kind}


def page_now() -> tuple[datetime, str]:
    """Now in UTC, and the hour that keys the cache (figures refresh hourly and
    at every sync)."""
    now = datetime.now(UTC)
    return now, f"{now:%Y-%m-%d %H}"


def chosen_period(now: datetime) -> tuple[date, date]:
    """The period of the date-range input; the default (last 30 days) while a
    range is half chosen. A period reaching past today ends today, and a
    caption says so (the input takes any day, so typing one is no error)."""
    default = progress.default_period(now)
    today = now.date()
    if PERIOD_KEY not in st.session_state:
        st.session_state[PERIOD_KEY] = default
    st.date_input(
        "Period for regressions and the progress report (UTC days)",
        key=PERIOD_KEY,
        format="YYYY-MM-DD",
    )
    chosen = st.session_state[PERIOD_KEY]
    if not (isinstance(chosen, (tuple, list)) and len(chosen) == 2):
        st.caption("Choose the period's last day; the last 30 days show until then.")
        return default
    first, last = chosen
    if last <= today:
        return first, last
    st.caption(
        f"The period ends today, {labels.day(today)}: there are no figures "
        "after it yet."
    )
    return min(first, today), today


# Selection: table positions become a group id in the address at once.


def follow_selection() -> None:
    """A row chosen in the group table becomes `?group=<id>`, before the page
    draws."""
    follow_table_selection(TABLE_KEY, "group", _SHOWN_IDS)


def close_group() -> None:
    """Forget the chosen group (a callback)."""
    forget_table_selection(TABLE_KEY, "group")


def chosen_group() -> int | None:
    raw = st.query_params.get("group")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        st.warning(
            f"No device group has the id {plain(repr(raw))}: choose one in the table."
        )
        return None


def download(label: str, entry: dict, key: str, help: str | None = None) -> None:
    st.download_button(
        label,
        data=lambda: progress.table_csv(
            entry["frame"], entry["columns"], entry["as_of"]
        ),
        file_name=entry["name"],
        mime="text/csv",
        on_click="ignore",
        key=key,
        help=help,
    )


# Rendering


def render_group_table(table: pd.DataFrame, files: dict) -> None:
    st.subheader("Device groups")
    st.caption(
        f"{COUNTING} Choose a row to open the group. Click a column's heading to sort."
    )
    selectable_table(
        table,
        TABLE_KEY,
        _SHOWN_IDS,
        [int(i) for i in table["group_id"]],
        column_order=list(progress.GROUP_COLUMNS),
        column_config={
            "group_name": st.column_config.TextColumn("Device group"),
            "exposed_devices": st.column_config.NumberColumn(
                "Exposed now", help="Devices still exposed for active activities."
            ),
            "fixed_7_days": st.column_config.NumberColumn("Fixed, 7 days"),
            "fixed_30_days": st.column_config.NumberColumn("Fixed, 30 days"),
            "active_activities": st.column_config.NumberColumn(
                "Active activities", help="Active activities with devices here."
            ),
            "overdue_activities": st.column_config.NumberColumn("Overdue"),
            "fixed_share": st.column_config.ProgressColumn(
                "Share fixed",
                min_value=0.0,
                max_value=1.0,
                format="percent",
                help="Fixed of the devices active activities target here.",
            ),
            "median_days_to_fix": st.column_config.NumberColumn(
                "Median days to fix",
                format="%.1f",
                help="From the request (the activity's creation) to the fix, "
                "over every fix tracked here.",
            ),
            "change_30_days": st.column_config.NumberColumn(
                "Change, 30 days",
                help="Exposed now minus exposed 30 days ago: below zero is progress.",
            ),
        },
    )
    download("Download the device groups (CSV)", files["groups"], "export_groups")


def render_group_view(view: dict, today: date) -> None:
    row, frames, files = view["row"], view["frames"], view["files"]
    with st.container(border=True):
        heading, close = st.columns([4, 1], vertical_alignment="center")
        heading.subheader(plain(row["group_name"]))
        close.button("Close group", icon=":material/close:", on_click=close_group)
        exposed, fixed, active, overdue = st.columns(4)
        change = row["change_30_days"]
        exposed.metric(
            "Exposed now",
            int(row["exposed_devices"]),
            delta=None if pd.isna(change) else int(change),
            delta_color="inverse",
            help="Change over 30 days.",
        )
        fixed.metric("Fixed in 30 days", int(row["fixed_30_days"]))
        active.metric("Active activities", int(row["active_activities"]))
        overdue.metric("Overdue activities", int(row["overdue_activities"]))
        render_burndown(frames["burndown"], frames["activities"])
        download("Download the burn-down (CSV)", files["burndown"], "export_burndown")
        render_group_activities(frames["activities"], files)
        render_exposed_devices(frames["devices"], files)


def render_burndown(burndown: pd.DataFrame, activities: pd.DataFrame) -> None:
    st.markdown("**Burn-down** of the devices still exposed for the active activities")
    if burndown.empty:
        st.info("No active activity has tracked devices in this group.")
        return
    figure = go.Figure(
        go.Scatter(
            x=burndown["day"],
            y=burndown["exposed_devices"],
            mode="lines",
            name="Still exposed",
            line={"shape": "hv", "color": "#0078d4"},
        )
    )
    dues = activities.dropna(subset=["due_on"])
    if not dues.empty:
        figure.add_trace(
            go.Scatter(
                x=dues["due_on"],
                y=[0] * len(dues),
                mode="markers",
                name="Due dates",
                marker={"symbol": "triangle-up", "size": 11, "color": "#d13438"},
                text=dues["title"],
                hovertemplate="%{text}<br>due %{x|%-d %b %Y}<extra></extra>",
            )
        )
    charts.day_axis(figure, [*burndown["day"], *dues["due_on"]])
    figure.update_yaxes(title="Devices", rangemode="tozero")
    figure.update_layout(legend={"orientation": "h"}, margin={"t": 10}, height=320)
    st.plotly_chart(figure, width="stretch")


def render_group_activities(activities: pd.DataFrame, files: dict) -> None:
    st.markdown("**Activities** with devices in this group, with the group's progress")
    if activities.empty:
        st.info("No active activity has devices in this group.")
    else:
        st.dataframe(
            activities,
            hide_index=True,
            width="stretch",
            placeholder="",
            column_order=[
                "title",
                "priority",
                "due_on",
                "overdue",
                "exposed_devices",
                "fixed_devices",
                "fixed_share",
                "projected_on",
                "forecast",
            ],  # fmt: skip
            column_config={
                "title": st.column_config.TextColumn("Remediation activity"),
                "priority": st.column_config.TextColumn("Priority"),
                "due_on": st.column_config.DateColumn("Due date", format=DAY),
                "overdue": st.column_config.CheckboxColumn("Overdue"),
                "exposed_devices": st.column_config.NumberColumn("Still exposed"),
                "fixed_devices": st.column_config.NumberColumn("Fixed"),
                "fixed_share": st.column_config.ProgressColumn(
                    "Share fixed", min_value=0.0, max_value=1.0, format="percent"
                ),
                "projected_on": st.column_config.DateColumn(
                    "Projected completion", format=DAY
                ),
                "forecast": st.column_config.TextColumn("Forecast"),
            },
        )
    download(
        "Download this group's activities (CSV)",
        files["activities"],
        "export_group_activities",
    )


def render_exposed_devices(devices: pd.DataFrame, files: dict) -> None:
    st.markdown("**Devices still exposed**, longest first")
    if devices.empty:
        st.success("No device in this group is exposed for an active activity.")
    else:
        st.dataframe(
            devices,
            hide_index=True,
            width="stretch",
            placeholder="",
            column_order=[
                "computer_dns_name",
                "os_platform",
                "title",
                "exposed_from",
                "days_exposed",
                "regressed",
            ],  # fmt: skip
            column_config={
                "computer_dns_name": st.column_config.TextColumn("Device"),
                "os_platform": st.column_config.TextColumn("OS platform"),
                "title": st.column_config.TextColumn("Remediation activity"),
                "exposed_from": st.column_config.DatetimeColumn(
                    "Exposed since", format=DAY
                ),
                "days_exposed": st.column_config.NumberColumn("Days exposed"),
                "regressed": st.column_config.CheckboxColumn(
                    "Exposed again", help="Fixed before, then exposed again."
                ),
            },
        )
    download(
        "Download this group's exposed devices (CSV)",
        files["devices"],
        "export_group_devices",
    )


def render_forecasts(forecasts: pd.DataFrame, files: dict) -> None:
    st.subheader("Forecasts")
    st.caption(FORECAST_CAPTION)
    if forecasts.empty:
        st.info("No active activity has tracked devices in the chosen groups.")
    else:
        st.dataframe(
            forecasts,
            hide_index=True,
            width="stretch",
            placeholder="",
            # "Will we make it?" first: the forecast beside the activity and
            # its scope, the figures behind it after; the activity stays put
            # while the table scrolls sideways.
            column_order=[
                "title",
                "group_name",
                "forecast",
                "due_on",
                "projected_on",
                "exposed_devices",
                "fixed_14_days",
                "regressed_14_days",
                "net_per_day",
            ],  # fmt: skip
            column_config={
                "title": st.column_config.TextColumn(
                    "Remediation activity", width=240, pinned=True
                ),
                "group_name": st.column_config.TextColumn("Scope"),
                "exposed_devices": st.column_config.NumberColumn("Still exposed"),
                "fixed_14_days": st.column_config.NumberColumn("Fixed, 14 days"),
                "regressed_14_days": st.column_config.NumberColumn(
                    "Exposed again, 14 days"
                ),
                "net_per_day": st.column_config.NumberColumn(
                    "Net fixed per day", format="%.2f"
                ),
                "due_on": st.column_config.DateColumn("Due date", format=DAY),
                "projected_on": st.column_config.DateColumn(
                    "Projected completion", format=DAY
                ),
                "forecast": st.column_config.TextColumn("Forecast"),
            },
        )
    download("Download the forecasts (CSV)", files["forecasts"], "export_forecasts")


def render_regressions(counts, regressions, files: dict, period) -> None:
    st.subheader("Regressions")
    st.caption(
        "Devices fixed and then exposed again for the same activity, exposed "
        f"again from {labels.day(period[0])} to {labels.day(period[1])}."
    )
    counts_column, list_column = st.columns([1, 2])
    with counts_column:
        st.dataframe(
            counts,
            hide_index=True,
            width="stretch",
            column_order=list(progress.REGRESSION_COUNT_COLUMNS),
            column_config={
                "group_name": st.column_config.TextColumn("Device group"),
                "regressions": st.column_config.NumberColumn("Exposed again"),
                "still_exposed": st.column_config.NumberColumn("Still exposed"),
            },
        )
        download(
            "Download the regression counts (CSV)",
            files["regression_counts"],
            "export_regression_counts",
        )
    with list_column:
        if regressions.empty:
            st.success("No device was exposed again after a fix in this period.")
        else:
            st.dataframe(
                regressions,
                hide_index=True,
                width="stretch",
                placeholder="",
                column_order=[
                    "group_name",
                    "computer_dns_name",
                    "title",
                    "fixed_on",
                    "exposed_again_on",
                    "status",
                ],  # fmt: skip
                column_config={
                    "group_name": st.column_config.TextColumn("Device group"),
                    "computer_dns_name": st.column_config.TextColumn("Device"),
                    "title": st.column_config.TextColumn("Remediation activity"),
                    "fixed_on": st.column_config.DatetimeColumn("Fixed on", format=DAY),
                    "exposed_again_on": st.column_config.DatetimeColumn(
                        "Exposed again on", format=DAY
                    ),
                    "status": st.column_config.TextColumn("Now"),
                },
            )
        download(
            "Download the regressions (CSV)", files["regressions"], "export_regressions"
        )


def render_months(months: pd.DataFrame, files: dict, today: date) -> None:
    st.subheader("This month against last month")
    st.caption(
        f"UTC calendar months: {today:%B %Y} so far against the whole of the "
        "month before. Overdue is counted at the last month's end, and today for "
        "this month."
    )
    st.dataframe(
        months,
        hide_index=True,
        width="stretch",
        column_order=list(progress.MONTH_COLUMNS),
        column_config={
            "group_name": st.column_config.TextColumn("Device group"),
            "fixed_this_month": st.column_config.NumberColumn("Fixed, this month"),
            "fixed_last_month": st.column_config.NumberColumn("Fixed, last month"),
            "completed_this_month": st.column_config.NumberColumn(
                "Completed, this month", help="Activities with devices here."
            ),
            "completed_last_month": st.column_config.NumberColumn(
                "Completed, last month"
            ),
            "overdue_now": st.column_config.NumberColumn("Overdue now"),
            "overdue_end_of_last_month": st.column_config.NumberColumn(
                "Overdue, end of last month"
            ),
        },
    )
    download("Download the month comparison (CSV)", files["months"], "export_months")


def render_report(files: dict, period) -> None:
    st.subheader("Progress report")
    st.caption(
        f"Per device group and per activity, {labels.day(period[0])} to "
        f"{labels.day(period[1])}, in one file for the monthly review: devices "
        "exposed at the start and the end, fixed, exposed again, median days "
        "to fix, activities completed and overdue. Choose the period above."
    )
    download(
        "Download the progress report (CSV)",
        files["report"],
        "export_report",
        help="The chosen device groups and period.",
    )


settings = settings_or_stop()
now, hour = page_now()
today = now.date()
follow_selection()
groups = selected_groups()
scope = tuple(groups) if groups is not None else None

st.title("Device groups")
period = chosen_period(now)
overview = load_or_last(
    "device groups",
    lambda: _overview(*data_version(settings), scope, hour, period, now, settings),
)
frames, files = overview["frames"], overview["files"]
st.caption(labels.data_as_of(overview["status"]))

render_group_table(frames["groups"], files)
group_id = chosen_group()
if group_id is not None and not current_actor().sees_group(group_id):
    # A group outside the user's scope is answered as an unknown one.
    st.warning(f"No device group has the id {group_id}: choose one in the table.")
    group_id = None
if group_id is not None:
    view = load_or_last(
        f"device group {group_id}",
        lambda: _group_view(*data_version(settings), group_id, hour, now, settings),
    )
    if view is None:
        st.warning(f"No device group has the id {group_id}: choose one in the table.")
    else:
        render_group_view(view, today)
render_forecasts(frames["forecasts"], files)
render_regressions(frames["regression_counts"], frames["regressions"], files, period)
render_months(frames["months"], files, today)
render_report(files, period)

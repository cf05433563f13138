"""Home: where remediation stands for the chosen device groups, at a glance."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import charts
from pages.common import (
    data_version,
    load_or_last,
    plain,
    require_frame,
    selected_groups,
    settings_or_stop,
)
from tvmdata import labels, views

require_frame()

REMEDIATION_PAGE = "pages/remediation.py"
TOP_ORDER = (
    "Overdue first, then nearest due date, then most exposed devices; "
    "attention-required activities have no due date and are left out."
)
IN_GROUPS = (
    "Progress counts devices in selected groups, from when our tracking of each "
    "activity began; activities with every such device fixed are left out."
)
REMEDIATED_HELP = (
    "Fixed of targeted devices, added up over active activities only: "
    "completed activities are left out, and attention-required ones have no "
    "device progress. The change is over the last 7 days."
)
OVER_TIME_CAPTION = (
    "Every tracked activity, active and completed, day by day from our sync "
    "history, so it counts more than the Devices remediated tile, which adds up "
    "active activities only."
)
OVERDUE_CAPTION = (
    "An activity that covers several device groups counts once in each of them, "
    "so the bars can add up to more than the Overdue activities tile."
)
PRIORITY_COLORS = {"High": "#d13438", "Medium": "#ff8c00", "Low": "#0078d4"}
# Defender leaves the priority out of some activities.
NO_PRIORITY = "No priority"


@st.cache_data(show_spinner=False, ttl=3600)
def _home_data(db: str, run_id: int | None, groups: tuple[int, ...] | None, _settings):
    scope = list(groups) if groups is not None else None
    return {
        "kpis": views.load_kpis(_settings, groups=scope),
        "top": views.load_top_activities(_settings, groups=scope),
        "over_time": views.load_remediated_over_time(_settings, groups=scope),
        "counts": views.load_activity_counts(_settings, groups=scope),
        "overdue": views.load_overdue_by_group(_settings, groups=scope),
    }


def due_label(due_on) -> str:
    """A due date as people read it, e.g. "11 Feb 2021"."""
    if due_on is None or pd.isna(due_on):
        return "no due date"
    return labels.day(pd.Timestamp(due_on))


def top_progress(row, in_groups: bool) -> tuple[float, str]:
    """A Top card entry's bar and its words: the chosen groups' devices when
    groups are chosen and our tracking knows them, else the whole activity's."""
    if in_groups and not pd.isna(row.group_target_devices):
        fixed, target = int(row.group_fixed_devices), int(row.group_target_devices)
        if target == 0:
            return 0.0, "No tracked device in the selected groups"
        return fixed / target, f"{fixed} of {target} devices fixed in selected groups"
    fixed = _count(row.fixed_devices)
    target = _count(row.target_devices)
    progress = 0.0 if pd.isna(row.progress) else float(row.progress)
    scope = " (whole activity: not tracked per group yet)" if in_groups else ""
    return progress, f"{fixed} of {target} devices fixed{scope}"


def week_change(kpi: dict) -> int | None:
    """The change over the last 7 days; None without a week-ago figure."""
    if kpi["week_ago"] is None:
        return None
    return kpi["value"] - kpi["week_ago"]


def render_kpis(kpis: dict) -> None:
    active, overdue, remediated, completed = st.columns(4, border=True)
    active.metric(
        "Active activities",
        kpis["active_activities"]["value"],
        delta=week_change(kpis["active_activities"]),
        # More or fewer active activities is neither good nor bad news.
        delta_color="off",
        help="Change over the last 7 days.",
    )
    overdue.metric(
        "Overdue activities",
        kpis["overdue_activities"]["value"],
        delta=week_change(kpis["overdue_activities"]),
        delta_color="inverse",
        help="Change over the last 7 days; more overdue shows red.",
    )
    fixed = kpis["devices_fixed"]["value"]
    targeted = kpis["devices_targeted"]["value"]
    remediated.metric(
        "Devices remediated",
        f"{fixed} of {targeted}",
        delta=week_change(kpis["devices_fixed"]),
        help=REMEDIATED_HELP,
    )
    completed.metric(
        "Completed in the last 30 days",
        kpis["completed_last_30_days"]["value"],
        delta=week_change(kpis["completed_last_30_days"]),
        help="Change over the last 7 days.",
    )


def render_top(top: pd.DataFrame, in_groups: bool) -> None:
    with st.container(border=True):
        heading, show_all = st.columns([4, 1], vertical_alignment="center")
        heading.subheader("Top remediation activities")
        show_all.page_link(
            REMEDIATION_PAGE, label="Show all", icon=":material/arrow_forward:"
        )
        st.caption(f"{TOP_ORDER} {IN_GROUPS}" if in_groups else TOP_ORDER)
        if top.empty:
            st.info(
                "No active activity with a due date in the chosen device groups. "
                "Choose more groups in the sidebar, or create remediation "
                "activities in Defender and run a sync."
            )
            return
        for row in top.itertuples(index=False):
            with st.container(key=f"top_{row.activity_id}"):
                title, due = st.columns([3, 1], vertical_alignment="center")
                title.page_link(
                    REMEDIATION_PAGE,
                    label=plain(row.title),
                    query_params={"activity": row.activity_id},
                )
                marker = " · :red[**Overdue**]" if row.overdue else ""
                due.markdown(f"Due {due_label(row.due_on)}{marker}")
                progress, text = top_progress(row, in_groups)
                st.progress(min(max(progress, 0.0), 1.0), text=text)
                priority = f"{row.priority} priority · " if row.priority else ""
                names = plain(_group_names(row.device_groups)) or "No device group"
                st.caption(f"{priority}{names}")


def render_charts(over_time, counts, overdue) -> None:
    left, right = st.columns(2, border=True)
    with left:
        st.subheader("Devices remediated over time")
        st.caption(OVER_TIME_CAPTION)
        if over_time.empty:
            st.info(
                "Nothing tracked yet for the chosen device groups: the chart "
                "grows with every sync."
            )
        else:
            daily = (
                over_time.groupby("day", as_index=False)[
                    ["fixed_devices", "exposed_devices"]
                ]
                .sum()
                .rename(
                    columns={
                        "fixed_devices": "Fixed",
                        "exposed_devices": "Still exposed",
                    }
                )
            )
            figure = px.area(
                daily,
                x="day",
                y=["Fixed", "Still exposed"],
                labels={"day": "", "value": "Devices", "variable": ""},
                color_discrete_map=charts.DEVICE_COLORS,
            )
            charts.day_axis(figure, daily["day"])
            charts.count_axis(figure, daily["Fixed"] + daily["Still exposed"])
            figure.update_layout(legend={"orientation": "h"}, margin={"t": 10})
            st.plotly_chart(figure, width="stretch")
    with right:
        st.subheader("Activities by status and priority")
        if counts.empty:
            st.info(
                "No activities in the chosen device groups. Choose more groups in "
                "the sidebar, or run a sync."
            )
        else:
            figure = px.bar(
                counts.fillna({"priority": NO_PRIORITY}),
                x="status",
                y="activities",
                color="priority",
                color_discrete_map=PRIORITY_COLORS,
                category_orders={"priority": list(PRIORITY_COLORS)},
                labels={"status": "", "activities": "Activities", "priority": ""},
            )
            figure.update_layout(legend={"orientation": "h"}, margin={"t": 10})
            st.plotly_chart(figure, width="stretch")
    with st.container(border=True):
        st.subheader("Overdue activities by device group")
        st.caption(OVERDUE_CAPTION)
        if overdue.empty or not overdue["overdue_activities"].any():
            st.success("Nothing overdue in the chosen device groups.")
        else:
            figure = px.bar(
                overdue.iloc[::-1],
                x="overdue_activities",
                y="group_name",
                orientation="h",
                labels={"overdue_activities": "Overdue activities", "group_name": ""},
            )
            figure.update_traces(marker_color="#d13438")
            figure.update_layout(
                margin={"t": 10}, height=max(200, 40 * len(overdue) + 80)
            )
            st.plotly_chart(figure, width="stretch")


def render_rejected(rejected: list[dict]) -> None:
    """Intune security tasks IT rejected (in the chosen device groups): the
    requests need another answer."""
    if not rejected:
        return
    with st.container(border=True, key="rejected_tasks"):
        st.subheader("Rejected by IT")
        st.caption(
            "IT rejected these Intune security tasks in Intune. Open the activity "
            "to edit the request, or cancel it."
        )
        for task in rejected:
            who = f" by {task['assigned_to']}" if task["assigned_to"] else ""
            link, when = st.columns([3, 1], vertical_alignment="center")
            link.page_link(
                REMEDIATION_PAGE,
                label=plain(task["title"]),
                query_params={"activity": task["activity_id"]},
            )
            when.markdown(plain(f"Rejected{who}"))


def _count(value) -> int:
    # Defender leaves device counts out of some activities: they show as 0.
    return 0 if value is None or pd.isna(value) else int(value)


def _group_names(groups) -> str:
    if groups is None:
        return ""
    if isinstance(groups, str):
        return groups
    return ", ".join(str(name) for name in groups)


settings = settings_or_stop()
groups = selected_groups()
data = load_or_last(
    f"home {groups}",
    lambda: _home_data(
        *data_version(settings),
        tuple(groups) if groups is not None else None,
        settings,
    ),
)

rejected = load_or_last(
    f"rejected tasks {groups}", lambda: views.load_rejected_tasks(settings, groups)
)

st.title("Remediation overview")
render_kpis(data["kpis"])
render_rejected(rejected)
render_top(data["top"], in_groups=groups is not None)
render_charts(data["over_time"], data["counts"], data["overdue"])

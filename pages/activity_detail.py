"""One remediation activity in full, leading the Remediation page when chosen.

Not a navigation page: `pages/remediation.py` calls `load_activity` and
`render_activity_detail`. Text that comes from Defender or from requesters is
drawn with `st.text`, so nothing in it is read as Markdown. Every date reads
as "11 Sep 2026"; a time is added only where it matters (the completion marked
here, the progress chart).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import plotly.express as px
import streamlit as st

from pages.common import load_or_last
from tvmdata import completion, exports, labels, store, views
from tvmdata.errors import TvmError

CONFIRM_KEY = "detail_confirm_complete"
_COMPLETION_NOTICE = "detail_completion_notice"
FACTS_PER_ROW = 4
DEVICE_TABS = (
    ("Still exposed", ("Exposed",)),
    ("Fixed", ("Fixed",)),
    ("No longer reported", ("No longer reported", "Moved")),
)


@st.cache_data(show_spinner=False)
def _load_detail(_settings, db: str, activity_id: str, sync_id, today):
    return {
        "detail": views.load_activity_detail(_settings, activity_id, today),
        "groups": views.load_activity_group_progress(_settings, activity_id),
        "over_time": views.load_activity_progress_over_time(_settings, activity_id),
        "devices": views.load_activity_device_history(_settings, activity_id),
    }


@st.cache_data(show_spinner=False)
def _devices_csv(_devices, db: str, activity_id: str, sync_id, as_of: str) -> bytes:
    return exports.device_history_csv(_devices, as_of)


def load_activity(settings, activity_id: str, status: dict, today) -> dict:
    """Everything the detail shows; its "detail" is None for an unknown id."""
    return load_or_last(
        f"activity:{activity_id}",
        lambda: _load_detail(
            settings, str(settings.db), activity_id, status.get("succeeded_id"), today
        ),
    )


def unknown_activity_warning(activity_id: str) -> None:
    st.warning(
        f"No remediation activity has the id {activity_id!r}: it may have been "
        "purged, or the link is mistyped."
    )


def detail_facts(detail: dict, today) -> list[tuple[str, str]]:
    """The activity's facts as (label, value) pairs, in the portal's order.

    Completed activities say who completed them and when, whoever did (a user
    here, one in Defender, Defender itself, or nobody known: "N/A").
    Attention-required activities have no due date and no ticket status.
    """
    due = labels.day(detail["due_on"]) or "No due date"
    if detail["overdue"]:
        due += f" ({labels.days_overdue(detail['due_on'], today)})"
    facts = [
        ("Created by", detail["requester_email"] or "Unknown"),
        ("Created on", labels.day(detail["created_on"]) or "Unknown"),
        ("Due date", due),
    ]
    if detail["status"] == "Completed":
        facts += [
            ("Completed by", detail["completed_by"] or "N/A"),
            ("Completed on", labels.day(detail["completed_on"]) or "Unknown"),
        ]
    if detail["has_progress"]:
        facts.append(("Ticket status", detail.get("ticket_status") or "No Intune task"))
    facts.append(("Activity id", detail["activity_id"]))
    return facts


def render_activity_detail(
    settings, loaded: dict, status: dict, today, on_back: Callable[[], None]
) -> None:
    """Draw a known activity's detail, led by its title and a way back."""
    detail = loaded["detail"]
    st.button(
        "All activities",
        icon=":material/arrow_back:",
        type="tertiary",
        on_click=on_back,
        key="detail_back",
    )
    st.title(detail["title"] or detail["activity_id"])
    _render_summary(detail, today)
    _render_completion(settings, detail)
    _render_progress(detail, loaded["groups"], loaded["over_time"])
    _render_devices(settings, detail, loaded["devices"], status)


def _render_summary(detail: dict, today) -> None:
    words = [
        detail["status"],
        f"{detail['priority']} priority",
        detail["remediation_type_label"],
    ]
    if detail["overdue"]:
        words.append(f":red[**{labels.days_overdue(detail['due_on'], today)}**]")
    st.caption(" · ".join(str(w) for w in words if w))
    _render_facts(detail_facts(detail, today))
    if detail["description"]:
        st.text(detail["description"])
    steps = _remediation_steps(detail)
    if steps:
        st.markdown("**Remediation steps**")
        st.text(steps)
    if detail["related_component"]:
        st.text(f"Related component: {detail['related_component']}")
    if detail["related_recommendation_id"]:
        st.markdown("**Related security recommendation**")
        st.text(detail["related_recommendation_name"] or "Name not synced yet")
        st.caption(f"Recommendation id `{_code(detail['related_recommendation_id'])}`")
    if detail["requester_notes"]:
        st.markdown("**Requester notes**")
        st.text(detail["requester_notes"])


def _render_facts(facts: list[tuple[str, str]]) -> None:
    for start in range(0, len(facts), FACTS_PER_ROW):
        row = facts[start : start + FACTS_PER_ROW]
        for column, (label, value) in zip(st.columns(FACTS_PER_ROW), row, strict=False):
            column.caption(label)
            column.text(value)


def _code(text: str) -> str:
    return str(text).replace("`", "")


def _remediation_steps(detail: dict) -> str:
    known = [
        ("Recommended vendor", detail.get("recommended_vendor")),
        ("Recommended program", detail.get("recommended_program")),
        ("Recommended version", detail.get("recommended_version")),
    ]
    return "\n".join(f"{name}: {value}" for name, value in known if value)


def _render_progress(detail: dict, groups, over_time) -> None:
    if not detail["has_progress"]:
        st.caption("Attention required: there is no device progress to track.")
        return

    fixed, target = detail["fixed_devices"] or 0, detail["target_devices"] or 0
    st.progress(
        min(max(float(detail["progress"] or 0), 0.0), 1.0),
        text=f"{fixed} of {target} devices",
    )
    if not groups.empty:
        since = labels.day(groups["tracked_since"].min())
        st.markdown(f"**Per device group** · since tracking began {since}")
        st.dataframe(
            groups[["group_name", "exposed_devices", "fixed_devices"]],
            hide_index=True,
            column_config={
                "group_name": "Device group",
                "exposed_devices": "Exposed devices",
                "fixed_devices": "Fixed devices",
            },
        )
    if not over_time.empty:
        chart = px.line(
            over_time.rename(
                columns={"exposed_devices": "Exposed", "fixed_devices": "Fixed"}
            ),
            x="taken_at",
            y=["Exposed", "Fixed"],
            labels={"taken_at": "Sync", "value": "Devices", "variable": ""},
        )
        chart.update_xaxes(tickformat=labels.PLOT_DAY, hoverformat="%-d %b %Y %H:%M")
        st.plotly_chart(chart, key="detail_progress_over_time")


def split_devices(devices) -> list[tuple[str, object]]:
    """The device tabs: (label with count, rows), still exposed first; the tab of
    devices no longer reported only when there are some."""
    tabs = []
    for name, statuses in DEVICE_TABS:
        rows = devices[devices["status"].isin(statuses)]
        if name == "No longer reported" and rows.empty:
            continue
        tabs.append((f"{name} ({len(rows)})", rows))
    return tabs


def _render_devices(settings, detail: dict, devices, status: dict) -> None:
    st.markdown("**Devices**")
    day = "D MMM YYYY"
    columns = {
        "computer_dns_name": "Device name",
        "os_platform": "OS",
        "group_name": "Device group",
        "first_exposed": st.column_config.DatetimeColumn("First exposed", format=day),
        "fixed_on": st.column_config.DatetimeColumn("Fixed on", format=day),
        "status": "Status",
        "regressed": st.column_config.CheckboxColumn(
            "Exposed again", help="Exposed again after it had been fixed"
        ),
    }
    shown = {
        "Still exposed": ["computer_dns_name", "os_platform", "group_name"]
        + ["first_exposed", "regressed"],
        "Fixed": ["computer_dns_name", "os_platform", "group_name"]
        + ["first_exposed", "fixed_on"],
        "No longer reported": ["computer_dns_name", "os_platform", "group_name"]
        + ["first_exposed", "status"],
    }
    tabs = split_devices(devices)
    for tab, (label, rows) in zip(st.tabs([t[0] for t in tabs]), tabs, strict=True):
        names = shown[label.rsplit(" (", 1)[0]]
        tab.dataframe(
            rows[names],
            hide_index=True,
            column_config={name: columns[name] for name in names},
            placeholder="",
        )
    sync_id = status.get("succeeded_id")
    data = _devices_csv(
        devices,
        str(settings.db),
        detail["activity_id"],
        sync_id,
        store.describe_as_of(status),
    )
    st.download_button(
        "Export devices to CSV",
        data=data,
        file_name=exports.export_file_name(
            "devices", [detail["activity_id"]], status.get("succeeded_at")
        ),
        mime="text/csv",
        on_click="ignore",
        key="detail_export_devices",
        help="Every device ever exposed for this activity, with its status.",
    )


def _render_completion(settings, detail: dict) -> None:
    notice = st.session_state.pop(_COMPLETION_NOTICE, None)
    if notice:
        kind, text = notice
        (st.success if kind == "done" else st.error)(text)

    if detail["completed_here"]:
        when = labels.moment(detail["local_completed_at"])
        line = f"Marked complete here by {detail['local_completed_by']} on {when}"
        if detail["defender_status"] != "Completed":
            line += (
                "; Defender still reports it active until its next sync shows it "
                "completed."
            )
        st.info(line)
    if detail["status"] == "Completed":
        return

    confirmed = st.checkbox(
        "I confirm this activity is done and can be marked complete",
        key=CONFIRM_KEY,
    )
    # A callback runs once per click, never again on later reruns.
    st.button(
        "Mark as complete",
        disabled=not confirmed,
        on_click=_complete,
        args=(settings, detail["activity_id"], _signed_in_email()),
        key="detail_mark_complete",
    )


def _complete(settings, activity_id: str, email: str | None) -> None:
    try:
        recorded = completion.complete_activity(
            settings, activity_id, email, datetime.now(UTC)
        )
    except TvmError as exc:
        st.session_state[_COMPLETION_NOTICE] = ("error", str(exc))
        return
    st.session_state[CONFIRM_KEY] = False
    st.session_state[_COMPLETION_NOTICE] = ("done", f"Marked complete by {recorded}.")
    st.cache_data.clear()


def _signed_in_email() -> str | None:
    if not st.user.get("is_logged_in"):
        return None
    return st.user.get("email")

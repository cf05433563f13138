"""One remediation activity in full, drawn below the Remediation page's list.

Not a navigation page: `pages/remediation.py` calls `render_activity_detail`.
Text that comes from Defender or from requesters is drawn with `st.text`, so
nothing in it is read as Markdown.
"""

from __future__ import annotations

from datetime import UTC, datetime

import plotly.express as px
import streamlit as st

from pages.common import load_or_last
from tvmdata import completion, exports, store, views
from tvmdata.errors import TvmError

CONFIRM_KEY = "detail_confirm_complete"
_COMPLETION_NOTICE = "detail_completion_notice"


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


def render_activity_detail(settings, activity_id: str, status: dict, today) -> None:
    """Draw an activity's detail; one warning when no activity has that id."""
    loaded = load_or_last(
        f"activity:{activity_id}",
        lambda: _load_detail(
            settings, str(settings.db), activity_id, status.get("succeeded_id"), today
        ),
    )
    detail = loaded["detail"]
    if detail is None:
        st.warning(
            f"No remediation activity has the id {activity_id!r}: it may have been "
            "purged, or the link is mistyped."
        )
        return

    st.divider()
    st.subheader(detail["title"] or activity_id)
    _render_summary(detail)
    _render_completion(settings, detail)
    _render_progress(detail, loaded["groups"], loaded["over_time"])
    _render_devices(settings, detail, loaded["devices"], status)


def _render_summary(detail: dict) -> None:
    due = detail["due_on"].isoformat() if detail["due_on"] else "no due date"
    st.caption(
        f"{detail['status']} · {detail['priority']} priority · "
        f"{detail['remediation_type_label']} · due {due}"
        + (" · overdue" if detail["overdue"] else "")
    )
    if detail["description"]:
        st.text(detail["description"])
    steps = _remediation_steps(detail)
    if steps:
        st.markdown("**Remediation steps**")
        st.text(steps)
    if detail["related_component"]:
        st.text(f"Related component: {detail['related_component']}")
    if detail["related_recommendation_id"]:
        st.text(
            "Related security recommendation: "
            f"{detail['related_recommendation_name']} "
            f"({detail['related_recommendation_id']})"
        )
    if detail["requester_notes"]:
        st.markdown("**Requester notes**")
        st.text(detail["requester_notes"])


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
        since = groups["tracked_since"].min()
        st.markdown(f"**Per device group** · since tracking began {since:%Y-%m-%d}")
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
        st.plotly_chart(chart, key="detail_progress_over_time")


def _render_devices(settings, detail: dict, devices, status: dict) -> None:
    st.markdown("**Exposed devices**")
    columns = {
        "computer_dns_name": "Device name",
        "os_platform": "OS",
        "group_name": "Device group",
        "first_exposed": st.column_config.DatetimeColumn(
            "First exposed", format="D MMM YYYY"
        ),
        "fixed_on": st.column_config.DatetimeColumn("Fixed on", format="D MMM YYYY"),
        "status": "Status",
    }
    st.dataframe(
        devices[list(columns)],
        hide_index=True,
        column_config=columns,
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
    )


def _render_completion(settings, detail: dict) -> None:
    notice = st.session_state.pop(_COMPLETION_NOTICE, None)
    if notice:
        kind, text = notice
        (st.success if kind == "done" else st.error)(text)

    if detail["completed_here"]:
        when = detail["local_completed_at"]
        line = (
            f"Marked complete here by {detail['local_completed_by']} on {when:%Y-%m-%d}"
        )
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

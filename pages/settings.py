"""Settings, for administrators: the operational settings users change (stored
in the database), the deployment settings shown read-only, a connection test,
the sync history and the audit log.

Deployment settings (tenant, credentials, hosts, database path, sign-in) are
changed where they live, in environment variables or `.streamlit/secrets.toml`;
no secret is ever shown.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from pages.common import (
    current_actor,
    load_or_last,
    may,
    plain,
    require_frame,
    settings_or_stop,
)
from tvmdata import audit, csvout, demo, intune, opsettings, recommendations
from tvmdata.errors import TvmError

require_frame()

HISTORY_RUNS = 20
AUDIT_SHOWN = 500
# Widget key → field of `opsettings.OperationalSettings`.
FIELDS = {
    "ops_intune_enabled": "intune_enabled",
    "ops_retention_days": "retention_days",
    "ops_archive_before_purge": "archive_before_purge",
    "ops_operator_email": "operator_email",
}
OUTCOMES = {
    "succeeded": "Succeeded",
    "failed": "Failed",
    "running": "Running",
    "interrupted": "Interrupted",
}
_ERRORS = "ops_errors"
_NOTICE = "ops_notice"
_DEMO_NOTICE = "demo_notice"
IT_ANSWERS = {"accept": "Accepted", "reject": "Rejected", "complete": "Completed"}


# Operational settings


def fill_fields(current: opsettings.OperationalSettings) -> None:
    """Put the stored values in the form's fields the first time they show."""
    for key, field in FIELDS.items():
        if key not in st.session_state:
            st.session_state[key] = _shown(field, getattr(current, field))


def _shown(field: str, value):
    return (value or "") if field == "operator_email" else value


def render_operational(settings, current: opsettings.OperationalSettings) -> None:
    st.subheader("Operational settings")
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.success(notice)
    errors = st.session_state.get(_ERRORS, {})
    with st.form("operational_settings"):
        st.toggle("Intune connection", key="ops_intune_enabled")
        st.caption("Creates Intune security tasks from requests (off by default).")
        _field_error(errors, "intune_enabled")
        st.number_input(
            "Retention (days)",
            step=1,
            key="ops_retention_days",
            help="Completed activities are removed this many days after they "
            f"complete (1 to {opsettings.MAX_RETENTION_DAYS:,}).",
        )
        _field_error(errors, "retention_days")
        st.checkbox(
            "Archive before purge",
            key="ops_archive_before_purge",
            help="Write purged activities and their devices to CSV files first.",
        )
        _field_error(errors, "archive_before_purge")
        st.text_input(
            "Operator email",
            key="ops_operator_email",
            help="Used as 'Completed by' and requester when nobody is signed in",
        )
        _field_error(errors, "operator_email")
        for field, message in errors.items():
            if field not in FIELDS.values():
                st.error(plain(message))
        st.form_submit_button(
            "Save settings", type="primary", on_click=_save, args=(settings, current)
        )


def _field_error(errors: dict, field: str) -> None:
    if field in errors:
        st.error(plain(errors[field]))


def _save(settings, current: opsettings.OperationalSettings) -> None:
    changes = {field: st.session_state[key] for key, field in FIELDS.items()}
    changes["retention_days"] = int(changes["retention_days"])
    try:
        saved = opsettings.save_operational(
            settings, changes, _changed_by(current), datetime.now(UTC)
        )
    except opsettings.SettingRefused as exc:
        st.session_state[_ERRORS] = dict(exc.errors)
        return
    except TvmError as exc:
        st.session_state[_ERRORS] = {"store": str(exc)}
        return
    st.session_state.pop(_ERRORS, None)
    # Show the values as stored (an email trimmed, an empty one removed).
    for key, field in FIELDS.items():
        st.session_state[key] = _shown(field, getattr(saved, field))
    st.session_state[_NOTICE] = (
        "Settings saved." if saved != current else "Nothing changed: no setting saved."
    )


def _changed_by(current: opsettings.OperationalSettings):
    actor = current_actor()
    if actor.signed_in:
        return actor
    return current.operator_email or "not signed in"


# Deployment settings and the connection test


def render_deployment(settings) -> None:
    st.subheader("Deployment settings")
    st.caption(
        "Read-only: these come from environment variables (TVM_*) or "
        ".streamlit/secrets.toml and are changed there; the dashboard reads them "
        "when a page loads. Secrets are never shown."
    )
    rows = opsettings.describe_deployment(settings)
    st.dataframe(
        pd.DataFrame(rows, columns=["Setting", "Value"]),
        hide_index=True,
        key="deployment_settings",
    )
    if st.button("Test connection", key="test_connection"):
        with st.spinner("Testing the connections…"):
            try:
                checks = opsettings.check_connections(settings)
            except TvmError as exc:
                st.error(plain(exc))
                return
        for check in checks:
            say = st.info if not check.tested else st.success if check.ok else st.error
            say(plain(f"{check.service}: {check.message}"))


# Demo mode: playing IT


def render_demo_controls(settings) -> None:
    """Let a demo user play IT: fix some of a recommendation's exposed devices
    in the demo emulator, then watch the next sync count them fixed."""
    st.subheader("Demo: play IT")
    st.caption(
        "Fixes devices in the demo emulator, as IT would. The next sync (Sync now "
        "in the sidebar) sees them leave the recommendation's exposed devices, "
        "and requests filed for it make progress."
    )
    notice = st.session_state.pop(_DEMO_NOTICE, None)
    if notice:
        (st.success if notice[0] else st.error)(notice[1])
    choices = load_or_last(
        "demo_recommendations",
        lambda: recommendations.list_recommendations(settings),
    )
    exposed = choices[choices["exposed_devices"] > 0]
    if exposed.empty:
        st.info("No recommendation has exposed devices left to fix.")
    else:
        _render_fix_form(exposed)
    render_task_answers(settings)


def _render_fix_form(exposed) -> None:
    names = dict(zip(exposed["recommendation_id"], exposed["name"], strict=True))
    counts = dict(
        zip(exposed["recommendation_id"], exposed["exposed_devices"], strict=True)
    )
    with st.form("demo_fix_devices"):
        st.selectbox(
            "Recommendation",
            list(names),
            format_func=lambda rec_id: f"{names[rec_id]} ({counts[rec_id]:,} exposed)",
            key="demo_fix_recommendation",
        )
        st.slider(
            "Share of its exposed devices to fix",
            min_value=10,
            max_value=100,
            value=50,
            step=10,
            format="%d%%",
            key="demo_fix_share",
        )
        st.form_submit_button("Fix devices", on_click=_fix_devices)


def render_task_answers(settings) -> None:
    """Let a demo user answer Intune security tasks as IT would."""
    tasks = load_or_last("demo_tasks", lambda: intune.list_tasks(settings))
    if not tasks:
        st.caption(
            "No Intune security task yet: turn the Intune connection on and file "
            "a request with a task to answer it here as IT."
        )
        return
    shown = {t["task_id"]: f"{t['title']} — {t['label']}" for t in tasks}
    with st.form("demo_task_answer"):
        st.selectbox(
            "Intune security task",
            list(shown),
            format_func=shown.get,
            key="demo_task_id",
        )
        st.radio(
            "IT's answer",
            list(IT_ANSWERS),
            format_func=IT_ANSWERS.get,
            horizontal=True,
            key="demo_task_answer",
        )
        st.text_input("Assigned to (optional)", key="demo_task_assignee")
        st.form_submit_button("Answer as IT", on_click=_answer_task)


def _answer_task() -> None:
    state = st.session_state
    try:
        demo.set_task_status(
            state["demo_task_id"],
            state["demo_task_answer"],
            (state.get("demo_task_assignee") or "").strip() or None,
        )
    except TvmError as exc:
        state[_DEMO_NOTICE] = (False, str(exc))
        return
    answer = IT_ANSWERS[state["demo_task_answer"]].lower()
    state[_DEMO_NOTICE] = (
        True,
        f"IT {answer} the task: press Sync now in the sidebar to read the answer back.",
    )


def _fix_devices() -> None:
    rec_id = st.session_state["demo_fix_recommendation"]
    share = st.session_state["demo_fix_share"] / 100
    try:
        fixed = demo.fix_devices(rec_id, share)
    except TvmError as exc:
        st.session_state[_DEMO_NOTICE] = (False, str(exc))
        return
    st.session_state[_DEMO_NOTICE] = (
        True,
        f"IT fixed {len(fixed):,} devices: press Sync now in the sidebar to see "
        "the progress.",
    )


# Sync history


def render_sync_history(history: pd.DataFrame) -> None:
    st.subheader("Sync history")
    st.caption(f"The last {HISTORY_RUNS} sync runs, newest first.")
    shown = history.assign(
        outcome=history["outcome"].map(lambda o: OUTCOMES.get(o, str(o).capitalize()))
    )
    st.dataframe(
        shown,
        hide_index=True,
        placeholder="",
        key="sync_history",
        column_order=[
            "run_id",
            "started_at",
            "finished_at",
            "source",
            "outcome",
            "calls",
            "rows",
            "seconds",
            "error",
        ],
        column_config={
            "run_id": st.column_config.NumberColumn("Run", format="%d"),
            "started_at": st.column_config.DatetimeColumn(
                "Started (UTC)", format="D MMM YYYY HH:mm:ss"
            ),
            "finished_at": st.column_config.DatetimeColumn(
                "Finished (UTC)", format="D MMM YYYY HH:mm:ss"
            ),
            "source": "Started from",
            "outcome": "Outcome",
            "calls": st.column_config.NumberColumn("API calls", format="%d"),
            "rows": st.column_config.NumberColumn("Rows fetched", format="%d"),
            "seconds": st.column_config.NumberColumn("Seconds", format="%.1f"),
            "error": st.column_config.TextColumn("Error", width="large"),
        },
    )


# The audit log


def render_audit_log(settings, entries: pd.DataFrame) -> None:
    st.subheader("Audit log")
    st.caption(
        f"Every change made here, newest first (the last {AUDIT_SHOWN} shown; "
        "the download holds them all)."
    )
    st.dataframe(
        entries,
        hide_index=True,
        placeholder="",
        key="audit_log",
        column_order=list(audit.COLUMNS),
        column_config={
            "logged_at": st.column_config.DatetimeColumn(
                "When (UTC)", format="D MMM YYYY HH:mm:ss"
            ),
            **{k: v for k, v in audit.COLUMNS.items() if k != "logged_at"},
        },
    )
    st.download_button(
        "Download the audit log (CSV)",
        data=lambda: _audit_csv(settings),
        file_name=f"audit-log-{datetime.now(UTC):%Y-%m-%d}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="audit_download",
    )


def _audit_csv(settings) -> bytes:
    now = csvout.timestamp(datetime.now(UTC))
    return audit.entries_csv(audit.load_entries(settings, limit=None), now)


# The page

settings = settings_or_stop()
if not may("settings"):
    st.error(
        f"Settings are for administrators; your role is {current_actor().role}. "
        "Ask an administrator if something here needs changing."
    )
    st.stop()
current = load_or_last(
    "operational_settings", lambda: opsettings.load_operational(settings)
)
history = load_or_last(
    "sync_history", lambda: opsettings.load_sync_history(settings, HISTORY_RUNS)
)

st.title("Settings")
fill_fields(current)
render_operational(settings, current)
render_deployment(settings)
if settings.demo:
    render_demo_controls(settings)
render_sync_history(history)
render_audit_log(
    settings,
    load_or_last("audit_log", lambda: audit.load_entries(settings, AUDIT_SHOWN)),
)

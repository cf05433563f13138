"""One remediation activity in full, leading the Remediation page when chosen.

Not a navigation page: `pages/remediation.py` calls `load_activity` and
`render_activity_detail`. Text that comes from Defender or from requesters is
drawn with `st.text`, so nothing in it is read as Markdown. Every date reads
as "11 Sep 2026"; a time is added only where it matters (the completion marked
here, the progress chart).

An activity filed from this dashboard (source "dashboard") says so, and its
requester may edit or cancel it here. Every write runs in a button's callback,
which runs once per click: a later rerun or a download never repeats it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import plotly.express as px
import streamlit as st

from pages import charts
from pages.common import NOTES_HELP, current_actor, load_or_last, may, plain
from tvmdata import completion, exports, intune, labels, remediation, store, views
from tvmdata.errors import TvmError

RECOMMENDATIONS_PAGE = "pages/recommendations.py"
CONFIRM_KEY = "detail_confirm_complete"
CONFIRM_CANCEL_KEY = "detail_confirm_cancel"
_COMPLETION_NOTICE = "detail_completion_notice"
_REQUEST_NOTICE = "detail_request_notice"
_RETRY_NOTICE = "detail_retry_notice"
# The activity whose "Edit request" form is open (the form shows on demand, so
# the detail does not repeat the notes in an editable copy).
EDITING_KEY = "detail_editing_request"
EDIT_FIELDS = ("due_on", "priority", "notes")
NO_USER_IMPACT_LINE = (
    "Limited to devices with no user impact (stored; progress counts all "
    "exposed devices)"
)
FACTS_PER_ROW = 4
DEVICE_TABS = (
    ("Still exposed", ("Exposed",)),
    ("Fixed", ("Fixed",)),
    ("No longer reported", ("No longer reported", "Moved")),
)


@st.cache_data(show_spinner=False)
def _load_detail(_settings, db: str, activity_id: str, sync_id, today):
    detail = views.load_activity_detail(_settings, activity_id, today)
    own = detail is not None and detail.get("source") == "dashboard"
    return {
        "detail": detail,
        # What was filed here, who filed and cancelled it (None for Defender's).
        "request": remediation.load_request(_settings, activity_id) if own else None,
        "groups": views.load_activity_group_progress(_settings, activity_id),
        "over_time": views.load_activity_progress_over_time(_settings, activity_id),
        "devices": views.load_activity_device_history(_settings, activity_id),
        "group_ids": views.group_ids_named(
            _settings, detail["device_groups"] if detail else []
        ),
    }


def load_activity(settings, activity_id: str, status: dict, today) -> dict:
    """Everything the detail shows; its "detail" is None for an unknown id, or
    one in no device group the user may see."""
    loaded = load_or_last(
        f"activity:{activity_id}",
        lambda: _load_detail(
            settings, str(settings.db), activity_id, status.get("succeeded_id"), today
        ),
    )
    return within_scope(loaded, current_actor().groups)


def within_scope(loaded: dict, scope: frozenset[int] | None) -> dict:
    """The detail as a user limited to `scope` may see it: per-group figures and
    devices of their groups only; whole-activity progress over time only when
    the activity lies within their groups. The headline figures (progress,
    exposed devices) stay whole-activity, as Defender reports them: the
    activity's own record has no per-group split to narrow them with."""
    if scope is None or loaded["detail"] is None:
        return loaded
    ids = set(loaded["group_ids"])
    if not ids & scope:
        return {**loaded, "detail": None}
    groups, devices = loaded["groups"], loaded["devices"]
    over_time = loaded["over_time"]
    return {
        **loaded,
        "groups": groups[groups["group_id"].isin(list(scope))],
        "devices": devices[devices["group_id"].isin(list(scope))],
        "over_time": over_time if ids <= scope else over_time.iloc[0:0],
    }


def unknown_activity_warning(activity_id: str) -> None:
    st.warning(
        f"No remediation activity has the id {plain(repr(activity_id))}: it may "
        "have been "
        "purged, or the link is mistyped."
    )


def edit_key(activity_id: str, field: str) -> str:
    """The session key of a field of the "Edit request" form of an activity."""
    return f"detail_edit_{field}:{activity_id}"


def source_line(detail: dict, request: dict | None) -> str:
    """Where the activity comes from: Defender, or a request filed here (by
    whom and when)."""
    if detail.get("source") != "dashboard":
        return "Synced from Defender"
    requester = (request or {}).get("requested_by") or detail["requester_email"]
    filed_on = (request or {}).get("requested_at") or detail["created_on"]
    return f"Filed from this dashboard by {requester} on {labels.day(filed_on)}"


def cancelled_line(request: dict | None) -> str | None:
    """Who cancelled a request filed here, and when; None when not cancelled."""
    if not request or request.get("cancelled_at") is None:
        return None
    return (
        f"Cancelled by {request['cancelled_by']} on "
        f"{labels.day(request['cancelled_at'])}"
    )


def gone_line(detail: dict) -> str | None:
    """What happened when the recommendation left Defender's list; None while
    Defender still reports it."""
    gone = detail.get("recommendation_gone_since")
    if gone is None or gone != gone:  # None or NaT
        return None
    return (
        f"Defender no longer reports this recommendation (since "
        f"{labels.day(gone)}): its remaining devices were counted as fixed."
    )


def detail_facts(detail: dict, today) -> list[tuple[str, str]]:
    """The activity's facts as (label, value) pairs, in the portal's order
    (the activity id is shown on a line of its own).

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
    st.title(plain(detail["title"] or detail["activity_id"]))
    request = loaded.get("request")
    _render_summary(detail, request, today)
    _render_intune_task(settings, detail)
    _render_completion(settings, detail)
    _render_request_actions(settings, detail, request)
    _render_progress(detail, request, loaded["groups"], loaded["over_time"])
    _render_devices(settings, detail, loaded["devices"], status)


def _render_intune_task(settings, detail: dict) -> None:
    """IT's side: the Intune security task, who in IT has it, and a Retry when
    a call to Graph is still waiting after a failure."""
    if not detail.get("has_task"):
        return
    task = load_or_last(
        f"intune_task:{detail['activity_id']}",
        lambda: intune.load_task(settings, detail["activity_id"]),
    )
    if task is None:
        return
    with st.container(border=True, key="intune_task"):
        st.markdown(f"**Intune security task** · {plain(task['label'])}")
        parts = []
        if task["assigned_to"]:
            parts.append(f"Assigned to {plain(task['assigned_to'])}")
        if task["task_id"]:
            parts.append(f"Task id {task['task_id']}")
        if task["last_read_at"] is not None:
            parts.append(f"read from Intune {labels.day(task['last_read_at'])}")
        if parts:
            st.caption(" · ".join(parts))
        notice = st.session_state.pop(_RETRY_NOTICE, None)
        if notice:
            (st.success if notice[0] else st.error)(plain(notice[1]))
        if task["can_retry"]:
            st.warning(
                plain(task["last_error"] or "A call to Intune is waiting to be sent.")
            )
        if task["can_retry"] and may("request"):
            st.button(
                "Retry",
                key="intune_retry",
                icon=":material/refresh:",
                on_click=_retry_task,
                args=(settings, detail["activity_id"]),
            )


def _retry_task(settings, activity_id: str) -> None:
    try:
        result = intune.retry(settings, activity_id, by=current_actor())
    except TvmError as exc:
        st.session_state[_RETRY_NOTICE] = (False, str(exc))
        return
    error = next(iter(result.errors.values()), None)
    if result.off:
        notice = (False, "The Intune connection is off: turn it on in Settings.")
    elif error:
        notice = (False, error)
    else:
        notice = (True, "Sent to Intune.")
    st.session_state[_RETRY_NOTICE] = notice
    st.cache_data.clear()


def _render_summary(detail: dict, request: dict | None, today) -> None:
    words = [
        detail["status"],
        f"{detail['priority']} priority" if detail["priority"] else None,
        detail["remediation_type_label"],
    ]
    if detail["overdue"]:
        words.append(f":red[**{labels.days_overdue(detail['due_on'], today)}**]")
    st.caption(" · ".join(str(w) for w in words if w))
    st.caption(plain(source_line(detail, request)))
    cancelled = cancelled_line(request)
    if cancelled:
        st.info(plain(cancelled))
    gone = gone_line(detail)
    if gone:
        st.info(gone)
    _render_facts(detail_facts(detail, today))
    # Ids are long: a line of their own, so they never wrap inside a column.
    st.caption(f"Activity id `{_code(detail['activity_id'])}`")
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
        st.page_link(
            RECOMMENDATIONS_PAGE,
            label=plain(detail["related_recommendation_name"] or "Name not synced yet"),
            icon=":material/arrow_forward:",
            query_params={"recommendation": detail["related_recommendation_id"]},
        )
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


def _render_progress(detail: dict, request: dict | None, groups, over_time) -> None:
    if not detail["has_progress"]:
        st.caption("Attention required: there is no device progress to track.")
        return

    if detail.get("target_scope") == remediation.NO_USER_IMPACT:
        st.caption(NO_USER_IMPACT_LINE)
    fixed, target = detail["fixed_devices"] or 0, detail["target_devices"] or 0
    st.progress(
        min(max(float(detail["progress"] or 0), 0.0), 1.0),
        text=f"{fixed} of {target} devices",
    )
    tracked = tracking_line(detail, request, groups)
    if tracked:
        st.caption(tracked)
    if not groups.empty:
        st.markdown(f"**Per device group** · {_counted_since(detail, request, groups)}")
        st.dataframe(
            groups[["group_name", "exposed_devices", "fixed_devices"]],
            hide_index=True,
            column_config={
                "group_name": "Device group",
                "exposed_devices": "Exposed devices",
                "fixed_devices": "Fixed devices",
            },
        )
    _render_over_time(over_time)


def tracking_line(detail: dict, request: dict | None, groups) -> str | None:
    """Why the headline and the tables below may differ: the headline is
    Defender's own count, the tables count what our tracking has seen. None
    when they agree (or nothing is tracked yet)."""
    if groups.empty:
        return None
    fixed = int(groups["fixed_devices"].sum())
    target = fixed + int(groups["exposed_devices"].sum())
    if (fixed, target) == (detail["fixed_devices"] or 0, detail["target_devices"] or 0):
        return None
    return (
        f"That is Defender's own count. The tables below count what our tracking "
        f"has seen {_counted_since(detail, request, groups)}: {fixed} of {target} "
        "devices fixed; devices fixed before then are not in them."
    )


def history_caption(over_time) -> str | None:
    """What stands in for the progress-over-time chart until two syncs have
    tracked the activity (a line needs two points); None once it can draw."""
    if len(over_time) >= 2:
        return None
    if over_time.empty:
        return "Progress history starts with the next sync."
    first = labels.moment(over_time["taken_at"].iloc[0])
    return f"One sync so far ({first}): progress over time draws from the next."


def _render_over_time(over_time) -> None:
    caption = history_caption(over_time)
    if caption:
        st.caption(caption)
        return
    chart = px.line(
        over_time.rename(
            columns={"exposed_devices": "Still exposed", "fixed_devices": "Fixed"}
        ),
        x="taken_at",
        y=["Fixed", "Still exposed"],
        labels={"taken_at": "Sync", "value": "Devices", "variable": ""},
        markers=len(over_time) < 10,
        color_discrete_map=charts.DEVICE_COLORS,
    )
    charts.day_axis(chart, over_time["taken_at"])
    charts.count_axis(
        chart, [*over_time["exposed_devices"], *over_time["fixed_devices"]]
    )
    chart.update_xaxes(hoverformat="%-d %b %Y %H:%M")
    st.plotly_chart(chart, key="detail_progress_over_time")


def _counted_since(detail: dict, request: dict | None, groups) -> str:
    # Our own requests are tracked from the moment they were filed; Defender's
    # activities only from our first sync of them.
    if detail.get("source") == "dashboard":
        filed = (request or {}).get("requested_at") or detail["created_on"]
        return f"since the request was filed {labels.day(filed)}"
    return f"since tracking began {labels.day(groups['tracked_since'].min())}"


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
    as_of = store.describe_as_of(status)
    st.download_button(
        "Export devices to CSV",
        data=lambda: exports.device_history_csv(devices, as_of),
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
    # Just marked here: the line below says so, in green, once.
    just_done = notice is not None and notice[0] == "done"
    if notice and not (just_done and detail["completed_here"]):
        kind, text = notice
        (st.success if kind == "done" else st.error)(text)

    if detail["completed_here"]:
        when = labels.moment(detail["local_completed_at"])
        line = f"Marked complete here by {detail['local_completed_by']} on {when}"
        # Only Defender's own activities have a record in Defender to lag behind.
        if detail.get("source") != "dashboard" and (
            detail["defender_status"] != "Completed"
        ):
            line += (
                "; Defender still reports it active until its next sync shows it "
                "completed."
            )
        (st.success if just_done else st.info)(line)
    if detail["status"] in ("Completed", "Cancelled") or not may("complete"):
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
        args=(settings, detail["activity_id"], current_actor()),
        key="detail_mark_complete",
    )


def _complete(settings, activity_id: str, actor) -> None:
    try:
        recorded = completion.complete_activity(
            settings, activity_id, actor, datetime.now(UTC)
        )
    except TvmError as exc:
        st.session_state[_COMPLETION_NOTICE] = ("error", str(exc))
        return
    st.session_state[CONFIRM_KEY] = False
    st.session_state[_COMPLETION_NOTICE] = ("done", f"Marked complete by {recorded}.")
    st.cache_data.clear()


def _render_request_actions(settings, detail: dict, request: dict | None) -> None:
    """The requester's "Edit request" form and "Cancel request" button, for an
    active request filed here; nothing for anyone else (see
    `remediation.can_change`)."""
    activity_id = detail["activity_id"]
    errors = _render_request_notice(activity_id)
    if request is None or not may("request"):
        return
    email = _acting_email(settings)
    if not remediation.can_change(request, email):
        return

    if st.session_state.get(EDITING_KEY) == activity_id:
        _render_edit_form(settings, request, email, errors)
    else:
        st.button(
            "Edit request",
            icon=":material/edit:",
            on_click=_set_editing,
            args=(activity_id,),
            key="detail_open_edit",
            help="Change the due date, priority or notes of your request.",
        )

    st.markdown("**Cancel request**")
    confirmed = st.checkbox(
        "I confirm this request should be cancelled: it stays listed as Cancelled "
        "and is no longer tracked",
        key=CONFIRM_CANCEL_KEY,
    )
    st.button(
        "Cancel request",
        disabled=not confirmed,
        on_click=_cancel_request,
        args=(settings, activity_id, current_actor()),
        key="detail_cancel_request",
    )


def _set_editing(activity_id: str | None) -> None:
    st.session_state[EDITING_KEY] = activity_id


def _render_edit_form(settings, request: dict, email: str, errors: dict) -> None:
    activity_id = request["activity_id"]
    attention = request["remediation_type"] == remediation.ATTENTION_REQUIRED
    st.markdown("**Edit request**")
    with st.form(f"detail_edit_request:{activity_id}"):
        st.date_input(
            "Due date",
            value=request["due_on"],
            format="YYYY-MM-DD",
            disabled=attention,
            key=edit_key(activity_id, "due_on"),
            help="Attention required has no due date." if attention else None,
        )
        _field_error(errors, "due_on")
        st.radio(
            "Priority",
            remediation.PRIORITIES,
            index=remediation.PRIORITIES.index(request["priority"])
            if request["priority"] in remediation.PRIORITIES
            else 0,
            horizontal=True,
            key=edit_key(activity_id, "priority"),
        )
        _field_error(errors, "priority")
        st.text_area(
            "Notes",
            value=request["notes"] or "",
            help=NOTES_HELP,
            key=edit_key(activity_id, "notes"),
        )
        _field_error(errors, "notes")
        save, close = st.columns([1, 4])
        save.form_submit_button(
            "Save changes",
            type="primary",
            on_click=_edit_request,
            args=(settings, activity_id, current_actor(), attention),
        )
        close.form_submit_button(
            "Close without saving", on_click=_set_editing, args=(None,)
        )


def _render_request_notice(activity_id: str) -> dict[str, str]:
    """Show what the last edit or cancel of this activity's request did (once);
    return its field errors, for the form to show under each field."""
    notice = st.session_state.pop(_REQUEST_NOTICE, None)
    if notice is None or notice[0] != activity_id:
        return {}
    _, kind, value = notice
    if kind == "refused":
        others = [text for field, text in value.items() if field not in EDIT_FIELDS]
        for text in others:
            st.error(plain(text))
        return value
    (st.success if kind == "done" else st.error)(plain(value))
    return {}


def _field_error(errors: dict[str, str], field: str) -> None:
    if field in errors:
        st.error(plain(errors[field]))


def _edit_request(settings, activity_id: str, actor, attention: bool):
    state = st.session_state
    due_on = None if attention else state[edit_key(activity_id, "due_on")]
    priority = state[edit_key(activity_id, "priority")]
    try:
        remediation.edit_request(
            settings,
            activity_id,
            actor,
            datetime.now(UTC),
            due_on=due_on,
            priority=priority,
            notes=state[edit_key(activity_id, "notes")],
        )
    except remediation.RequestRefused as exc:
        state[_REQUEST_NOTICE] = (activity_id, "refused", dict(exc.errors))
        return
    except TvmError as exc:
        state[_REQUEST_NOTICE] = (activity_id, "error", str(exc))
        return
    due = f", due {labels.day(due_on)}" if due_on else ""
    state[EDITING_KEY] = None
    state[_REQUEST_NOTICE] = (
        activity_id,
        "done",
        f"Request saved: {priority} priority{due}.",
    )
    st.cache_data.clear()


def _cancel_request(settings, activity_id: str, actor) -> None:
    try:
        remediation.cancel_request(settings, activity_id, actor, datetime.now(UTC))
    except remediation.RequestRefused as exc:
        st.session_state[_REQUEST_NOTICE] = (activity_id, "refused", dict(exc.errors))
        return
    except TvmError as exc:
        st.session_state[_REQUEST_NOTICE] = (activity_id, "error", str(exc))
        return
    st.session_state[CONFIRM_CANCEL_KEY] = False
    st.session_state[_REQUEST_NOTICE] = (activity_id, "done", "Request cancelled.")
    st.cache_data.clear()


def _acting_email(settings) -> str | None:
    """Who acts on this page: the signed-in user, else the operator email."""
    signed_in = current_actor().email
    if signed_in:
        return signed_in
    try:
        return completion.operator_email(settings)
    except TvmError:
        return None

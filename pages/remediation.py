"""Remediation: the remediation activities of the tenant, filtered, with the
chosen activity's detail below the list.

Filters live in the address (`?status=Completed&priority=High&activity=<id>`)
so a view can be shared: they are read once when the session starts and
written back whenever they change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import streamlit as st

from pages.activity_detail import render_activity_detail
from pages.common import load_or_last, selected_groups, settings_or_stop
from tvmdata import exports, labels, store, views

ROW_PIXELS = 35
VISIBLE_ROWS = 20
STATUSES = ["Active", "Completed", "All"]
PRIORITIES = ["High", "Medium", "Low"]
TABLE_KEY = "activity_table"
# Widget key → (query parameter, default value).
FILTERS = {
    "filter_status": ("status", "Active"),
    "filter_priority": ("priority", []),
    "filter_type": ("type", []),
    "filter_created_by": ("created_by", ""),
    "filter_due_from": ("due_from", None),
    "filter_due_to": ("due_to", None),
    "filter_overdue": ("overdue", False),
    "filter_search": ("q", ""),
}
_LAST_ROWS = "activity_table_last_rows"


def load_page(settings, filters: tuple, groups, today: date):
    """The sync status, the filtered list and its CSV (cached per sync)."""
    status = store.load_sync_status(settings)
    groups = None if groups is None else tuple(groups)
    frame, csv = _load_list(
        settings, str(settings.db), filters, groups, status["succeeded_id"], today
    )
    return status, frame, csv


@st.cache_data(show_spinner=False)
def _load_list(_settings, db: str, filters: tuple, groups, sync_id, today: date):
    # Keyed by the filters and the sync, so the CSV is built once per view.
    frame = views.filter_activities(
        _settings, groups=groups, today=today, **dict(filters)
    )
    status = store.load_sync_status(_settings)
    return frame, exports.filtered_list_csv(frame, store.describe_as_of(status))


# Filters: address → session state once, widgets, then back to the address.


def read_filters_from_address() -> None:
    params = st.query_params
    for key, (name, default) in FILTERS.items():
        if key in st.session_state:
            continue
        if isinstance(default, list):
            value = params.get_all(name)
        elif name in params:
            value = _parsed(name, params[name], default)
        else:
            value = default
        st.session_state[key] = value


def _parsed(name: str, raw: str, default):
    if name in ("due_from", "due_to"):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            return None
    if name == "overdue":
        return raw.lower() in ("1", "true", "yes")
    if name == "status":
        return raw.capitalize() if raw.capitalize() in STATUSES else default
    return raw


def write_filters_to_address() -> None:
    for key, (name, default) in FILTERS.items():
        value = st.session_state.get(key, default)
        if value == default or value in (None, "", []):
            if name in st.query_params:
                del st.query_params[name]
            continue
        wanted = _address_value(value)
        if _current(name) != wanted:
            st.query_params[name] = wanted


def _address_value(value):
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return "1"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _current(name: str):
    values = st.query_params.get_all(name)
    return values if len(values) != 1 else values[0]


def clear_filters() -> None:
    for key, (name, default) in FILTERS.items():
        st.session_state[key] = list(default) if isinstance(default, list) else default
        if name in st.query_params:
            del st.query_params[name]


def render_filters() -> None:
    left, middle, right = st.columns(3)
    left.segmented_control("Status", STATUSES, key="filter_status")
    middle.multiselect("Priority", PRIORITIES, key="filter_priority")
    right.multiselect(
        "Remediation type",
        list(labels.REMEDIATION_TYPES),
        format_func=labels.remediation_type,
        key="filter_type",
    )
    left, middle, right = st.columns(3)
    left.text_input("Created by (emails, comma-separated)", key="filter_created_by")
    middle.date_input("Due from", key="filter_due_from", format="YYYY-MM-DD")
    right.date_input("Due to", key="filter_due_to", format="YYYY-MM-DD")
    left, right = st.columns([3, 1])
    left.text_input("Search title and component", key="filter_search")
    right.checkbox("Overdue only", key="filter_overdue")


def current_filters() -> tuple:
    state = st.session_state
    status = state.get("filter_status") or "Active"
    return (
        ("status", None if status == "All" else status),
        ("priorities", tuple(state["filter_priority"]) or None),
        ("types", tuple(state["filter_type"]) or None),
        ("created_by", _emails(state["filter_created_by"])),
        ("due_from", state["filter_due_from"]),
        ("due_to", state["filter_due_to"]),
        ("overdue_only", bool(state["filter_overdue"])),
        ("search", state["filter_search"] or None),
    )


def _emails(text: str) -> tuple[str, ...] | None:
    emails = tuple(e.strip() for e in (text or "").split(",") if e.strip())
    return emails or None


def file_name_parts() -> list[str]:
    state = st.session_state
    return [
        state.get("filter_status") or "Active",
        *state["filter_priority"],
        *state["filter_type"],
        "overdue" if state["filter_overdue"] else None,
    ]


# Selection: table positions become an activity id in the address at once.


def follow_selection(event, activity_ids: list[str]) -> None:
    rows = list(event.selection.rows) if event else []
    if rows == st.session_state.get(_LAST_ROWS, []):
        return
    st.session_state[_LAST_ROWS] = rows
    if rows and rows[0] < len(activity_ids):
        st.query_params["activity"] = activity_ids[rows[0]]
    elif "activity" in st.query_params:
        del st.query_params["activity"]


# The page


def render_table(shown) -> object:
    return st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        # Up to 20 rows show at once; the header counts as a row; 3 px of border.
        height=(min(max(len(shown), 1), VISIBLE_ROWS) + 1) * ROW_PIXELS + 3,
        placeholder="",
        key=TABLE_KEY,
        on_select="rerun",
        selection_mode="single-row",
        column_order=[
            "activity",
            "remediation_type",
            "priority",
            "created_by",
            "created_on",
            "due_on",
            "status",
            "progress",
            "completed_by",
            "completed_on",
            "device_groups",
            "ticket_status",
            "activity_id",
        ],
        column_config={
            "activity": "Remediation activity",
            "remediation_type": "Remediation type",
            "priority": "Priority",
            "created_by": "Created by",
            "created_on": st.column_config.DatetimeColumn(
                "Created on", format="D MMM YYYY"
            ),
            "due_on": st.column_config.DateColumn("Due date", format="D MMM YYYY"),
            "status": "Status",
            "progress": st.column_config.ProgressColumn(
                "Progress", min_value=0.0, max_value=1.0, format="percent"
            ),
            "completed_by": "Completed by",
            "completed_on": st.column_config.DatetimeColumn(
                "Completed on", format="D MMM YYYY"
            ),
            "device_groups": st.column_config.ListColumn("Device groups"),
            # TODO: filled once Intune security tasks are tracked.
            "ticket_status": st.column_config.TextColumn("Ticket status"),
            "activity_id": st.column_config.TextColumn(
                "Activity id",
                help="For `python -m tvmdata export devices --activity`",
            ),
        },
    )


settings = settings_or_stop()
today = datetime.now(UTC).date()
read_filters_from_address()

st.title("Remediation activities")
render_filters()
write_filters_to_address()
status, activities, list_csv = load_or_last(
    "remediation",
    lambda: load_page(settings, current_filters(), selected_groups(), today),
)

# Attention-required activities have no progress: their cell stays blank.
shown = activities.assign(
    remediation_type=activities["remediation_type_label"],
    progress=activities["progress"].where(activities["has_progress"]),
    ticket_status=None,
)
st.caption(f"{len(shown)} activities · {labels.data_as_of(status)}")
if shown.empty:
    st.info("No activities match these filters — clear filters")
    st.button("Clear filters", on_click=clear_filters, key="clear_filters")
follow_selection(render_table(shown), shown["activity_id"].tolist())
st.download_button(
    "Export the filtered list to CSV",
    data=list_csv,
    file_name=exports.export_file_name(
        "activities", file_name_parts(), status.get("succeeded_at")
    ),
    mime="text/csv",
    on_click="ignore",
    key="export_list",
)

activity_id = st.query_params.get("activity")
if activity_id:
    render_activity_detail(settings, activity_id, status, today)

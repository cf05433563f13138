"""Remediation: the remediation activities of the tenant, filtered; a chosen
activity's detail leads the page, with the list folded below it.

Filters live in the address (`?status=Completed&source=dashboard&activity=<id>`)
so a view can be shared: they are read once when the session starts and
written back whenever they change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import streamlit as st

from pages.activity_detail import (
    load_activity,
    render_activity_detail,
    unknown_activity_warning,
)
from pages.common import (
    clear_group_filter,
    follow_table_selection,
    forget_table_selection,
    load_or_last,
    require_frame,
    selectable_table,
    selected_groups,
    settings_or_stop,
    table_height,
    write_filters_to_address,
)
from tvmdata import exports, labels, store, views

require_frame()

# Cancelled: requests filed here and then cancelled by their requester.
STATUSES = ["Active", "Completed", "Cancelled", "All"]
PRIORITIES = ["High", "Medium", "Low"]
TABLE_KEY = "activity_table"
# Widget key → (query parameter, default value).
FILTERS = {
    "filter_status": ("status", "Active"),
    "filter_priority": ("priority", []),
    "filter_type": ("type", []),
    "filter_source": ("source", []),
    "filter_created_by": ("created_by", []),
    "filter_due_from": ("due_from", None),
    "filter_due_to": ("due_to", None),
    "filter_overdue": ("overdue", False),
    "filter_search": ("q", ""),
}
KNOWN_VALUES = {
    "priority": PRIORITIES,
    "type": list(labels.REMEDIATION_TYPES),
    "source": list(labels.SOURCES),
}
IN_GROUPS_HELP = (
    "Devices fixed of devices targeted in the selected device groups, counted "
    "from when our tracking of the activity began; an activity not tracked "
    "per group yet shows Defender's whole-activity figure."
)
_SHOWN_IDS = "activity_table_shown_ids"


def load_page(settings, filters: tuple, groups, today: date):
    """The sync status, the filtered list, its CSV and the requesters (cached
    per sync)."""
    status = store.load_sync_status(settings)
    groups = None if groups is None else tuple(groups)
    frame, as_of = _load_list(
        settings, str(settings.db), filters, groups, status["succeeded_id"], today
    )
    requesters = _load_requesters(settings, str(settings.db), status["succeeded_id"])
    return status, frame, as_of, requesters


@st.cache_data(show_spinner=False)
def _load_list(_settings, db: str, filters: tuple, groups, sync_id, today: date):
    # Keyed by the filters and the sync; the CSV is built when asked for.
    frame = views.filter_activities(
        _settings, groups=groups, today=today, **dict(filters)
    )
    status = store.load_sync_status(_settings)
    return frame, store.describe_as_of(status)


@st.cache_data(show_spinner=False)
def _load_requesters(_settings, db: str, sync_id) -> list[str]:
    return views.list_requesters(_settings)


# Filters: address → session state once, widgets, then back to the address.


def read_filters_from_address() -> None:
    params = st.query_params
    for key, (name, default) in FILTERS.items():
        if key in st.session_state:
            continue
        if isinstance(default, list):
            value = params.get_all(name)
            if name == "created_by":
                value = sorted({v.strip().lower() for v in value if v.strip()})
            else:
                # A shared link may differ in case or name a value that no
                # longer exists: match without case, drop the unknown.
                value = _known(value, KNOWN_VALUES[name])
        elif name in params:
            value = _parsed(name, params[name], default)
        else:
            value = default
        st.session_state[key] = value


def _known(asked: list[str], known) -> list[str]:
    spelled = {value.lower(): value for value in known}
    found = [spelled.get(value.strip().lower()) for value in asked]
    return list(dict.fromkeys(value for value in found if value))


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


def _address_value(name: str, value):
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return "1"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def filters_set() -> bool:
    """Whether any filter, the sidebar's device groups included, narrows the list."""
    changed = any(
        st.session_state.get(key, default) not in (default, None, "", [])
        for key, (_, default) in FILTERS.items()
    )
    return changed or selected_groups() is not None


def clear_filters() -> None:
    """Every filter back to its default, and every device group (a callback)."""
    for key, (name, default) in FILTERS.items():
        st.session_state[key] = list(default) if isinstance(default, list) else default
        if name in st.query_params:
            del st.query_params[name]
    clear_group_filter()


def render_filters(requesters: list[str]) -> None:
    left, middle, right = st.columns(3)
    left.segmented_control("Status", STATUSES, key="filter_status")
    middle.multiselect("Priority", PRIORITIES, key="filter_priority")
    right.multiselect(
        "Remediation type",
        list(labels.REMEDIATION_TYPES),
        format_func=labels.remediation_type,
        key="filter_type",
    )
    left, source, middle, right = st.columns([2, 2, 1, 1])
    # A requester asked for in the address but gone from the data stays choosable.
    chosen = st.session_state.get("filter_created_by") or []
    left.multiselect(
        "Created by",
        sorted(set(requesters) | set(chosen)),
        key="filter_created_by",
        placeholder="Anyone",
    )
    source.multiselect(
        "Source",
        list(labels.SOURCES),
        format_func=labels.source,
        key="filter_source",
        placeholder="Defender or this dashboard",
    )
    middle.date_input("Due from", key="filter_due_from", format="YYYY-MM-DD")
    right.date_input("Due to", key="filter_due_to", format="YYYY-MM-DD")
    left, middle, right = st.columns([4, 1, 1], vertical_alignment="bottom")
    left.text_input("Search title and component", key="filter_search")
    middle.checkbox("Overdue only", key="filter_overdue")
    right.button(
        "Clear filters",
        icon=":material/filter_alt_off:",
        on_click=clear_filters,
        key="clear_filters",
        disabled=not filters_set(),
        help="Every filter back to its default, and every device group.",
    )


def current_filters() -> tuple:
    state = st.session_state
    status = state.get("filter_status") or "Active"
    return (
        ("status", None if status == "All" else status),
        ("priorities", tuple(state["filter_priority"]) or None),
        ("types", tuple(state["filter_type"]) or None),
        ("sources", tuple(state["filter_source"]) or None),
        ("created_by", tuple(state["filter_created_by"]) or None),
        ("due_from", state["filter_due_from"]),
        ("due_to", state["filter_due_to"]),
        ("overdue_only", bool(state["filter_overdue"])),
        ("search", state["filter_search"] or None),
    )


def file_name_parts() -> list[str]:
    state = st.session_state
    return [
        state.get("filter_status") or "Active",
        *state["filter_priority"],
        *state["filter_type"],
        *state["filter_source"],
        "overdue" if state["filter_overdue"] else None,
    ]


# Selection: table positions become an activity id in the address at once.


def follow_selection() -> None:
    """A row chosen in the table becomes the activity in the address, before
    the page draws, so its detail can lead."""
    follow_table_selection(TABLE_KEY, "activity", _SHOWN_IDS)


def back_to_list() -> None:
    """Forget the chosen activity (a callback): the list leads again."""
    forget_table_selection(TABLE_KEY, "activity")


# The page


def shown_rows(activities, in_groups: bool):
    """The list as the table shows it: readable types and sources, no progress
    for attention-required activities, and the selected groups' progress where
    our tracking knows it when groups are chosen."""
    progress = activities["progress"]
    if in_groups:
        progress = activities["group_progress"].where(
            activities["group_target_devices"].notna(), progress
        )
    return activities.assign(
        remediation_type=activities["remediation_type_label"],
        source=activities["source"].map(labels.source),
        progress=progress.where(activities["has_progress"]),
    )


def render_table(shown, in_groups: bool) -> None:
    day = "D MMM YYYY"
    selectable_table(
        shown,
        TABLE_KEY,
        _SHOWN_IDS,
        shown["activity_id"],
        height=table_height(len(shown)),
        # Widths in pixels, wide enough to read each column. At 1440 px beside
        # the open sidebar the columns up to Progress show at once; the table
        # scrolls sideways for the rest, keeping the activity's name pinned.
        column_order=[
            "activity",
            "remediation_type",
            "priority",
            "created_by",
            "created_on",
            "due_on",
            "overdue",
            "status",
            "progress",
            "source",
            "completed_by",
            "completed_on",
            "device_groups",
            "ticket_status",
        ],
        column_config={
            "activity": st.column_config.TextColumn(
                "Remediation activity", width=256, pinned=True
            ),
            "remediation_type": st.column_config.TextColumn(
                "Remediation type", width=130
            ),
            "priority": st.column_config.TextColumn("Priority", width=64),
            "created_by": st.column_config.TextColumn("Created by", width=106),
            "source": st.column_config.TextColumn(
                "Source",
                width=86,
                help="Defender: synced from Microsoft Defender. This dashboard: "
                "a request filed here.",
            ),
            "created_on": st.column_config.DatetimeColumn(
                "Created on", format=day, width=86
            ),
            "due_on": st.column_config.DateColumn("Due date", format=day, width=86),
            "overdue": st.column_config.CheckboxColumn(
                "Overdue", width=60, help="Active and past its due date (UTC)."
            ),
            "status": st.column_config.TextColumn("Status", width=80),
            "progress": st.column_config.ProgressColumn(
                "Progress in groups" if in_groups else "Progress",
                min_value=0.0,
                max_value=1.0,
                format="percent",
                width=130,
                help=IN_GROUPS_HELP if in_groups else None,
            ),
            "completed_by": st.column_config.TextColumn("Completed by", width=150),
            "completed_on": st.column_config.DatetimeColumn(
                "Completed on", format=day, width=96
            ),
            "device_groups": st.column_config.ListColumn("Device groups", width=240),
            "ticket_status": st.column_config.TextColumn("Ticket status", width=110),
        },
    )


def empty_list_line() -> str:
    """What an empty list says; it names a filter that cannot match."""
    status = st.session_state.get("filter_status", "Active")
    if st.session_state.get("filter_overdue") and status not in ("Active", "All"):
        return (
            f"No activities match these filters: only active activities can be "
            f"overdue, so Overdue only finds no {status.lower()} ones."
        )
    return "No activities match these filters."


def render_list(status, activities, as_of, requesters, in_groups: bool) -> None:
    render_filters(requesters)
    write_filters_to_address(FILTERS, _address_value)
    shown = shown_rows(activities, in_groups)
    scope = " · progress in selected groups" if in_groups else ""
    count = f"{len(shown)} activit{'y' if len(shown) == 1 else 'ies'}"
    st.caption(f"{count} · {labels.data_as_of(status)}{scope}")
    due_from = st.session_state.get("filter_due_from")
    due_to = st.session_state.get("filter_due_to")
    if due_from and due_to and due_from > due_to:
        st.warning(
            f"Due from ({labels.day(due_from)}) is after Due to "
            f"({labels.day(due_to)}): no activity can match; swap the dates."
        )
    if shown.empty:
        st.info(empty_list_line())
    render_table(shown, in_groups)
    st.download_button(
        "Export the filtered list to CSV",
        data=lambda: exports.filtered_list_csv(activities, as_of),
        file_name=exports.export_file_name(
            "activities", file_name_parts(), status.get("succeeded_at")
        ),
        mime="text/csv",
        on_click="ignore",
        key="export_list",
    )


settings = settings_or_stop()
today = datetime.now(UTC).date()
read_filters_from_address()
follow_selection()
groups = selected_groups()
status, activities, as_of, requesters = load_or_last(
    "remediation",
    lambda: load_page(settings, current_filters(), groups, today),
)
listing = (status, activities, as_of, requesters, groups is not None)

activity_id = st.query_params.get("activity")
loaded = load_activity(settings, activity_id, status, today) if activity_id else None
if loaded is not None and loaded["detail"] is not None:
    render_activity_detail(settings, loaded, status, today, on_back=back_to_list)
    st.divider()
    with st.expander(f"All remediation activities ({len(activities)})"):
        render_list(*listing)
else:
    st.title("Remediation activities")
    if activity_id:
        unknown_activity_warning(activity_id)
    render_list(*listing)

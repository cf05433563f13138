"""Security recommendations: Defender's advice for the chosen device groups,
filtered, with the chosen recommendation's detail and its remediation request
form below the list.

Filters live in the address (`?q=reader&covered=no&recommendation=<id>`) so a
view can be shared: they are read once when the session starts and written
back whenever they change.

The request form is split in two: the remediation type and the device groups
sit outside `st.form`, so the devices covered, the activities already covering
them and the due date's availability follow each change at once; the rest is
one form. Each showing of the form carries a token kept in the session until
the request is filed, so a double click or a rerun files it once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.common import (
    NOTES_HELP,
    current_actor,
    data_version,
    follow_table_selection,
    forget_table_selection,
    load_or_last,
    may,
    plain,
    require_frame,
    selectable_table,
    selected_groups,
    settings_or_stop,
    table_height,
    write_filters_to_address,
)
from tvmdata import (
    exports,
    intune,
    labels,
    opsettings,
    recommendations,
    remediation,
    store,
)
from tvmdata.errors import TvmError

require_frame()

REMEDIATION_PAGE = "pages/remediation.py"
TABLE_KEY = "recommendation_table"
SORT_LABELS = {"exposed_devices": "Exposed devices", "severity_score": "Severity"}
YES_NO = ["Yes", "No"]
# Widget key → (query parameter, default value).
FILTERS = {
    "rec_filter_search": ("q", ""),
    "rec_filter_category": ("category", []),
    "rec_filter_type": ("type", []),
    "rec_filter_status": ("status", []),
    "rec_filter_exploit": ("exploit", None),
    "rec_filter_alert": ("alert", None),
    "rec_filter_covered": ("covered", None),
    "rec_filter_sort": ("sort", "exposed_devices"),
}
SCOPES = {
    remediation.ALL_EXPOSED: "All exposed devices",
    remediation.NO_USER_IMPACT: "Only devices with no user impact",
}
# Request form fields whose errors show under the field; others above "File".
FIELDS = ("remediation_type", "group_ids", "target_scope", "priority", "due_on")
_SHOWN_IDS = "recommendation_table_shown_ids"
_TOKENS = "request_form_tokens"
_ERRORS = "request_form_errors"


# Loading (cached per sync, device-group choice and filters)


@st.cache_data(show_spinner=False)
def _load_list(version, _settings, filters: tuple, groups):
    status = store.load_sync_status(_settings)
    frame = recommendations.list_recommendations(
        _settings, groups=groups, **dict(filters)
    )
    return status, frame, recommendations.list_categories(_settings)


@st.cache_data(show_spinner=False)
def _load_detail(version, _settings, recommendation_id: str, groups):
    return {
        "recommendation": recommendations.load_recommendation(
            _settings, recommendation_id
        ),
        "groups": recommendations.load_exposure_by_group(
            _settings, recommendation_id, groups
        ),
        "devices": recommendations.load_exposed_devices(
            _settings, recommendation_id, groups
        ),
    }


@st.cache_data(show_spinner=False)
def _load_covering(version, _settings, recommendation_id: str, group_ids: tuple):
    return remediation.covering_activities(_settings, recommendation_id, group_ids)


# Filters: address → session state once, widgets, then back to the address.


def read_filters_from_address() -> None:
    params = st.query_params
    for key, (name, default) in FILTERS.items():
        if key in st.session_state:
            continue
        if isinstance(default, list):
            value = _known(name, params.get_all(name))
        elif name in params:
            value = _parsed(name, params[name], default)
        else:
            value = default
        st.session_state[key] = value


def _known(name: str, values: list[str]) -> list[str]:
    # A mistyped type or status in a shared link is dropped, matched without
    # regard to case; categories are Defender's and kept as they come.
    known = {
        "type": list(labels.REMEDIATION_TYPES),
        "status": list(recommendations.STATUSES),
    }.get(name)
    if known is None:
        return values
    by_lower = {k.lower(): k for k in known}
    return [by_lower[v.lower()] for v in values if v.lower() in by_lower]


def _parsed(name: str, raw: str, default):
    if name in ("exploit", "alert", "covered"):
        return {"yes": "Yes", "no": "No"}.get(raw.strip().lower())
    if name == "sort":
        return raw if raw in SORT_LABELS else default
    return raw


def _address_value(name: str, value):
    if isinstance(value, list):
        return [str(v) for v in value]
    if name in ("exploit", "alert", "covered"):
        return str(value).lower()
    return str(value)


def clear_filters() -> None:
    for key, (name, default) in FILTERS.items():
        st.session_state[key] = list(default) if isinstance(default, list) else default
        if name in st.query_params:
            del st.query_params[name]


def render_filters(categories: list[str]) -> None:
    left, right = st.columns([3, 1])
    left.text_input("Search name, product and vendor", key="rec_filter_search")
    right.radio(
        "Sort by",
        list(SORT_LABELS),
        format_func=SORT_LABELS.get,
        key="rec_filter_sort",
        horizontal=True,
    )
    left, middle, right = st.columns(3)
    # Categories in the address that no recommendation has any more still show.
    chosen = st.session_state.get("rec_filter_category", [])
    left.multiselect(
        "Category",
        categories + [c for c in chosen if c not in categories],
        key="rec_filter_category",
    )
    middle.multiselect(
        "Remediation type",
        list(labels.REMEDIATION_TYPES),
        format_func=labels.remediation_type,
        key="rec_filter_type",
    )
    right.multiselect("Status", list(recommendations.STATUSES), key="rec_filter_status")
    left, middle, right = st.columns(3)
    left.segmented_control("Public exploit", YES_NO, key="rec_filter_exploit")
    middle.segmented_control("Active alert", YES_NO, key="rec_filter_alert")
    right.segmented_control(
        "Covered by an active activity", YES_NO, key="rec_filter_covered"
    )


def current_filters() -> tuple:
    state = st.session_state
    return (
        ("search", state["rec_filter_search"] or None),
        ("categories", tuple(state["rec_filter_category"]) or None),
        ("types", tuple(state["rec_filter_type"]) or None),
        ("statuses", tuple(state["rec_filter_status"]) or None),
        ("public_exploit", _yes_no(state["rec_filter_exploit"])),
        ("active_alert", _yes_no(state["rec_filter_alert"])),
        ("covered", _yes_no(state["rec_filter_covered"])),
        ("sort", state["rec_filter_sort"] or "exposed_devices"),
    )


def _yes_no(value: str | None) -> bool | None:
    return None if value is None else value == "Yes"


# The list; a chosen row becomes a recommendation id in the address at once.


def render_table(shown: pd.DataFrame) -> None:
    selectable_table(
        shown,
        TABLE_KEY,
        _SHOWN_IDS,
        shown["recommendation_id"],
        height=table_height(len(shown)),
        column_order=[
            "name",
            "product_name",
            "vendor",
            "category",
            "remediation_type_label",
            "exposed_devices",
            "severity_score",
            "public_exploit",
            "active_alert",
            "status",
            "covered",
        ],
        column_config={
            "name": "Security recommendation",
            "product_name": "Product",
            "vendor": "Vendor",
            "category": "Category",
            "remediation_type_label": "Remediation type",
            "exposed_devices": st.column_config.NumberColumn(
                "Exposed devices", help="In the device groups chosen in the sidebar."
            ),
            "severity_score": st.column_config.NumberColumn(
                "Severity score", format="%.1f"
            ),
            "public_exploit": st.column_config.CheckboxColumn("Public exploit"),
            "active_alert": st.column_config.CheckboxColumn("Active alert"),
            "status": "Status",
            "covered": st.column_config.CheckboxColumn(
                "Covered",
                help="An active remediation activity already covers it.",
            ),
        },
    )


def follow_selection() -> None:
    """A row chosen in the list becomes the recommendation in the address,
    before the page draws, so its detail can lead."""
    follow_table_selection(TABLE_KEY, "recommendation", _SHOWN_IDS)


def back_to_list() -> None:
    """Forget the chosen recommendation (a callback): the list leads again."""
    forget_table_selection(TABLE_KEY, "recommendation")


# The chosen recommendation


def render_detail(settings, recommendation_id: str, groups, version) -> bool:
    loaded = load_or_last(
        f"recommendation:{recommendation_id}",
        lambda: _load_detail(version, settings, recommendation_id, groups),
    )
    rec = loaded["recommendation"]
    if rec is None:
        return False

    st.button(
        "All recommendations",
        icon=":material/arrow_back:",
        on_click=back_to_list,
        key="recommendation_back",
    )
    st.title(plain(rec["name"] or recommendation_id))
    _render_summary(rec)
    _render_group_exposure(loaded["groups"])
    _render_devices(loaded["devices"])
    render_request_form(settings, rec, loaded["groups"], version)
    return True


def _render_summary(rec: dict) -> None:
    product = " · ".join(p for p in (rec["product_name"], rec["vendor"]) if p)
    parts = (product, rec["category"], rec["remediation_type_label"], rec["status"])
    st.caption(plain(" · ".join(part for part in parts if part)))
    version, weaknesses, severity, exposed = st.columns(4)
    version.metric("Recommended version", rec["recommended_version"] or "—")
    weaknesses.metric("Weaknesses", _count(rec["weaknesses"]))
    severity.metric("Severity score", _score(rec["severity_score"]))
    exposed.metric(
        "Exposed devices",
        _count(rec["exposed_devices"]),
        help="Across every device group, as Defender counts them.",
    )
    flags = [
        name
        for name, on in (
            ("Public exploit", rec["public_exploit"]),
            ("Active alert", rec["active_alert"]),
        )
        if on
    ]
    if flags:
        st.markdown(" · ".join(f":red[**{flag}**]" for flag in flags))


def _count(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{int(value):,}"


def _score(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{float(value):.1f}"


def _render_group_exposure(groups: pd.DataFrame) -> None:
    st.markdown("**Exposed devices per device group**")
    if groups.empty:
        st.info("No device is exposed in the device groups chosen in the sidebar.")
        return
    left, right = st.columns([3, 2])
    chart = px.bar(
        groups,
        x="exposed_devices",
        y="group_name",
        orientation="h",
        labels={"exposed_devices": "Exposed devices", "group_name": ""},
        height=80 + 32 * len(groups),
    )
    chart.update_yaxes(autorange="reversed")
    chart.update_layout(margin={"l": 0, "r": 0, "t": 10, "b": 0})
    left.plotly_chart(chart, key="recommendation_groups_chart")
    right.dataframe(
        groups[["group_name", "exposed_devices"]],
        hide_index=True,
        column_config={
            "group_name": "Device group",
            "exposed_devices": "Exposed devices",
        },
    )


def _render_devices(devices: pd.DataFrame) -> None:
    st.markdown(f"**Exposed devices** · {len(devices)}")
    st.dataframe(
        devices[["computer_dns_name", "os_platform", "group_name"]],
        hide_index=True,
        placeholder="",
        height=table_height(len(devices), visible=10),
        column_config={
            "computer_dns_name": "Device name",
            "os_platform": "OS",
            "group_name": "Device group",
        },
    )


# The remediation request form


def render_request_form(settings, rec: dict, groups: pd.DataFrame, version) -> None:
    rec_id = rec["recommendation_id"]
    st.subheader("Remediation options")
    if not may("request"):
        st.caption(
            f"Your role ({current_actor().role}) can read and export; filing "
            "requests needs the requester role."
        )
        return
    # The form's token stays until "File another request": whether it was
    # filed is read from the store, so a click whose run was cut short by the
    # next one (a double click) still shows the request it filed.
    tokens = st.session_state.setdefault(_TOKENS, {})
    token = tokens.setdefault(rec_id, remediation.new_form_token())
    filed = load_or_last(
        f"filed:{token}", lambda: remediation.filed_request(settings, token)
    )
    if filed is not None:
        _render_filed(settings, rec_id, filed)
        return
    if groups.empty:
        st.info(
            "Choose device groups with exposed devices in the sidebar to file a "
            "request."
        )
        return

    keys = _form_keys(rec_id)
    errors = st.session_state.get(_ERRORS, {}).get(rec_id, {})
    options = remediation.remediation_options(rec)
    kind = st.selectbox(
        "Remediation type",
        options,
        format_func=labels.remediation_type,
        key=keys["type"],
        on_change=_forget_errors,
        args=(rec_id,),
    )
    _field_error(errors, "remediation_type")
    chosen = _render_group_picker(rec_id, groups, keys["groups"])
    _field_error(errors, "group_ids")
    _render_covering(settings, rec_id, chosen, version)
    # Read on every run, not cached: the setting changes without a sync.
    intune_on = load_or_last(
        "intune_enabled", lambda: opsettings.load_operational(settings).intune_enabled
    )
    offer_task = intune_on and intune.can_have_task(kind)
    if offer_task:
        counts = dict(zip(groups["group_id"], groups["exposed_devices"], strict=True))
        limit = intune.device_limit_note(sum(int(counts[g]) for g in chosen))
        if limit:
            st.warning(limit)
    _render_form(settings, rec, kind, keys, errors, offer_task)


def _render_group_picker(rec_id: str, groups: pd.DataFrame, key: str) -> list[int]:
    counts = dict(zip(groups["group_id"], groups["exposed_devices"], strict=True))
    names = dict(zip(groups["group_id"], groups["group_name"], strict=True))
    ids = [int(g) for g in groups["group_id"]]
    # Every group with exposed devices at first; groups the sidebar dropped go.
    chosen = st.session_state.get(key)
    st.session_state[key] = ids if chosen is None else [g for g in chosen if g in ids]
    chosen = st.multiselect(
        "Device groups",
        ids,
        format_func=lambda g: f"{names[g]} ({counts[g]:,})",
        key=key,
        on_change=_forget_errors,
        args=(rec_id,),
        placeholder="Choose device groups",
    )
    covered = sum(int(counts[g]) for g in chosen)
    st.caption(f"{covered:,} device{'s' if covered != 1 else ''} covered")
    return chosen


def _render_covering(settings, rec_id: str, group_ids: list[int], version) -> None:
    if not group_ids:
        return
    covering = load_or_last(
        f"covering:{rec_id}",
        lambda: _load_covering(version, settings, rec_id, tuple(sorted(group_ids))),
    )
    if not covering:
        return
    many = len(covering) > 1
    st.warning(
        f"{len(covering) if many else 'An'} active remediation "
        f"activit{'ies' if many else 'y'} already cover{'' if many else 's'} this "
        "recommendation in some of these device groups. You can still file "
        "this request."
    )
    for activity in covering:
        groups = ", ".join(activity["device_groups"] or [])
        st.page_link(
            REMEDIATION_PAGE,
            label=plain(
                f"{activity['title']} ({groups})" if groups else activity["title"]
            ),
            icon=":material/arrow_forward:",
            query_params={"activity": activity["activity_id"]},
        )


def _render_form(
    settings, rec: dict, kind: str, keys: dict, errors: dict, offer_task: bool
) -> None:
    attention = kind == remediation.ATTENTION_REQUIRED
    with st.form(keys["form"], border=True):
        if kind == "ConfigurationChange":
            st.radio(
                "Apply to",
                list(SCOPES),
                format_func=SCOPES.get,
                key=keys["scope"],
            )
            st.caption(
                "Defender gives only a count of devices with no user impact "
                f"({_count(rec['no_user_impact_devices'])} for this "
                "recommendation), not which ones: the choice is stored and shown "
                "with the request, but it targets all exposed devices."
            )
            _field_error(errors, "target_scope")
        st.radio(
            "Priority",
            list(remediation.PRIORITIES),
            index=None,
            key=keys["priority"],
            horizontal=True,
        )
        _field_error(errors, "priority")
        st.date_input(
            "Due date",
            value=None,
            key=keys["due_on"],
            format="YYYY-MM-DD",
            disabled=attention,
            help="Attention required has no due date: there is nothing to track."
            if attention
            else "A calendar date in UTC.",
        )
        _field_error(errors, "due_on")
        st.text_area("Notes", help=NOTES_HELP, key=keys["notes"])
        _field_error(errors, "notes")
        if offer_task:
            st.checkbox("Create an Intune security task", key=keys["intune"])
            st.caption(intune.PRIORITY_NOTE)
        _field_error(errors, "intune")
        for field, message in errors.items():
            if field not in (*FIELDS, "notes"):
                st.error(plain(message))
        st.form_submit_button(
            "File request",
            type="primary",
            on_click=_submit,
            args=(settings, rec["recommendation_id"], keys),
        )


def _field_error(errors: dict, field: str) -> None:
    if field in errors:
        st.error(plain(errors[field]))


def _form_keys(rec_id: str) -> dict[str, str]:
    names = (
        "type", "groups", "form", "scope", "priority", "due_on", "notes", "intune",
    )  # fmt: skip
    return {name: f"request_{name}:{rec_id}" for name in names}


def _forget_errors(rec_id: str) -> None:
    st.session_state.get(_ERRORS, {}).pop(rec_id, None)


def _submit(settings, rec_id: str, keys: dict) -> None:
    # A callback runs once per click; a second click sends the same token, and
    # the store answers it with the request the first one filed.
    token = st.session_state.get(_TOKENS, {}).get(rec_id)
    if token is None:
        return
    form = _request_form(token, rec_id, keys)
    errors = st.session_state.setdefault(_ERRORS, {})
    try:
        remediation.file_request(
            settings,
            form,
            current_actor(),
            datetime.now(UTC),
            intune_task=bool(st.session_state.get(keys["intune"])),
        )
    except remediation.RequestRefused as exc:
        errors[rec_id] = dict(exc.errors)
        return
    except TvmError as exc:
        errors[rec_id] = {"store": str(exc)}
        return
    errors.pop(rec_id, None)
    st.cache_data.clear()


def _request_form(token: str, rec_id: str, keys: dict) -> remediation.RequestForm:
    state = st.session_state
    kind = state.get(keys["type"])
    due_on = state.get(keys["due_on"])
    scope = state.get(keys["scope"]) if kind == "ConfigurationChange" else None
    return remediation.RequestForm(
        form_token=token,
        recommendation_id=rec_id,
        remediation_type=kind,
        group_ids=tuple(int(g) for g in state.get(keys["groups"]) or []),
        priority=state.get(keys["priority"]),
        due_on=None if kind == remediation.ATTENTION_REQUIRED else _date(due_on),
        notes=state.get(keys["notes"]) or "",
        target_scope=scope or remediation.ALL_EXPOSED,
    )


def _date(value) -> date | None:
    return value if isinstance(value, date) else None


def _render_filed(settings, rec_id: str, filed: remediation.FiledRequest) -> None:
    devices = filed.target_devices
    st.success(
        f"Request filed: {devices:,} device{'s' if devices != 1 else ''} targeted."
    )
    task = load_or_last(
        f"intune_task:{filed.activity_id}",
        lambda: intune.load_task(settings, filed.activity_id),
    )
    if task is not None:
        say = st.warning if task["last_error"] else st.info
        detail = f" {task['last_error']}" if task["last_error"] else ""
        say(plain(f"Intune security task: {task['label']}.{detail}"))
    st.page_link(
        REMEDIATION_PAGE,
        label="Open the activity on the Remediation page",
        icon=":material/arrow_forward:",
        query_params={"activity": filed.activity_id},
    )
    st.button(
        "File another request",
        key=f"request_another:{rec_id}",
        on_click=_start_over,
        args=(rec_id,),
    )


def _start_over(rec_id: str) -> None:
    st.session_state.setdefault(_TOKENS, {})[rec_id] = remediation.new_form_token()
    for key in _form_keys(rec_id).values():
        st.session_state.pop(key, None)


# The page

settings = settings_or_stop()
read_filters_from_address()
version = data_version(settings)
groups = selected_groups()
groups = None if groups is None else tuple(groups)

status, listed, categories = load_or_last(
    "recommendations",
    lambda: _load_list(version, settings, current_filters(), groups),
)


def render_list() -> None:
    render_filters(categories)
    write_filters_to_address(FILTERS, _address_value)
    st.caption(f"{len(listed)} recommendations · {labels.data_as_of(status)}")
    if listed.empty:
        st.info("No security recommendation matches these filters — clear filters")
        st.button("Clear filters", on_click=clear_filters, key="rec_clear_filters")
    render_table(listed)
    st.download_button(
        "Export the list to CSV",
        data=lambda: exports.recommendations_csv(listed, store.describe_as_of(status)),
        file_name=exports.export_file_name(
            "recommendations", [], status.get("succeeded_at")
        ),
        mime="text/csv",
        on_click="ignore",
        key="export_recommendations",
    )


follow_selection()
recommendation_id = st.query_params.get("recommendation")
if recommendation_id and render_detail(settings, recommendation_id, groups, version):
    st.divider()
    with st.expander(f"All security recommendations ({len(listed)})"):
        render_list()
else:
    st.title("Security recommendations")
    if recommendation_id:
        st.warning(
            "No security recommendation has the id "
            f"{plain(repr(recommendation_id))}: Defender may no longer report it, "
            "or the link is mistyped."
        )
    render_list()

"""Remediation: the remediation activities of the tenant, as last synced."""

import streamlit as st

from pages.common import load_or_last, settings_or_stop
from tvmdata import labels, store

ROW_PIXELS = 35
VISIBLE_ROWS = 20

settings = settings_or_stop()
status, activities = load_or_last(
    "remediation",
    lambda: (store.load_sync_status(settings), store.load_activities(settings)),
)

shown = activities.assign(
    remediation_type=activities["remediation_type"].map(labels.remediation_type)
)

st.title("Remediation activities")
st.caption(f"{len(shown)} activities · {labels.data_as_of(status)}")
st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    # Up to 20 rows show at once; the header counts as a row; 3 px of border.
    height=(min(max(len(shown), 1), VISIBLE_ROWS) + 1) * ROW_PIXELS + 3,
    placeholder="",
    column_order=[
        "activity",
        "remediation_type",
        "priority",
        "created_by",
        "created_on",
        "due_on",
        "status",
        "fixed_devices",
        "target_devices",
        "completed_by",
        "device_groups",
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
        "fixed_devices": "Fixed devices",
        "target_devices": "Target devices",
        "completed_by": "Completed by",
        "device_groups": st.column_config.ListColumn("Device groups"),
        "activity_id": st.column_config.TextColumn(
            "Activity id", help="For `python -m tvmdata export devices --activity`"
        ),
    },
)

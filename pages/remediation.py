"""Remediation: the remediation activities of the tenant, as last synced."""

import streamlit as st

from pages.common import settings_or_stop, sync_status_or_stop
from tvmdata import store
from tvmdata.sync import sync_in_progress

settings = settings_or_stop()
status = sync_status_or_stop(settings)
activities = store.load_activities(settings)

st.title("Remediation activities")
st.caption(f"{len(activities)} activities · data as of {store.describe_as_of(status)}")
if sync_in_progress(settings.db):
    st.caption("Sync in progress — showing the last finished sync.")
st.dataframe(
    activities,
    hide_index=True,
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
    },
)

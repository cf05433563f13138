"""The dashboard's frame: page configuration, navigation and the shared sidebar."""

import streamlit as st

from pages.common import (
    render_freshness,
    render_group_filter,
    render_sync_now,
    settings_or_stop,
    start_run,
)

st.set_page_config(
    page_title="Remediation dashboard", page_icon=":material/shield:", layout="wide"
)

# Navigation comes first: if the page stops below, Streamlit must not fall back
# to listing every file in pages/ (helpers included) as a page.
navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/remediation.py", title="Remediation", icon=":material/build:"),
    ]
)
start_run()
settings = settings_or_stop()
render_freshness(settings)
render_sync_now(settings)
render_group_filter(settings)
navigation.run()

"""The dashboard's frame: page configuration, navigation and the shared sidebar."""

import streamlit as st

from pages.common import settings_or_stop

st.set_page_config(page_title="Remediation dashboard", page_icon="🛡️", layout="wide")

settings = settings_or_stop()
if settings.demo:
    st.sidebar.caption(
        f"Demo mode: a generated tenant served by the local emulator at "
        f"{settings.api_base}."
    )

navigation = st.navigation(
    [st.Page("pages/remediation.py", title="Remediation", icon="🛠️", default=True)]
)
navigation.run()
